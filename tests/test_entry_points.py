"""Every command-line script runs each of the ways a user types it: `python -m pkg.mod`,
`python pkg/mod.py` from the repository root, and `cd pkg && python mod.py` (the way the
reference's README runs its rebuild script). Each is asked for its `--help`, in a child
process without PYTHONPATH; the children run a few at a time."""
import glob
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import REPO


def entry_points():
    """Repository-relative paths of the scripts: the top-level CLIs and every script (a file
    with a `__main__` block) under prepro/, benchmarks/ and models/."""
    found = []
    for pattern in ("*.py", "prepro/*.py", "benchmarks/*.py", "models/*.py"):
        for path in sorted(glob.glob(os.path.join(REPO, pattern))):
            with open(path) as f:
                if 'if __name__ == "__main__":' in f.read():
                    found.append(os.path.relpath(path, REPO))
    return found


def ways(script):
    """(label, argv, working folder) of each way to run `script`."""
    module = script[:-3].replace(os.sep, ".")
    folder, name = os.path.split(script)
    runs = [(f"python -m {module}", ["-m", module], REPO),
            (f"python {script}", [script], REPO)]
    if folder:
        runs.append((f"cd {folder} && python {name}", [name], os.path.join(REPO, folder)))
    return runs


CASES = [(label, argv, cwd) for script in entry_points() for label, argv, cwd in ways(script)]


def run_help(argv, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable] + argv + ["--help"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def results():
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {label: pool.submit(run_help, argv, cwd) for label, argv, cwd in CASES}
        return {label: future.result() for label, future in futures.items()}


def test_the_known_entry_points_are_found():
    scripts = entry_points()
    for script in ("inference.py", "main_ddp.py", "eval_delimit.py", "models/fetch_reference.py",
                   "prepro/save_musdb_XL_train_wave.py", "benchmarks/bench_inference.py"):
        assert script in scripts


@pytest.mark.parametrize("label", [label for label, _, _ in CASES])
def test_help_runs(results, label):
    child = results[label]
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.startswith("usage:")
