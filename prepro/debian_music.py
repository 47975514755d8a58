"""Build a folder of real songs from Debian's free (DFSG) game-music packages.

    python -m prepro.debian_music --set train --output data/real_music
    python -m prepro.debian_music --set eval  --output data/real_music

Installs the set's packages with apt-get when they are missing, copies their audio files
(extracting the ones inside `.pk3` zip archives) to `OUTPUT/{set}/{package}/...`, skips exact
duplicates, and writes `OUTPUT/{set}/songs.csv` (path, package, seconds, sample rate,
channels) with the hours per package. The train set's packages are for training and model
selection, the eval set's for the project's real-music evaluation only; no other package's
audio is used. Training on one's own music needs none of this: point `dir_params.song_root`
at any folder of songs.
"""
import argparse
import csv
import hashlib
import os
import subprocess
import sys
import zipfile

import soundfile as sf

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dataloader.songs import MIN_SONG_SECONDS  # noqa: E402
from utils.audio import AUDIO_EXTENSIONS, atomic_path  # noqa: E402
from utils.errors import DelimitError  # noqa: E402

PACKAGES = {
    "train": ["ufoai-music", "nexuiz-music", "hyperrogue-music", "warzone2100-music",
              "drascula-music", "planetblupi-music-ogg"],
    "eval": ["singularity-music", "asc-music"],
}


def installed(package):
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                            capture_output=True, text=True)
    return result.returncode == 0 and "install ok installed" in result.stdout


def install(packages):
    """apt-get install the packages that are missing (an update first if that fails)."""
    missing = [p for p in packages if not installed(p)]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    command = ["apt-get", "install", "-y", "-q", *missing]
    if subprocess.run(command).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=False)
        if subprocess.run(command).returncode != 0:
            raise DelimitError(f"apt-get could not install {' '.join(missing)}")


def package_files(package):
    result = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True)
    return sorted(p for p in result.stdout.splitlines() if os.path.isfile(p))


def package_audio(package):
    """(name inside the package, bytes-reader) for each audio file of the package, the members
    of its .pk3 archives included; names are relative and unique within the package."""
    for path in package_files(package):
        lower = path.lower()
        if lower.endswith(AUDIO_EXTENSIONS):
            yield os.path.basename(path), lambda path=path: open(path, "rb")
        elif lower.endswith(".pk3"):
            with zipfile.ZipFile(path) as archive:
                for member in sorted(archive.namelist()):
                    if member.lower().endswith(AUDIO_EXTENSIONS):
                        yield (os.path.join(os.path.basename(path), member),
                               lambda path=path, member=member: _zip_member(path, member))


def _zip_member(path, member):
    with zipfile.ZipFile(path) as archive:
        return _BytesReader(archive.read(member))


class _BytesReader:
    """A context manager over bytes, like an open file."""

    def __init__(self, data):
        self.data = data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.data


def build_song_folder(song_set, output):
    """Collect the set's songs under output/{song_set}; returns the rows of songs.csv."""
    if song_set not in PACKAGES:
        raise DelimitError(f"--set must be one of {', '.join(PACKAGES)}, got {song_set!r}")
    packages = PACKAGES[song_set]
    install(packages)
    root = os.path.join(output, song_set)
    seen, rows, short = set(), [], 0
    for package in packages:
        for name, opener in package_audio(package):
            with opener() as f:
                data = f.read()
            digest = hashlib.sha1(data).hexdigest()
            if digest in seen:  # the same recording shipped twice
                continue
            seen.add(digest)
            relative = os.path.join(package, name)
            path = os.path.join(root, relative)
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with atomic_path(path) as tmp, open(tmp, "wb") as out:
                    out.write(data)
            try:
                info = sf.info(path)
            except (sf.LibsndfileError, RuntimeError) as err:
                print(f"skipped {relative}: not readable ({err})", file=sys.stderr)
                os.remove(path)
                continue
            if info.frames < MIN_SONG_SECONDS * info.samplerate:  # a sound effect, not a song
                short += 1
                os.remove(path)
                continue
            rows.append({"path": relative, "package": package,
                         "seconds": round(info.frames / info.samplerate, 2),
                         "sample_rate": info.samplerate, "channels": info.channels})
    if not rows:
        raise DelimitError(f"no songs of at least {MIN_SONG_SECONDS:g} s in {', '.join(packages)}")
    with atomic_path(os.path.join(root, "songs.csv")) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if short:
        print(f"left out {short} files shorter than {MIN_SONG_SECONDS:g} s (sound effects)")
    return rows


def summary(rows):
    """Lines of songs and hours per package, and the total."""
    lines = []
    for package in dict.fromkeys(r["package"] for r in rows):
        mine = [r for r in rows if r["package"] == package]
        hours = sum(r["seconds"] for r in mine) / 3600
        lines.append(f"{package:24s} {len(mine):4d} songs {hours:6.2f} h")
    hours = sum(r["seconds"] for r in rows) / 3600
    lines.append(f"{'total':24s} {len(rows):4d} songs {hours:6.2f} h")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="song_set", choices=sorted(PACKAGES), default="train",
                        help="train: training and validation packages; eval: evaluation only")
    parser.add_argument("--output", default="data/real_music",
                        help="songs go to OUTPUT/{set}/{package}/ (default data/real_music)")
    args = parser.parse_args(argv)
    try:
        rows = build_song_folder(args.song_set, args.output)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
