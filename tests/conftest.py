import os
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
# What the tests know about the reference (written by the scripts beside it, see their docstrings).
DATA_DIR = os.path.join(REPO, "tests", "data")


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module: on CI's 2 shared cores its pool otherwise spins and
    runs up to 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
