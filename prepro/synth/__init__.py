"""Procedural multi-track songs (vocals, bass, drums, other) for training data; see
prepro.make_stems."""
