"""Data arithmetic shared by the tools that build datasets and the loaders that read them.

- mixing.py: musdb-XL-train's stems, mixes from CSV rows, limited mixes as gain ratios and back,
  and the song splits.
"""
