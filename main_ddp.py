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
import re
import sys
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from dataloader import build_datasets, build_song_cache, song_cache_dir, source_weights
from models import build_model
from utils import plots
from utils.errors import DelimitError
from utils.training import train_utils
from utils.training.config import load_config
from utils.training.losses import CombinedLoss, channel_si_sdr


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

    def all_min(self, value):
        """The smallest of one float over all processes."""
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        if self.world_size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
        return tensor.item()

    def barrier(self):
        if self.world_size > 1:
            dist.barrier()


def prepare_data(config, ctx):
    """Before the datasets are built, on the first process alone: generate the stem folder the
    config names when it is missing and the config says how, and decode the songs of
    dir_params.song_root into their cache."""
    dirs = config["dir_params"]
    weights = source_weights(config)
    root, spec = dirs["root"], config["data_params"]["generate_stems"]
    if ctx.is_main and weights.get("stems") and not os.path.isdir(os.path.join(root, "train")):
        if not spec:
            raise DelimitError(f"{root}: no train/ folder of stems (set dir_params.root, or "
                               "data_params.generate_stems to generate one)")
        from prepro.make_stems import make_stems

        print(f"generating {spec['n_songs']} songs of {spec['seconds']} s into {root}", flush=True)
        make_stems(root, n_songs=spec["n_songs"], seconds=spec["seconds"], seed=spec["seed"],
                   workers=os.cpu_count() or 1)
    if ctx.is_main and weights.get("songs"):
        build_song_cache(dirs["song_root"], song_cache_dir(dirs))
    ctx.barrier()


@dataclass
class TrainState:
    """Where a run stands: its counters and per-epoch histories. Saved in the checkpoint as a
    plain dict (dataclasses.asdict), so that a checkpoint does not name this class or its module.

    epoch counts finished epochs (the next one to run, from 0); step_in_epoch the batches done in
    that next one (a mid-epoch checkpoint resumes there); epoch_loss_sum/count and epoch_time
    are that epoch's running totals. The histories have one entry per finished epoch.
    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_loss: float = math.inf
    best_epoch: int = 0
    num_bad_epochs: int = 0
    epochs_trained: int = 0
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    epoch_time: float = 0.0
    train_loss_history: list = field(default_factory=list)
    valid_loss_history: list = field(default_factory=list)
    train_time_history: list = field(default_factory=list)
    valid_si_sdr_history: list = field(default_factory=list)
    valid_input_si_sdr_history: list = field(default_factory=list)
    valid_untouched_si_sdr_history: list = field(default_factory=list)
    valid_untouched_worst_history: list = field(default_factory=list)
    # validation of the weights a new run started from (init_weights): the scores to beat, as
    # [valid loss, valid SI-SDR, limited input SI-SDR, unlimited items' SI-SDR: mean, worst]
    start_valid: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, saved):
        """From a checkpoint's "train_state"; a key that an older version did not save (e.g.
        valid_untouched_si_sdr_history) takes its default."""
        names = {f.name for f in fields(cls)}
        state = cls(**{key: value for key, value in saved.items() if key in names})
        # epochs validated before the worst unlimited item was kept: nan, so that the
        # histories stay one entry per epoch
        missing = len(state.valid_loss_history) - len(state.valid_untouched_worst_history)
        state.valid_untouched_worst_history[:0] = [math.nan] * missing
        return state


@dataclass
class Run:
    """What a training run is made of (built once, never saved)."""

    config: dict
    ctx: Context
    model: torch.nn.Module  # the bare model, whose weights are saved
    net: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: object  # ReduceLROnPlateau, or None
    ema: object  # train_utils.EMA, or None
    criterion: torch.nn.Module
    valid_criterion: torch.nn.Module
    train_dataset: torch.utils.data.Dataset
    valid_dataset: torch.utils.data.Dataset
    sampler: DistributedSampler
    checkpoint_dir: str
    logger: object = None  # train_utils.WandbLogger on the first process
    deadline: float = None  # time.time() at which hyperparams.max_hours is reached

    @property
    def eval_model(self):
        """The weights that are validated and kept as the best: the EMA's when there is one."""
        return self.ema.model if self.ema is not None else self.model

    def path(self, extension):
        """{checkpoint_dir}/{target}.{extension}."""
        return os.path.join(self.checkpoint_dir,
                            f"{self.config['task_params']['target']}.{extension}")


UNLIMITED_INPUT_DB = 60.0  # a validation input this close to its target was left unlimited


def parameter_groups(model, lr, lr_factors):
    """The optimizer's parameter groups: one per learning rate, lr x the factor of the first
    pattern of `lr_factors` ({regex: factor}) that a parameter's name matches, lr for the rest.
    A pattern that matches no parameter is an error: a misspelt name would train at lr silently."""
    lr_factors = lr_factors or {}
    groups, matched = {}, set()
    for name, parameter in model.named_parameters():
        factor = 1.0
        for pattern, pattern_factor in lr_factors.items():
            if re.search(pattern, name):
                factor = float(pattern_factor)
                matched.add(pattern)
                break
        groups.setdefault(factor, []).append(parameter)
    unmatched = [pattern for pattern in lr_factors if pattern not in matched]
    if unmatched:
        raise DelimitError(f"hyperparams.lr_factors: {', '.join(map(repr, unmatched))} "
                           "matches no parameter of the model")
    # The plain group first: the log reports param_groups[0]'s lr.
    order = sorted(groups, key=lambda factor: (factor != 1.0, factor))
    return [{"params": groups[factor], "lr": lr * factor} for factor in order]


def build(config, ctx):
    """Seed, data, datasets, model, optimizer, scheduler, EMA and losses of a new run."""
    hp, dirs, mlp = config["hyperparams"], config["dir_params"], config["model_loss_params"]
    seed = config["sys_params"]["seed"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    checkpoint_dir = os.path.join(dirs["output_directory"], "checkpoint", dirs["exp_name"])
    if ctx.is_main:
        os.makedirs(checkpoint_dir, exist_ok=True)
    prepare_data(config, ctx)
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
    optimizer = optimizer_class(parameter_groups(model, hp["lr"], hp["lr_factors"]),
                                lr=hp["lr"], betas=(0.9, 0.999), weight_decay=hp["weight_decay"])
    scheduler = None
    if hp["lr_scheduler"] in ("step_lr", "plateau"):
        # The reference's floor (5e-5) sat above its lr (3e-5), so it never acted.
        min_lr = hp["min_lr"] if hp["min_lr"] is not None else hp["lr"] / 100
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=hp["lr_decay_gamma"],
            patience=hp["lr_decay_patience"], min_lr=min_lr)
    ema = train_utils.EMA(model, hp["ema_decay"]) if hp["ema"] else None
    criterion = CombinedLoss(mlp["train_loss_func"], mlp["train_loss_scales"],
                             mlp["si_sdr_cap_db"]).to(ctx.device)
    valid_criterion = CombinedLoss(mlp["valid_loss_func"], mlp["valid_loss_scales"],
                                   mlp["si_sdr_cap_db"]).to(ctx.device)
    return Run(config, ctx, model, net, optimizer, scheduler, ema, criterion, valid_criterion,
               train_dataset, valid_dataset, sampler, checkpoint_dir)


def resume(run):
    """The run's state: from its own checkpoint (dir_params.resume), or new, with the weights of
    dir_params.resume under continual_train or of dir_params.init_weights when given."""
    dirs = run.config["dir_params"]
    target = run.config["task_params"]["target"]
    weights_only = dirs["continual_train"]
    path = train_utils.resolve_resume_path(dirs["resume"], run.checkpoint_dir, target,
                                           weights_only=weights_only)
    if path is None and dirs["init_weights"]:  # a new run: start from these weights
        weights_only = True
        path = train_utils.resolve_resume_path(dirs["init_weights"], run.checkpoint_dir,
                                               target, weights_only=True)
    state = TrainState()
    if path is None:
        return state
    checkpoint = torch.load(path, map_location=run.ctx.device, weights_only=False)
    if "state_dict" not in checkpoint:  # a plain state_dict (all.pth), e.g. weight/
        checkpoint = {"state_dict": checkpoint}
    run.model.load_state_dict({k.removeprefix("module."): v
                               for k, v in checkpoint["state_dict"].items()})
    if run.ema is not None:  # the average starts from the loaded weights, not the random ones
        saved_ema = None if weights_only else checkpoint.get("ema")
        run.ema.model.load_state_dict(saved_ema or run.model.state_dict())
    if not weights_only:
        run.optimizer.load_state_dict(checkpoint["optimizer"])
        if run.scheduler is not None and checkpoint["scheduler"] is not None:
            run.scheduler.load_state_dict(checkpoint["scheduler"])
        state = TrainState.from_dict(checkpoint["train_state"])
    if run.ctx.is_main:
        print(f"{'weights from' if weights_only else 'resumed from'} {path}: "
              f"epoch {state.epoch + 1}, step {state.step_in_epoch} of the epoch", flush=True)
    return state


def save_checkpoint(run, state):
    """all.chkpnt: what resuming needs. The reference's keys (epoch, state_dict, best_loss,
    optimizer, scheduler) and this project's (ema, train_state)."""
    train_utils.atomic_torch_save({
        "epoch": state.epoch, "state_dict": run.model.state_dict(), "best_loss": state.best_loss,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
        "ema": run.ema.model.state_dict() if run.ema is not None else None,
        "train_state": asdict(state),
    }, run.path("chkpnt"))


def train_epoch(run, state):
    """Train the rest of epoch state.epoch (all of it unless resumed mid-epoch), checkpointing
    every hyperparams.checkpoint_every steps. Returns True when hyperparams.max_hours ran out
    part-way (the state is then checkpointed at that step)."""
    ctx, hp = run.ctx, run.config["hyperparams"]
    batch_size = hp["batch_size"]
    epoch = state.epoch
    run.sampler.set_epoch(epoch)
    if hasattr(run.train_dataset, "set_epoch"):
        run.train_dataset.set_epoch(epoch)
    # Resuming mid-epoch: the epoch's order is fixed by (seed, epoch), so skip what was done.
    indices = list(run.sampler)[state.step_in_epoch * batch_size:]
    loader = DataLoader(run.train_dataset, batch_size=batch_size, sampler=indices,
                        num_workers=run.config["sys_params"]["nb_workers"], drop_last=True,
                        pin_memory=ctx.device.type == "cuda")
    started = time.time()
    progress = tqdm(loader, desc=f"epoch {epoch + 1}/{hp['epochs']}", disable=not ctx.is_main,
                    initial=state.step_in_epoch, total=len(run.sampler) // batch_size,
                    dynamic_ncols=True)
    out_of_time = False
    flip_p = run.config["data_params"]["random_polarity"]
    for limited, target in progress:
        if flip_p:
            seed = (run.config["sys_params"]["seed"], epoch, state.step_in_epoch, ctx.rank)
            limited, target = invert_polarity(limited, target, flip_p, seed)
        loss = train_step(run, limited.to(ctx.device), target.to(ctx.device))
        state.step_in_epoch += 1
        state.global_step += 1
        state.epoch_loss_sum += loss
        state.epoch_loss_count += 1
        if ctx.is_main:
            progress.set_postfix(loss=f"{loss:.2f}")
            if state.global_step % hp["log_every"] == 0:
                log_step(run, state, loss)
        if run.deadline is not None:  # every process must agree to stop at the same step
            out_of_time = ctx.all_sum([float(time.time() > run.deadline)])[0] > 0
        checkpoint_now = (hp["checkpoint_every"]
                          and state.global_step % hp["checkpoint_every"] == 0)
        if ctx.is_main and (checkpoint_now or out_of_time):
            state.epoch_time += time.time() - started
            started = time.time()
            save_checkpoint(run, state)
        if out_of_time:
            break
    progress.close()
    state.epoch_time += time.time() - started
    return out_of_time


def invert_polarity(limited, target, probability, seed):
    """Invert each item of a batch (input and target together) with `probability`, drawn from
    `seed` so that a resumed run repeats its steps. A limiter's gain depends on |x| alone, so
    the de-limiter's must not depend on the waveform's sign; unaugmented, it does."""
    rng = np.random.default_rng(list(seed))
    signs = np.where(rng.random(limited.shape[0]) < probability, -1.0, 1.0)
    signs = torch.from_numpy(signs.astype(np.float32))[:, None, None]
    return limited * signs, target * signs


def train_step(run, limited, target):
    """One optimizer step on a batch (batch, channels, time); returns the batch's loss."""
    _, estimate = run.net(limited)
    loss = run.criterion(estimate, target)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip = run.config["hyperparams"]["gradient_clip"]
    if clip:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), clip)
    run.optimizer.step()
    if run.ema is not None:
        run.ema.update(run.model)
    return loss.item()


def log_step(run, state, loss):
    mean = state.epoch_loss_sum / state.epoch_loss_count
    lr = run.optimizer.param_groups[0]["lr"]
    tqdm.write(f"step {state.global_step}: epoch {state.epoch + 1} loss {mean:.3f} lr {lr:.2e}")
    run.logger.log({"train/loss": loss, "lr": lr}, state.global_step)


@torch.no_grad()
def validate(model, valid_dataset, criterion, ctx):
    """Validation over whole items shared out between processes: the mean loss; the mean
    SI-SDR of the output and of the input against the target over the limited items; and over
    the items left unlimited (if any), the mean and the lowest SI-SDR of the output against the
    input (nan when there are none): a mean can hide one record that a model damages."""
    model.eval()
    totals = [0.0] * 6  # loss, items, out SI-SDR, in SI-SDR, limited items, unlimited SI-SDR
    worst = math.inf
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
            untouched = channel_si_sdr(estimate, limited).item()
            totals[5] += untouched
            worst = min(worst, untouched)
    loss, count, out_sdr, in_sdr, n_limited, untouched = ctx.all_sum(totals)
    worst = ctx.all_min(worst)
    model.train()
    n_unlimited = count - n_limited
    if not n_unlimited:
        untouched, worst = math.nan, math.nan
    if not n_limited:  # e.g. a set of unlimited items only (benchmarks/score_validation.py)
        out_sdr, in_sdr = math.nan, math.nan
    return (loss / max(count, 1), out_sdr / max(n_limited, 1), in_sdr / max(n_limited, 1),
            untouched / max(n_unlimited, 1), worst)


def end_epoch(run, state):
    """After a whole epoch: validate, step the scheduler, record the epoch, then (first process)
    save the checkpoint, the best weights and the summary, and log."""
    started = time.time()
    loss_sum, loss_count = run.ctx.all_sum([state.epoch_loss_sum, state.epoch_loss_count])
    train_loss = loss_sum / max(loss_count, 1)
    scores = (train_loss, *validate(run.eval_model, run.valid_dataset, run.valid_criterion,
                                    run.ctx))
    if run.scheduler is not None:
        run.scheduler.step(scores[1])
    improved = record_epoch(state, scores, state.epoch_time + time.time() - started)
    if run.ctx.is_main:
        save_epoch(run, state, improved)
        log_epoch(run, state, scores, improved)


def record_epoch(state, scores, seconds):
    """Append the epoch's scores to the histories, track the best validation loss, and move the
    state to the start of the next epoch. Returns whether the validation loss improved."""
    train_loss, valid_loss, valid_sdr, input_sdr, untouched_sdr, untouched_worst = scores
    finished = state.epoch + 1
    state.train_time_history.append(seconds)
    state.train_loss_history.append(train_loss)
    state.valid_loss_history.append(valid_loss)
    state.valid_si_sdr_history.append(valid_sdr)
    state.valid_input_si_sdr_history.append(input_sdr)
    state.valid_untouched_si_sdr_history.append(untouched_sdr)
    state.valid_untouched_worst_history.append(untouched_worst)
    improved = valid_loss < state.best_loss
    if improved:
        state.best_loss, state.best_epoch, state.num_bad_epochs = valid_loss, finished, 0
    else:
        state.num_bad_epochs += 1
    state.epoch = state.epochs_trained = finished
    state.step_in_epoch = state.epoch_loss_count = 0
    state.epoch_loss_sum = state.epoch_time = 0.0
    return improved


def save_epoch(run, state, improved):
    """The files of a finished epoch: the best weights (all.pth) when they improved, the
    checkpoint, the summary (all.json) and the loss curve."""
    if improved:
        train_utils.atomic_torch_save(run.eval_model.state_dict(), run.path("pth"))
    save_checkpoint(run, state)
    summary = train_utils.run_summary(run.config, run.checkpoint_dir, asdict(state),
                                      run.ctx.world_size)
    train_utils.atomic_json_save(summary, run.path("json"))
    plots.plot_loss_curve(os.path.join(run.checkpoint_dir, "loss_curve.png"), asdict(state))


def describe_valid(valid_loss, valid_sdr, input_sdr, untouched_sdr, untouched_worst=math.nan):
    """One line of validation scores (a run resumed from before the worst unlimited item was
    kept has no `untouched_worst` for its start weights)."""
    return (f"valid loss {valid_loss:.3f}, "
            + (f"valid SI-SDR {valid_sdr:.2f} dB (limited input {input_sdr:.2f} dB, "
               f"{valid_sdr - input_sdr:+.2f} dB)" if not math.isnan(valid_sdr)
               else "no limited items")
            + (f", unlimited items left at {untouched_sdr:.1f} dB"
               if not math.isnan(untouched_sdr) else "")
            + (f" (worst {untouched_worst:.1f} dB)" if not math.isnan(untouched_worst) else ""))


def validate_start(run, state):
    """A new run from loaded weights first validates them, so that its log says what its
    epochs must beat on this run's own validation set."""
    state.start_valid = list(validate(run.eval_model, run.valid_dataset, run.valid_criterion,
                                      run.ctx))
    if run.ctx.is_main:
        print(f"start weights: {describe_valid(*state.start_valid)}", flush=True)


def log_epoch(run, state, scores, improved):
    train_loss, valid_loss, valid_sdr, input_sdr, *_ = scores
    print(f"epoch {state.epoch}: train loss {train_loss:.3f}, {describe_valid(*scores[1:])}"
          + (" *best*" if improved else ""), flush=True)
    run.logger.log({"train/epoch_loss": train_loss, "valid/loss": valid_loss,
                    "valid/si_sdr": valid_sdr, "valid/si_sdr_improvement": valid_sdr - input_sdr,
                    "epoch": state.epoch}, state.global_step)


def train(config):
    """Train as `config` says. Returns the trained (unwrapped) model and the run's state as the
    checkpoint holds it (a dict of TrainState's fields)."""
    ctx = Context(config)
    hp = config["hyperparams"]
    run = build(config, ctx)
    state = resume(run)
    steps_per_epoch = len(run.sampler) // hp["batch_size"]
    if steps_per_epoch == 0:
        raise DelimitError(f"the training set gives {len(run.sampler)} items per process, fewer "
                           f"than one batch of {hp['batch_size']}")
    if ctx.is_main:
        run.logger = train_utils.WandbLogger(config, run.checkpoint_dir)
        n_params = sum(p.numel() for p in run.model.parameters())
        print(f"training {n_params:,} parameters on {ctx.world_size} process(es), {ctx.device}, "
              f"{steps_per_epoch} steps per epoch", flush=True)
    dirs = config["dir_params"]
    if state.global_step == 0 and (dirs["init_weights"] or dirs["continual_train"]):
        validate_start(run, state)
    if hp["max_hours"]:
        run.deadline = time.time() + hp["max_hours"] * 3600
    run.net.train()
    while state.epoch < hp["epochs"]:
        if train_epoch(run, state):
            if ctx.is_main:
                print(f"stopping: hyperparams.max_hours ({hp['max_hours']}) reached; "
                      f"resume with dir_params.resume=true", flush=True)
            break
        end_epoch(run, state)
        if state.num_bad_epochs >= hp["patience"]:
            if ctx.is_main:
                print(f"early stopping: no improvement for {hp['patience']} epochs", flush=True)
            break
    if run.logger is not None:
        run.logger.finish()
    ctx.barrier()
    return run.model, asdict(state)


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
