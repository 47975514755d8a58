"""Train a de-limiter.

    python -m main_ddp --config=delimit_6_s [group.key=value ...]
    torchrun --nproc_per_node=N -m main_ddp --config=NAME ...      (DistributedDataParallel)

One process by default. Under torchrun every process trains on its share of the data
(DistributedSampler); gloo on CPU, NCCL on GPU; rank 0 alone logs and writes checkpoints
to `{output_directory}/checkpoint/{exp_name}/`: all.chkpnt (resume), all.pth (best weights,
the reference's format) and all.json (the run summary), plus loss_curve.png.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from models import build_model
from utils import train_utils
from utils.config import load_config
from utils.errors import DelimitError
from utils.losses import CombinedLoss, channel_si_sdr


class Context:
    """Who this process is: rank, world size, device."""

    def __init__(self, config):
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        self.rank = int(os.environ.get("RANK", 0))
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        self.is_main = self.rank == 0
        wanted = config["sys_params"]["device"]
        if wanted == "cuda" and not torch.cuda.is_available():
            raise DelimitError("sys_params.device: cuda was asked for but no GPU is visible")
        use_cuda = wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
        self.device = torch.device(f"cuda:{self.local_rank}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(self.device)
        threads = config["sys_params"]["num_threads"]
        if threads is None and not use_cuda:
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", self.world_size))
            threads = max(1, (os.cpu_count() or 1) // local_world)
        if threads:
            torch.set_num_threads(threads)
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")

    def all_sum(self, values):
        """Sum a list of floats over all processes."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world_size > 1:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self):
        if self.world_size > 1:
            dist.barrier()


def prepare_data(config, ctx):
    """Before the datasets are built, on the first process alone: generate the stem folder the
    config names when it is missing and the config says how, and decode the songs of
    dir_params.song_root into their cache."""
    dirs, data = config["dir_params"], config["data_params"]
    weights = data["source_weights"] or {"musdb_xl" if dirs["ozone_root"] else "stems": 1.0}
    root, spec = dirs["root"], data["generate_stems"]
    if ctx.is_main and weights.get("stems") and not os.path.isdir(os.path.join(root, "train")):
        if not spec:
            raise DelimitError(f"{root}: no train/ folder of stems (set dir_params.root, or "
                               "data_params.generate_stems to generate one)")
        from prepro.make_stems import make_stems

        print(f"generating {spec['n_songs']} songs of {spec['seconds']} s into {root}", flush=True)
        make_stems(root, n_songs=spec["n_songs"], seconds=spec["seconds"], seed=spec["seed"])
    if ctx.is_main and weights.get("songs"):
        from dataloader import build_song_cache, song_cache_dir

        build_song_cache(dirs["song_root"], song_cache_dir(dirs))
    ctx.barrier()


def new_train_state():
    return dict(epoch=0, step_in_epoch=0, global_step=0, best_loss=math.inf, best_epoch=0,
                num_bad_epochs=0, epochs_trained=0, epoch_loss_sum=0.0, epoch_loss_count=0,
                epoch_time=0.0, train_loss_history=[], valid_loss_history=[],
                train_time_history=[], valid_si_sdr_history=[], valid_input_si_sdr_history=[],
                valid_untouched_si_sdr_history=[])


UNLIMITED_INPUT_DB = 60.0  # a validation input this close to its target was left unlimited


@torch.no_grad()
def validate(model, valid_dataset, criterion, ctx):
    """Validation over whole items shared out between processes: the mean loss; the mean
    SI-SDR of the output and of the input against the target over the limited items; and over
    the items left unlimited (if any), the mean SI-SDR of the output against the input (nan
    when there are none)."""
    model.eval()
    totals = [0.0] * 6  # loss, items, out SI-SDR, in SI-SDR, limited items, unlimited SI-SDR
    for index in range(ctx.rank, len(valid_dataset), ctx.world_size):
        limited, target, _ = valid_dataset[index]
        limited, target = limited[None].to(ctx.device), target[None].to(ctx.device)
        _, estimate = model(limited)
        totals[0] += criterion(estimate, target).item()
        totals[1] += 1
        input_sdr = channel_si_sdr(limited, target).item()
        if input_sdr < UNLIMITED_INPUT_DB:
            totals[2] += channel_si_sdr(estimate, target).item()
            totals[3] += input_sdr
            totals[4] += 1
        else:
            totals[5] += channel_si_sdr(estimate, limited).item()
    loss, count, out_sdr, in_sdr, n_limited, untouched = ctx.all_sum(totals)
    model.train()
    n_limited, n_unlimited = max(n_limited, 1), count - n_limited
    return (loss / max(count, 1), out_sdr / n_limited, in_sdr / n_limited,
            untouched / n_unlimited if n_unlimited else math.nan)


def save_checkpoint(path, model, optimizer, scheduler, ema, state):
    train_utils.atomic_torch_save({
        "epoch": state["epoch"], "state_dict": model.state_dict(), "best_loss": state["best_loss"],
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "ema": ema.model.state_dict() if ema is not None else None,
        "train_state": dict(state),
    }, path)


def train(config):
    """Train as `config` says; returns the trained (unwrapped) model and the run state."""
    ctx = Context(config)
    hp, dirs = config["hyperparams"], config["dir_params"]
    target = config["task_params"]["target"]
    seed = config["sys_params"]["seed"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    checkpoint_dir = os.path.join(dirs["output_directory"], "checkpoint", dirs["exp_name"])
    chkpnt_path = os.path.join(checkpoint_dir, f"{target}.chkpnt")
    if ctx.is_main:
        os.makedirs(checkpoint_dir, exist_ok=True)
    prepare_data(config, ctx)

    from dataloader import build_datasets  # after the stems exist

    train_dataset, valid_dataset = build_datasets(config)
    sampler = DistributedSampler(train_dataset, num_replicas=ctx.world_size, rank=ctx.rank,
                                 shuffle=True, seed=seed, drop_last=True)
    model = build_model(config["conv_tasnet_params"],
                        nb_channels=config["data_params"]["nb_channels"]).to(ctx.device)
    # The last TCN block's residual conv feeds nothing (only skips reach the head), as in the
    # reference's checkpoint: DDP must be told that some parameters get no gradient.
    net = (DistributedDataParallel(model, find_unused_parameters=True)
           if ctx.world_size > 1 else model)
    optimizer_class = torch.optim.AdamW if hp["optimizer"] == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(model.parameters(), lr=hp["lr"], betas=(0.9, 0.999),
                                weight_decay=hp["weight_decay"])
    scheduler = None
    if hp["lr_scheduler"] in ("step_lr", "plateau"):
        # The reference's floor (5e-5) sat above its lr (3e-5), so it never acted.
        min_lr = hp["min_lr"] if hp["min_lr"] is not None else hp["lr"] / 100
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=hp["lr_decay_gamma"],
            patience=hp["lr_decay_patience"], min_lr=min_lr)
    ema = train_utils.EMA(model, hp["ema_decay"]) if hp["ema"] else None
    mlp = config["model_loss_params"]
    criterion = CombinedLoss(mlp["train_loss_func"], mlp["train_loss_scales"],
                             mlp["si_sdr_cap_db"]).to(ctx.device)
    valid_criterion = CombinedLoss(mlp["valid_loss_func"], mlp["valid_loss_scales"],
                                   mlp["si_sdr_cap_db"]).to(ctx.device)

    state = new_train_state()
    weights_only = dirs["continual_train"]
    resume_path = train_utils.resolve_resume_path(dirs["resume"], checkpoint_dir, target,
                                                  weights_only=weights_only)
    if resume_path is None and dirs["init_weights"]:  # a new run: start from these weights
        weights_only = True
        resume_path = train_utils.resolve_resume_path(dirs["init_weights"], checkpoint_dir,
                                                      target, weights_only=True)
    if resume_path:
        checkpoint = torch.load(resume_path, map_location=ctx.device, weights_only=False)
        if "state_dict" not in checkpoint:  # a plain state_dict (all.pth), e.g. weight/
            checkpoint = {"state_dict": checkpoint}
        model.load_state_dict({k.removeprefix("module."): v
                               for k, v in checkpoint["state_dict"].items()})
        if not weights_only:  # continual_train or init_weights: a new run from these weights
            optimizer.load_state_dict(checkpoint["optimizer"])
            if scheduler is not None and checkpoint["scheduler"] is not None:
                scheduler.load_state_dict(checkpoint["scheduler"])
            if ema is not None and checkpoint["ema"] is not None:
                ema.model.load_state_dict(checkpoint["ema"])
            state.update(checkpoint["train_state"])
        if ctx.is_main:
            print(f"{'weights from' if weights_only else 'resumed from'} {resume_path}: epoch {state['epoch'] + 1}, "
                  f"step {state['step_in_epoch']} of the epoch", flush=True)

    logger = train_utils.WandbLogger(config, checkpoint_dir) if ctx.is_main else None
    batch_size = hp["batch_size"]
    steps_per_epoch = len(sampler) // batch_size
    if steps_per_epoch == 0:
        raise DelimitError(f"the training set gives {len(sampler)} items per process, fewer "
                           f"than one batch of {batch_size}")
    if ctx.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"training {n_params:,} parameters on {ctx.world_size} process(es), {ctx.device}, "
              f"{steps_per_epoch} steps per epoch", flush=True)
    deadline = time.time() + hp["max_hours"] * 3600 if hp["max_hours"] else None
    num_workers = config["sys_params"]["nb_workers"]
    out_of_time = False
    net.train()
    while state["epoch"] < hp["epochs"] and not out_of_time:
        epoch = state["epoch"]
        sampler.set_epoch(epoch)
        if hasattr(train_dataset, "set_epoch"):
            train_dataset.set_epoch(epoch)
        # Resuming mid-epoch: the epoch's order is fixed by (seed, epoch), so skip what was done.
        indices = list(sampler)[state["step_in_epoch"] * batch_size:]
        loader = DataLoader(train_dataset, batch_size=batch_size, sampler=indices,
                            num_workers=num_workers, drop_last=True,
                            pin_memory=ctx.device.type == "cuda")
        started = time.time()
        progress = tqdm(loader, desc=f"epoch {epoch + 1}/{hp['epochs']}", disable=not ctx.is_main,
                        initial=state["step_in_epoch"], total=steps_per_epoch, dynamic_ncols=True)
        for limited, target_audio in progress:
            limited, target_audio = limited.to(ctx.device), target_audio.to(ctx.device)
            _, estimate = net(limited)
            loss = criterion(estimate, target_audio)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if hp["gradient_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), hp["gradient_clip"])
            optimizer.step()
            if ema is not None:
                ema.update(model)
            state["step_in_epoch"] += 1
            state["global_step"] += 1
            state["epoch_loss_sum"] += loss.item()
            state["epoch_loss_count"] += 1
            if ctx.is_main:
                progress.set_postfix(loss=f"{loss.item():.2f}")
                if state["global_step"] % hp["log_every"] == 0:
                    mean = state["epoch_loss_sum"] / state["epoch_loss_count"]
                    lr = optimizer.param_groups[0]["lr"]
                    tqdm.write(f"step {state['global_step']}: epoch {epoch + 1} loss {mean:.3f} "
                               f"lr {lr:.2e}")
                    logger.log({"train/loss": loss.item(), "lr": lr}, state["global_step"])
            if deadline is not None:  # every process must agree to stop at the same step
                out_of_time = ctx.all_sum([float(time.time() > deadline)])[0] > 0
            checkpoint_now = hp["checkpoint_every"] and state["global_step"] % hp["checkpoint_every"] == 0
            if ctx.is_main and (checkpoint_now or out_of_time):
                state["epoch_time"] += time.time() - started
                started = time.time()
                save_checkpoint(chkpnt_path, model, optimizer, scheduler, ema, state)
            if out_of_time:
                break
        progress.close()
        if out_of_time:
            if ctx.is_main:
                print(f"stopping: hyperparams.max_hours ({hp['max_hours']}) reached; "
                      f"resume with dir_params.resume=true", flush=True)
            break

        loss_sum, loss_count = ctx.all_sum([state["epoch_loss_sum"], state["epoch_loss_count"]])
        train_loss = loss_sum / max(loss_count, 1)
        eval_model = ema.model if ema is not None else model
        valid_loss, valid_sdr, input_sdr, untouched_sdr = validate(eval_model, valid_dataset,
                                                                   valid_criterion, ctx)
        if scheduler is not None:
            scheduler.step(valid_loss)
        state["train_time_history"].append(state["epoch_time"] + time.time() - started)
        state["train_loss_history"].append(train_loss)
        state["valid_loss_history"].append(valid_loss)
        state["valid_si_sdr_history"].append(valid_sdr)
        state["valid_input_si_sdr_history"].append(input_sdr)
        state.setdefault("valid_untouched_si_sdr_history", []).append(untouched_sdr)
        improved = valid_loss < state["best_loss"]
        if improved:
            state.update(best_loss=valid_loss, best_epoch=epoch + 1, num_bad_epochs=0)
        else:
            state["num_bad_epochs"] += 1
        state.update(epoch=epoch + 1, epochs_trained=epoch + 1, step_in_epoch=0,
                     epoch_loss_sum=0.0, epoch_loss_count=0, epoch_time=0.0)
        if ctx.is_main:
            if improved:
                train_utils.atomic_torch_save(eval_model.state_dict(),
                                              os.path.join(checkpoint_dir, f"{target}.pth"))
            save_checkpoint(chkpnt_path, model, optimizer, scheduler, ema, state)
            train_utils.atomic_json_save(
                train_utils.run_summary(config, checkpoint_dir, state, ctx.world_size),
                os.path.join(checkpoint_dir, f"{target}.json"))
            train_utils.plot_loss_curve(state, os.path.join(checkpoint_dir, "loss_curve.png"))
            print(f"epoch {epoch + 1}: train loss {train_loss:.3f}, valid loss {valid_loss:.3f}, "
                  f"valid SI-SDR {valid_sdr:.2f} dB (limited input {input_sdr:.2f} dB, "
                  f"{valid_sdr - input_sdr:+.2f} dB)"
                  + (f", unlimited items left at {untouched_sdr:.1f} dB"
                     if not math.isnan(untouched_sdr) else "")
                  + (" *best*" if improved else ""), flush=True)
            logger.log({"train/epoch_loss": train_loss, "valid/loss": valid_loss,
                        "valid/si_sdr": valid_sdr, "valid/si_sdr_improvement": valid_sdr - input_sdr,
                        "epoch": epoch + 1}, state["global_step"])
        if state["num_bad_epochs"] >= hp["patience"]:
            if ctx.is_main:
                print(f"early stopping: no improvement for {hp['patience']} epochs", flush=True)
            break

    if logger is not None:
        logger.finish()
    ctx.barrier()
    return model, state


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a de-limiter. Overrides: group.key=value, e.g. hyperparams.lr=1e-4")
    parser.add_argument("--config", required=True,
                        help="configs/NAME.yaml by name (e.g. delimit_6_s), or a path")
    parser.add_argument("overrides", nargs="*", help="group.key=value (value parsed as YAML)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        train(config)
    except DelimitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
