"""Training-loop speed: bench's run_trial vs a bare PyTorch loop vs the seed tutorial's DataLoader loop.

All three train the same CNN (the seed's: 2 conv + pool blocks of 32 and 64 channels, then 128 and 10 units) on
the same CIFAR-shaped data, written to a temporary folder in CIFAR-10's on-disk format, with the same optimizer
and batch size, side by side in one process. Rounds are interleaved (a b c, b c a, ...) and each ends with a
measurement of the fp32 matmul peak; ratios are taken within a round (seconds apart) and their median over the
rounds is reported, because other load on a shared machine changes from minute to minute. Printed: samples/s,
achieved FLOP/s and its fraction of the peak, and the ratios (a)/(b) and (a)/(c).

    python benchmarks/train_loop.py                 # 5000 samples, 5 rounds
    python benchmarks/train_loop.py --tiny          # a few seconds: checks that everything runs
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from _bare import bare_train
from _cifar_files import MEAN, STD, LocalCIFAR10, read_tensors, write_cifar10
from torch.utils.data import DataLoader
from torchvision import transforms

from bench.config import TrialConfig
from bench.data.base import DataBundle, Split
from bench.flops import measure_matmul_peak, train_flops_per_sample
from bench.models import build_model
from bench.train import run_trial, seed_everything
from bench.workloads import WORKLOADS

SEED_MODEL = {"width": 32, "depth": 2, "fc_width": 128, "activation": "relu"}
SEED_OPTIMIZER = {"optimizer": "momentum", "lr": 1e-3, "momentum": 0.9}  # the seed's SGD(lr=0.001, momentum=0.9)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=5000, help="training samples (written as 5 CIFAR batches)")
    p.add_argument("--batch-size", type=int, default=100, help="the seed tutorial uses 100")
    p.add_argument("--epochs", type=int, default=1, help="epochs per competitor per round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved repetitions; medians are reported")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--tiny", action="store_true", help="a few hundred samples, one round: a smoke test")
    args = p.parse_args()
    if args.tiny:
        args.n_train, args.epochs, args.rounds = 200, 1, 1
    return args


def trial_config(args: argparse.Namespace) -> TrialConfig:
    # The workload only selects the model family (cnn); the data are passed in directly.
    workload = "cifar10-cnn" if "cifar10-cnn" in WORKLOADS else "mnist1d-cnn"
    return TrialConfig(workload=workload, **SEED_MODEL, **SEED_OPTIMIZER, epochs=args.epochs,
                       batch_size=args.batch_size, device="cpu", threads=args.threads)


def run_bench(cfg: TrialConfig, data: DataBundle) -> dict[str, float]:
    """(a) run_trial with its defaults (probes, per-epoch evaluation of train/val/test)."""
    t0 = time.perf_counter()
    result = run_trial(cfg, data=data)
    wall = time.perf_counter() - t0
    if result.status != "ok":
        raise RuntimeError(f"run_trial ended {result.status}: {result.error}")
    trained = sum(row["samples_per_sec"] * row["epoch_time"] for row in result.epochs)
    return {"loop": trained / sum(row["epoch_time"] for row in result.epochs), "end_to_end": trained / wall}


def run_bare(cfg: TrialConfig, data: DataBundle) -> dict[str, float]:
    """(b) The loop anyone would write over in-memory tensors: shuffle indices, slice, step."""
    seed_everything(cfg.seed)
    model = build_model("cnn", cfg, data)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    n = len(data.train)
    t0 = time.perf_counter()
    bare_train(model, opt, data.train.x, data.train.y, cfg.epochs, cfg.batch_size)
    rate = cfg.epochs * n / (time.perf_counter() - t0)
    return {"loop": rate, "end_to_end": rate}


def run_seed(cfg: TrialConfig, data: DataBundle, root: Path) -> dict[str, float]:
    """(c) The seed tutorial's loop: torchvision dataset, ToTensor + Normalize per image, 2 loader workers."""
    seed_everything(cfg.seed)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,) * 3, (STD,) * 3)])
    loader = DataLoader(LocalCIFAR10(str(root), train=True, transform=transform), batch_size=cfg.batch_size,
                        shuffle=True, num_workers=2)
    model = build_model("cnn", cfg, data)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    seen, t0 = 0, time.perf_counter()
    for _ in range(cfg.epochs):
        for inputs, labels in loader:
            loss = F.cross_entropy(model(inputs), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(labels)
    rate = seen / (time.perf_counter() - t0)
    return {"loop": rate, "end_to_end": rate}


def interleaved(runs: dict[str, Callable[[], dict[str, float]]], rounds: int) -> list[dict[str, dict[str, float]]]:
    """Per round: each competitor once, in a rotating order, then the matmul peak. Other load on a shared
    machine changes from minute to minute, so figures are compared within a round (seconds apart)."""
    names, results = list(runs), []
    for r in range(rounds):
        row = {name: runs[name]() for name in names[r % len(names):] + names[:r % len(names)]}
        row["peak"] = {"flops": measure_matmul_peak("cpu")}
        results.append(row)
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{n} {row[n]['loop']:.0f}" for n in names) + " samples/s; "
              f"peak {row['peak']['flops'] / 1e9:.1f} GFLOP/s; load average {os.getloadavg()[0]:.1f}", flush=True)
    return results


def median(rounds: list[dict[str, dict[str, float]]], value: Callable[[dict], float]) -> float:
    return statistics.median(value(row) for row in rounds)


def report(rounds: list[dict[str, dict[str, float]]], flops: float, args: argparse.Namespace) -> None:
    print(f"\nseed CNN on 3x32x32, batch {args.batch_size}, {args.n_train} samples x {args.epochs} epoch(s), "
          f"medians over {args.rounds} rounds of within-round figures, torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs")
    print(f"training FLOPs per sample (fwd+bwd): {flops / 1e6:.2f} M; measured fp32 matmul peak: "
          f"{median(rounds, lambda r: r['peak']['flops']) / 1e9:.1f} GFLOP/s")
    print(f"{'':<26}{'samples/s':>10}{'GFLOP/s':>9}{'of peak':>9}")
    rows = (("a_bench", "loop", "(a) run_trial, loop"), ("b_bare", "loop", "(b) bare loop"),
            ("c_seed", "loop", "(c) seed DataLoader"), ("a_bench", "end_to_end", "(a) run_trial, end to end"))
    for name, key, label in rows:
        rate = median(rounds, lambda r, n=name, k=key: r[n][k])
        fraction = median(rounds, lambda r, n=name, k=key: r[n][k] * flops / r["peak"]["flops"])
        print(f"{label:<26}{rate:>10.0f}{rate * flops / 1e9:>9.1f}{fraction:>9.0%}")
    print("(end to end includes setup and the per-epoch train/val and final test evaluation)")
    ratio = lambda a, b, key="loop": median(rounds, lambda r: r[a][key] / r[b]["loop"])
    print(f"\n(a)/(b) = {ratio('a_bench', 'b_bare'):.3f}  (goal >= 0.95)   end to end: "
          f"{ratio('a_bench', 'b_bare', 'end_to_end'):.3f}")
    print(f"(a)/(c) = {ratio('a_bench', 'c_seed'):.3f}  (goal >= 1.4)    end to end: "
          f"{ratio('a_bench', 'c_seed', 'end_to_end'):.3f}")
    print(f"(b)/(c) = {ratio('b_bare', 'c_seed'):.3f}")


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = trial_config(args)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_cifar10(Path(tmp), args.n_train, max(100, args.n_train // 5))
        train, test = Split(*read_tensors(root, train=True)), Split(*read_tensors(root, train=False))
        # run_trial evaluates on val and test each epoch; both are the test batch here (speed, not accuracy).
        data = DataBundle(train, test, test, "classification", 10)
        flops = train_flops_per_sample(build_model("cnn", cfg, data), train.x)
        rounds = interleaved({"a_bench": lambda: run_bench(cfg, data), "b_bare": lambda: run_bare(cfg, data),
                              "c_seed": lambda: run_seed(cfg, data, root)}, args.rounds)
    report(rounds, flops, args)


if __name__ == "__main__":
    main()
