import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
SPEC_DIR = os.path.join(os.path.dirname(REPO), "shared", "spec")
