"""Write what the tests know about the reference's checkpoint, from the checkpoint itself:

- `reference_state_dict.tsv`: the name and shape of each of its tensors, in its order;
- `reference_all.json`: its summary as `python -m models.fetch_reference` writes it
  (`{"args": ...}`, the reference's resolved config from the wheel's `args.json`).

    python tests/data/make_reference_data.py        # fetches the wheel through pip (cached)
"""
import json
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from models import fetch_reference  # noqa: E402
from utils.audio import atomic_path  # noqa: E402


def main():
    with tempfile.TemporaryDirectory() as folder:
        fetch_reference.fetch(folder)
        state_dict = torch.load(os.path.join(folder, "all.pth"), map_location="cpu",
                                weights_only=True)
        with open(os.path.join(folder, "all.json")) as f:
            summary = json.load(f)
    n_params = sum(v.numel() for v in state_dict.values())
    lines = [f"# key\tshape   (the reference's checkpoint, {fetch_reference.REQUIREMENT}: "
             f"{len(state_dict)} tensors, {n_params} parameters)\n"]
    lines += [f"{k}\t{','.join(str(n) for n in v.shape)}\n" for k, v in state_dict.items()]
    with atomic_path(os.path.join(HERE, "reference_state_dict.tsv")) as tmp, open(tmp, "w") as f:
        f.writelines(lines)
    with atomic_path(os.path.join(HERE, "reference_all.json")) as tmp, open(tmp, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(f"{HERE}: reference_state_dict.tsv ({len(state_dict)} tensors), reference_all.json")


if __name__ == "__main__":
    sys.exit(main())
