"""Fetch the reference's published checkpoint into a weight folder:

    python -m models.fetch_reference --output weight_reference
    python -m inference --weight_directory weight_reference

The reference's model is on PyPI as the `music-de-limiter` 0.1.1 wheel (MIT, packaged by a
third party), which holds its model code, its state_dict (`pretrained/weights.pth`) and its
resolved config (`pretrained/args.json`).
pip downloads the wheel without its dependencies (they would pull asteroid and torchaudio); it
is kept in a cache folder, so later runs work offline. The weight file's sha256 is checked, then
`{output}/all.pth` (those bytes, unchanged) and `{output}/all.json` (`{"args": ...}`, the
reference's summary format) are written, each atomically. This is the project's only download.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from utils.audio import atomic_path  # noqa: E402
from utils.errors import DelimitError  # noqa: E402

REQUIREMENT = "music-de-limiter==0.1.1"
WHEEL = "music_de_limiter-0.1.1-py3-none-any.whl"
WEIGHTS = "music_de_limiter/pretrained/weights.pth"
ARGS = "music_de_limiter/pretrained/args.json"
WEIGHTS_SHA256 = "34f2ef4e5c32542060621f7ea9f7a06a2acf91be22825a38f9270077a7346679"
DEFAULT_OUTPUT = "weight_reference"


def default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "de-limiter")


def fetch_wheel(cache_dir):
    """The path of the reference's wheel in `cache_dir`, downloaded by pip if not there yet.

    Raises DelimitError when pip cannot download it (offline, no index); the message ends
    with pip's last line.
    """
    cached = os.path.join(cache_dir, WHEEL)
    if os.path.isfile(cached):
        return cached
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            pip = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--disable-pip-version-check", "--timeout", "30", "--retries", "1",
                 "--dest", tmp, REQUIREMENT], capture_output=True, text=True)
            if pip.returncode != 0 or not os.path.isfile(os.path.join(tmp, WHEEL)):
                lines = (pip.stderr or pip.stdout).strip().splitlines() or ["no output"]
                raise DelimitError(f"pip could not download {REQUIREMENT}: {lines[-1]}")
            os.replace(os.path.join(tmp, WHEEL), cached)
    except OSError as err:
        raise DelimitError(f"{cache_dir}: cannot use as the download cache "
                           f"({err.strerror or err})") from None
    return cached


def read_wheel(wheel):
    """(weights.pth bytes, args dict) from the wheel, after checking the weights' sha256."""
    try:
        with zipfile.ZipFile(wheel) as z:
            weights = z.read(WEIGHTS)
            args = json.loads(z.read(ARGS))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DelimitError(f"{wheel}: not the reference's wheel ({err})") from None
    digest = hashlib.sha256(weights).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise DelimitError(f"{wheel}: {WEIGHTS} has sha256 {digest}, expected {WEIGHTS_SHA256}")
    return weights, args


def write_weight_folder(output, weights, summary):
    """Write `{output}/all.pth` (the bytes `weights`) and `{output}/all.json` (the dict
    `summary`); on failure neither is left behind."""
    written = []
    try:
        os.makedirs(output, exist_ok=True)
        for name, data in (("all.pth", weights),
                           ("all.json", json.dumps(summary, indent=2).encode())):
            path = os.path.join(output, name)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                f.write(data)
            written.append(path)
    except OSError as err:
        for path in written:
            os.remove(path)
        raise DelimitError(f"{output}: cannot write the weight folder "
                           f"({err.strerror or err})") from None


def fetch(output, cache_dir=None):
    """Download (or take from the cache) the reference's wheel and write its weight folder."""
    wheel = fetch_wheel(cache_dir or default_cache())
    weights, args = read_wheel(wheel)
    write_weight_folder(output, weights, {"args": args})


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m models.fetch_reference",
                                description="Download the reference's checkpoint "
                                            f"({REQUIREMENT} from PyPI) into a weight folder.")
    p.add_argument("--output", default=DEFAULT_OUTPUT,
                   help="weight folder to write (all.pth, all.json); default %(default)s")
    p.add_argument("--cache_dir", default=None,
                   help=f"where the downloaded wheel is kept; default {default_cache()}")
    args = p.parse_args(argv)
    try:
        fetch(args.output, args.cache_dir)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.output}: the reference's checkpoint ({REQUIREMENT}, weights sha256 "
          f"{WEIGHTS_SHA256[:12]}...); use it with "
          f"`python -m inference --weight_directory {args.output}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
