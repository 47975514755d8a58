"""Pieces of the training loop that are not the loop itself: checkpoint files, EMA,
the run summary (all.json) and an optional wandb logger (the loss-curve plot is
utils.plots.plot_loss_curve)."""
import copy
import json
import math
import os
import warnings

import torch

from utils.audio import atomic_path
from utils.errors import DelimitError


def atomic_torch_save(obj, path):
    """torch.save through a temp file and a rename: a kill never leaves half a checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_json_save(obj, path):
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=4)


def resolve_resume_path(resume, checkpoint_dir, target, weights_only=False):
    """`dir_params.resume`: true -> this run's own checkpoint; a folder or a .chkpnt path.
    With `weights_only` (continual training, dir_params.init_weights) a .pth path also does,
    and a folder's {target}.pth, the run's best weights, comes before its last .chkpnt.
    Returns the file to load, or None when there is nothing to resume."""
    if resume in (None, False, ""):
        return None
    if resume is True:
        path = os.path.join(checkpoint_dir, f"{target}.chkpnt")
        return path if os.path.isfile(path) else None  # nothing saved yet: start fresh
    if os.path.isfile(resume) and (resume.endswith(".chkpnt") or weights_only):
        return resume
    candidates = [os.path.join(resume, f"{target}.chkpnt")]
    if weights_only:
        candidates.insert(0, os.path.join(resume, f"{target}.pth"))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise DelimitError(f"{resume}: dir_params.resume names no checkpoint "
                       f"({' or '.join(os.path.basename(c) for c in candidates)})")


class EMA:
    """Exponential moving average of a model's weights, kept in a copy of the model."""

    def __init__(self, model, decay):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        for shadow, live in zip(self.model.state_dict().values(), model.state_dict().values()):
            if shadow.dtype.is_floating_point:
                shadow.lerp_(live.detach(), 1.0 - self.decay)
            else:
                shadow.copy_(live)


def run_summary(config, checkpoint_dir, state, world_size):
    """The reference's all.json keys (plus a few of this project's, which readers ignore)."""
    args = copy.deepcopy(config)
    args["sys_params"]["world_size"] = world_size
    args.update(gpu=0 if torch.cuda.is_available() else None, ngpus_per_node=world_size,
                output=checkpoint_dir, resume=config["dir_params"]["resume"],
                sample_rate=config["data_params"]["sample_rate"])
    keys = ("best_epoch", "best_loss", "epochs_trained", "num_bad_epochs", "train_loss_history",
            "valid_loss_history", "train_time_history", "valid_si_sdr_history",
            "valid_input_si_sdr_history", "global_step")
    summary = {"args": args, **{k: state[k] for k in keys}}
    for key in ("valid_untouched_si_sdr_history", "valid_untouched_worst_history"):
        if any(not math.isnan(v) for v in state.get(key, [])):
            summary[key] = state[key]
    return summary


class WandbLogger:
    """wandb when asked for; offline unless an API key is configured; never fatal."""

    def __init__(self, config, checkpoint_dir):
        self.run = None
        params = config["wandb_params"]
        if not params["use_wandb"]:
            return
        try:
            import wandb

            has_key = bool(os.environ.get("WANDB_API_KEY")) or os.path.isfile(
                os.path.expanduser("~/.netrc"))
            mode = os.environ.get("WANDB_MODE") or ("online" if has_key else "offline")
            self.run = wandb.init(
                project=params["project"], entity=params["entity"], config=config,
                name=config["dir_params"]["exp_name"], id=params["rerun_id"], resume="allow",
                dir=checkpoint_dir, mode=mode, settings=wandb.Settings(init_timeout=60))
        except Exception as err:  # logging must never stop training
            warnings.warn(f"wandb disabled: {err}")
            self.run = None

    def log(self, values, step):
        if self.run is not None:
            try:
                self.run.log(values, step=step)
            except Exception as err:
                warnings.warn(f"wandb log failed, disabling it: {err}")
                self.run = None

    def finish(self):
        if self.run is not None:
            try:
                self.run.finish()
            except Exception:
                pass
