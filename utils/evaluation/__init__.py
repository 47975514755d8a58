"""Measuring de-limited audio.

- metrics.py: SI-SDR, multi-resolution spectrogram MSE, and the dynamics measures (loudness,
  loudness range, crest factor, true peak, PLR);
- scoring.py: pairing de-limited files with their references and inputs, scoring them and
  writing the results (eval_delimit.py is its CLI).
"""
