"""The library under the scripts, by concern.

- inference/: the main job's engine: the Python API, the two passes over a song file, chunking;
- limiters/: the limiter designs (the training maximizer, the evaluation limiters, ...);
- training/: the training configs, losses, checkpoints and run summary;
- data/: the musdb-XL-train arithmetic shared by the dataset builder, its rebuild and the loaders;
- evaluation/: metrics, and scoring de-limited files against their references;
- audio.py, loudness.py, plots.py, errors.py: shared by all of them (audio I/O, BS.1770 loudness,
  every figure, the one exception type for problems a user caused).
"""
