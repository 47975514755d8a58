"""Run by tests/test_main_ddp.py under torchrun: trains with main_ddp.train and saves this
rank's final weights to {out_dir}/rank{RANK}.pt, so the test can compare the ranks."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import main_ddp  # noqa: E402
from utils.training.config import load_config  # noqa: E402

if __name__ == "__main__":
    out_dir, config_name, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
    model, state = main_ddp.train(load_config(config_name, overrides))
    torch.save({"state_dict": model.state_dict(), "global_step": state["global_step"]},
               os.path.join(out_dir, f"rank{os.environ['RANK']}.pt"))
    torch.distributed.destroy_process_group()
