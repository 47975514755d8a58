"""Train and score a slow-level head (models.level_head) on top of a de-limiter's weights.

    # training windows of a config (12 s), reduced to frame statistics with the model's gain
    python benchmarks/level_head.py collect --config delimit_real_slow_raw_mixed \
        --model results/candidates/s39_15 --items 1500 --out results/level_head/train.npz
    # the config's validation items, one file per design
    python benchmarks/level_head.py collect --config delimit_real_select --valid fast_limiter \
        --model results/candidates/s39_15 --out results/level_head/valid_fast_limiter.npz
    python benchmarks/level_head.py train --data results/level_head/train.npz \
        --valid results/level_head/valid_*.npz --out results/level_head/head.pt
    # outputs of the model with the head, beside the model's own in a run_eval work folder
    python benchmarks/level_head.py apply --head results/level_head/head.pt \
        --work results/eval_s31 --base s39_15 --name s39_head --sets alt_limiter ...

Validation lines: SI-SDR of the limited items without and with the head, and SI-SDR(output,
input) of the unlimited ones (mean and worst), as benchmarks/score_validation.py prints them.
"""
import argparse
import glob
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.run_eval import set_folders  # noqa: E402
from benchmarks.score_validation import validation_sets  # noqa: E402
from dataloader import build_datasets  # noqa: E402
from models import load_pretrained  # noqa: E402
from models.level_head import (  # noqa: E402
    FRAME,
    LevelHead,
    apply_head,
    frame_features,
    frame_levels,
    frame_stats,
    si_sdr_from_stats,
)
from utils.audio import read_audio, write_audio  # noqa: E402
from utils.inference.apply import model_gain  # noqa: E402
from utils.loudness import gain_between, integrated_loudness  # noqa: E402
from utils.training.config import load_config  # noqa: E402

UNLIMITED_DB = 60.0  # an item whose input is this close to its target was left unlimited


def reduce_item(model, limited, target):
    """Features, frame stats and the input's SI-SDR of one (limited, target) pair of tensors."""
    x, s = (t.numpy() for t in (limited, target))
    n = x.shape[1] // FRAME * FRAME
    x, s = x[:, :n], s[:, :n]
    y = x * model_gain(model, x)[0]
    cross, energy, power = frame_stats(s, y)
    xc, xe, _ = frame_stats(s, x)
    ones = torch.zeros(1, n // FRAME)
    input_sdr = float(si_sdr_from_stats(ones, *(torch.from_numpy(a)[None] for a in
                                               (xc, xe, power)), cap_db=200.0))
    return frame_levels(x, y), cross, energy, power, input_sdr


def collect(args):
    torch.set_num_threads(args.threads)
    model, _ = load_pretrained(args.model)
    model.eval()
    if args.valid:
        ns = argparse.Namespace(config=args.config, overrides=args.overrides,
                                designs=[args.valid], threads=args.threads)
        _, dataset, _, _ = next(iter(validation_sets(ns)))
        indices = range(len(dataset))
    else:
        config = load_config(args.config, [*args.overrides, f"data_params.seq_dur={args.seconds}",
                                           f"sys_params.num_threads={args.threads}"])
        dataset = build_datasets(config)[0]
        dataset.set_epoch(args.epoch)
        indices = range(args.items)
    rows = [reduce_item(model, *dataset[i][:2]) for i in tqdm(indices, desc="items")]
    levels, cross, energy, power, input_sdr = (np.stack(c) for c in zip(*rows))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp.npz"
    np.savez(tmp, levels=levels, cross=cross, energy=energy, power=power,
             input_sdr=input_sdr)
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(rows)} items, {levels.shape[-1]} frames each")


def load(path):
    with np.load(path) as data:
        loaded = {k: torch.from_numpy(data[k]) for k in data.files}
    loaded["features"] = frame_features(loaded["levels"])
    return loaded


def score(head, data):
    """SI-SDR per item (dB) with the head, and without it."""
    with torch.no_grad():
        c = head(data["features"])
        stats = (data["cross"], data["energy"], data["power"])
        return (si_sdr_from_stats(c.double(), *stats, cap_db=200.0).numpy(),
                si_sdr_from_stats(torch.zeros_like(c).double(), *stats, cap_db=200.0).numpy())


def report(head, valid):
    """A validation line per file: limited items without and with the head, unlimited ones."""
    def stats(values):
        return f"{values.mean():.3f} / {values.min():.2f}" if len(values) else "none"
    for path, data in valid.items():
        with_head, base = score(head, data)
        unlimited = data["input_sdr"].numpy() > UNLIMITED_DB
        lim = ~unlimited
        gain = with_head[lim].mean() - base[lim].mean() if lim.any() else float("nan")
        print(f"  {os.path.basename(path)}: limited {lim.sum()} (mean / worst): base "
              f"{stats(base[lim])}, head {stats(with_head[lim])} ({gain:+.3f} dB); unlimited "
              f"{unlimited.sum()}: base {stats(base[unlimited])}, head "
              f"{stats(with_head[unlimited])}", flush=True)


def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = load(args.data)
    valid = {p: load(p) for p in sorted(args.valid)}
    head = LevelHead()
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
    n = len(data["features"])
    print(f"{n} training items; {sum(p.numel() for p in head.parameters())} parameters")
    for step in range(1, args.steps + 1):
        batch = torch.randint(n, (args.batch_size,))
        c = head(data["features"][batch])
        sdr = si_sdr_from_stats(c.double(), data["cross"][batch], data["energy"][batch],
                                data["power"][batch], cap_db=args.cap_db)
        loss = -sdr.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.report_every == 0 or step == args.steps:
            print(f"step {step}: training SI-SDR {-loss.item():.3f}", flush=True)
            report(head, valid)
            torch.save(head.state_dict(), f"{args.out}.step{step}")
    torch.save(head.state_dict(), args.out)


def apply(args):
    head = LevelHead()
    head.load_state_dict(torch.load(args.head))
    head.eval()
    for set_name in args.sets:
        inputs, _ = set_folders(set_name, args.eval_root, args.real_root)
        base = os.path.join(args.work, set_name, f"{args.base}_audio")
        out = os.path.join(args.work, set_name, f"{args.name}_audio")
        os.makedirs(out, exist_ok=True)
        for path in tqdm(sorted(glob.glob(os.path.join(base, "*.wav"))), desc=set_name):
            name = os.path.basename(path)
            y, rate = read_audio(path)
            x, rate_x = read_audio(os.path.join(inputs, name))
            assert rate == rate_x == 44100 and x.shape == y.shape, name
            z, _ = apply_head(head, x, y)
            z = z * np.float32(gain_between(integrated_loudness(z, rate), -14.0))
            z = z / max(1.0, float(np.abs(z).max()))
            write_audio(os.path.join(out, name), z, rate, subtype="FLOAT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--config", required=True)
    c.add_argument("overrides", nargs="*")
    c.add_argument("--model", required=True)
    c.add_argument("--valid", default=None, help="a design: the config's validation items")
    c.add_argument("--items", type=int, default=1000)
    c.add_argument("--seconds", type=float, default=12.0)
    c.add_argument("--epoch", type=int, default=1000)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--out", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--valid", nargs="*", default=[])
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch_size", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--cap_db", type=float, default=50.0)
    t.add_argument("--report_every", type=int, default=250)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    a = sub.add_parser("apply")
    a.add_argument("--head", required=True)
    a.add_argument("--work", required=True)
    a.add_argument("--base", required=True)
    a.add_argument("--name", required=True)
    a.add_argument("--sets", nargs="+", required=True)
    a.add_argument("--eval_root", default="eval_data")
    a.add_argument("--real_root", default="eval_data/real")
    args = parser.parse_args()
    {"collect": collect, "train": train, "apply": apply}[args.command](args)


if __name__ == "__main__":
    main()
