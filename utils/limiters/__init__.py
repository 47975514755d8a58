"""The project's limiter designs.

- maximizer.py: the look-ahead mastering maximizer that limits the training data;
- alt_limiter.py: a compressor + soft clipper, kept out of training for evaluation;
- multiband.py: a three-band limiter, kept out of training for evaluation;
- compressor.py: a bus ("glue") compressor and the mix-bus stage for generated songs;
- training.py: which design limits a training item, and how hard.
"""
