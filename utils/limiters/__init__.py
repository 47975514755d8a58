"""The project's own limiter designs, beside utils.maximizer (training) and utils.alt_limiter
(evaluation only).

- compressor.py: a bus ("glue") compressor and the mix-bus stage for generated songs;
- multiband.py: a three-band limiter, kept out of training for evaluation;
- training.py: which design limits a training item, and how hard.
"""
