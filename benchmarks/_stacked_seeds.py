"""Several seeds of one configuration: `bench.stacked.run_stacked` (one vmapped model) against `run_trial` once
per seed, end to end (set-up, training, per-epoch evaluation), on CIFAR-shaped tensors resident on the device.
Printed per precision: the samples/s of both, the speed-up, and how far the stacked seeds' results are from the
sequential ones (largest |difference| of any epoch's validation loss, and of the test accuracy).

In fp32 (TF32 off) both compute the same arithmetic and must agree to rounding. Under bf16 autocast the
stacked (batched) kernels accumulate in another order than the per-seed ones; training amplifies those
roundings, so the seeds end at other weights of the same quality: compare the test accuracies, not the weights.

    python benchmarks/_stacked_seeds.py --device cuda --seeds 8
"""
from __future__ import annotations

import argparse
import time

import torch

from bench.config import TrialConfig
from bench.data.base import DataBundle, Split
from bench.stacked import run_stacked
from bench.train import run_trial


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--n-train", type=int, default=8192)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--tiny", action="store_true", help="2 seeds, 384 samples, a narrow CNN: a smoke test")
    args = p.parse_args()
    args.model = {"width": 32, "depth": 2, "fc_width": 128}
    if args.tiny:
        args.seeds, args.n_train, args.epochs, args.model = 2, 384, 1, {"width": 4, "depth": 2, "fc_width": 8}
    return args


def cifar_like(n: int, device: str) -> DataBundle:
    g = torch.Generator().manual_seed(0)

    def split(m: int) -> Split:
        y = torch.randint(0, 10, (m,), generator=g)
        return Split(torch.randn(m, 3, 32, 32, generator=g) + y[:, None, None, None] * 0.1, y)

    return DataBundle(split(n), split(1000), split(1000), "classification", 10).to(torch.device(device))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def compare(args: argparse.Namespace, data: DataBundle, amp: bool) -> str:
    cfg = TrialConfig(workload="cifar10-cnn", **args.model, optimizer="momentum", lr=0.01, epochs=args.epochs,
                      batch_size=args.batch_size, probe_every=0, device=args.device, amp=amp)
    seeds = list(range(args.seeds))
    stacked, t_stacked = timed(lambda: run_stacked(cfg, seeds, data))
    seq, t_seq = timed(lambda: [run_trial(cfg.replace(seed=s), data=data) for s in seeds])
    val = max(abs(a["val_loss"] - b["val_loss"]) for x, y in zip(stacked, seq, strict=True)
              for a, b in zip(x.epochs, y.epochs, strict=True))
    acc = max(abs(x.final["test_acc"] - y.final["test_acc"]) for x, y in zip(stacked, seq, strict=True))
    samples = args.seeds * args.epochs * args.n_train
    return (f"{'bf16 autocast' if amp else 'fp32'}: sequential {samples / t_seq:.0f} samples/s, stacked "
            f"{samples / t_stacked:.0f} samples/s, speed-up {t_seq / t_stacked:.2f}x; stacked - sequential: "
            f"max |val loss| {val:.2e}, max |test acc| {acc:.4f}")


def main() -> None:
    args = parse_args()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 here
    data = cifar_like(args.n_train, args.device)
    print(f"{args.seeds} seeds of CNN {args.model} on {args.device}, batch {args.batch_size}, {args.epochs} "
          f"epoch(s) of {args.n_train} CIFAR-shaped samples, end to end:")
    print("  " + compare(args, data, amp=False))
    if args.device == "cuda":
        print("  " + compare(args, data, amp=True))


if __name__ == "__main__":
    main()
