"""The de-limiter's engine, from the API down.

- delimit.py: the Python API, `delimit` for an array and `delimit_file` for a file;
- two_pass.py: a song file de-limited in two streaming passes (analyse, then render);
- apply.py: the model over a signal of any length: windows, song-level gLN statistics,
  cross-faded overlap-add.
"""
