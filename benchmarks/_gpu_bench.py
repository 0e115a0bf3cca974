"""GPU throughput of run_trial on the CIFAR-shaped seed CNN: batch sizes 128..4096, eager and torch.compile.

Synthetic tensors (no download) resident on the device; bf16 autocast and channels_last as run_trial applies
them on CUDA. Each configuration trains two epochs; the second is reported (the first includes compilation
and cuDNN autotuning). Printed per configuration: samples/s, achieved TFLOP/s and its fraction of the measured
bf16 matmul peak, and the peak GPU memory. Called by gpu_check.sh; `--device cpu --tiny` exercises the same
code on a machine without a GPU.
"""
from __future__ import annotations

import argparse
import functools
import time

import torch

from bench.config import TrialConfig
from bench.data.base import DataBundle, Split
from bench.train import run_trial

BATCH_SIZES = (128, 256, 512, 1024, 2048, 4096)
SEED_CNN = {"width": 32, "depth": 2, "fc_width": 128, "activation": "relu"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--n-train", type=int, default=49152, help="a multiple of 4096: every batch size divides it")
    p.add_argument("--budget-s", type=float, default=200, help="configurations left when this runs out are skipped")
    p.add_argument("--compile-backend", default="inductor",
                   help="torch.compile backend; 'eager' skips code generation (smoke tests on CPU)")
    p.add_argument("--tiny", action="store_true", help="a narrow CNN, 128 samples, batch size 128: a smoke test")
    args = p.parse_args()
    args.batch_sizes, args.model = BATCH_SIZES, SEED_CNN
    if args.tiny:
        args.batch_sizes, args.n_train, args.model = BATCH_SIZES[:1], 128, {**SEED_CNN, "width": 4, "fc_width": 8}
    return args


def synthetic_cifar(n_train: int, n_eval: int, device: str) -> DataBundle:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n_train + n_eval,), generator=g)
    x = torch.randn(n_train + n_eval, 3, 32, 32, generator=g) + y[:, None, None, None] * 0.1  # learnable
    train, held_out = Split(x[:n_train], y[:n_train]), Split(x[n_train:], y[n_train:])
    return DataBundle(train, held_out, held_out, "classification", 10).to(torch.device(device))


def measure(model: dict, batch_size: int, compiled: bool, data: DataBundle, device: str) -> dict[str, float | str]:
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    cfg = TrialConfig(workload="mnist1d-cnn", **model, optimizer="adam", lr=1e-3, epochs=2, batch_size=batch_size,
                      device=device, compile=compiled)  # the workload name only selects the CNN family
    result = run_trial(cfg, data=data)
    if result.status != "ok":
        raise RuntimeError(f"batch {batch_size} compile={compiled}: {result.status} {result.error}")
    row = result.epochs[-1]
    memory = f"{torch.cuda.max_memory_allocated() / 2 ** 30:.2f}" if device == "cuda" else "n/a"
    return {"samples_per_sec": row["samples_per_sec"], "tflops": row["flops_per_sec"] / 1e12,
            "peak_fraction": row["peak_fraction"], "memory_gib": memory, "wall": result.final["wall_time"]}


def main() -> None:
    args = parse_args()
    torch.compile = functools.partial(torch.compile, backend=args.compile_backend)
    if args.device == "cuda":
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    data = synthetic_cifar(args.n_train, 64 if args.tiny else 4096, args.device)
    print(f"CNN {args.model} on 3x32x32, {args.n_train} resident samples, adam, bf16 autocast on CUDA; 2nd epoch reported")
    print(f"{'compile':<8}{'batch':>6}{'samples/s':>12}{'TFLOP/s':>9}{'of peak':>9}{'GPU mem GiB':>12}{'trial s':>9}")
    deadline = time.perf_counter() + args.budget_s
    for compiled in (False, True):
        for bs in args.batch_sizes:
            if time.perf_counter() > deadline:
                print(f"{str(compiled):<8}{bs:>6}  skipped: the {args.budget_s:.0f} s budget is spent")
                continue
            r = measure(args.model, bs, compiled, data, args.device)
            print(f"{str(compiled):<8}{bs:>6}{r['samples_per_sec']:>12.0f}{r['tflops']:>9.2f}{r['peak_fraction']:>9.1%}"
                  f"{r['memory_gib']:>12}{r['wall']:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
