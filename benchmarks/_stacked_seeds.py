"""Several seeds of one configuration trained as one stacked model (torch.func.vmap over the parameters) vs one
after another. Each seed keeps its own initialisation and its own batch order; SGD with momentum (the seed
tutorial's optimizer) updates elementwise, so one optimizer over the stacked parameters is exactly S
independent ones. Small models leave a GPU mostly idle;
stacking fills it. Printed: samples/s of both, the speed-up, and the largest difference between the stacked
and the sequential final weights (they must agree: same seeds, same batches, same arithmetic).

    python benchmarks/_stacked_seeds.py --device cuda --seeds 8
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap

from bench.config import TrialConfig
from bench.data.base import DataBundle, Split
from bench.models import build_model


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


def models_and_orders(args: argparse.Namespace, data: DataBundle) -> tuple[list[torch.nn.Module], torch.Tensor]:
    """One model per seed (initialised from that seed) and each seed's batch order for every epoch."""
    cfg = TrialConfig(**args.model)
    models = []
    for seed in range(args.seeds):
        torch.manual_seed(seed)
        models.append(build_model("cnn", cfg, data).to(args.device))
    g = torch.Generator().manual_seed(0)
    orders = torch.stack([torch.cat([torch.randperm(args.n_train, generator=g) for _ in range(args.epochs)])
                          for _ in range(args.seeds)])
    return models, orders.to(args.device)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def sequential(models: list[torch.nn.Module], orders: torch.Tensor, data: DataBundle, bs: int) -> float:
    x, y = data.train.x, data.train.y
    elapsed = 0.0
    for model, order in zip(models, orders, strict=True):
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for i in range(0, len(order) - bs + 1, bs):
            if i == bs:  # the first step of each model warms up kernels and allocator: not timed
                sync(x.device.type)
                t0 = time.perf_counter()
            idx = order[i:i + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(x.device.type)
        elapsed += time.perf_counter() - t0
    return elapsed


def stacked(models: list[torch.nn.Module], orders: torch.Tensor, data: DataBundle, bs: int) -> tuple[float, dict]:
    params, buffers = stack_module_state(models)  # leaf tensors with a leading seed dimension
    base = copy.deepcopy(models[0]).to("meta")

    def loss_fn(p: dict, b: dict, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    grads_of = vmap(grad(loss_fn))
    opt = torch.optim.SGD(params.values(), lr=0.01, momentum=0.9)
    x, y = data.train.x, data.train.y
    for i in range(0, orders.shape[1] - bs + 1, bs):
        if i == bs:  # the first step traces vmap and warms up kernels: not timed
            sync(x.device.type)
            t0 = time.perf_counter()
        idx = orders[:, i:i + bs]  # (seeds, batch): every seed its own batch
        for p, g in zip(params.values(), grads_of(params, buffers, x[idx], y[idx]).values(), strict=True):
            p.grad = g
        opt.step()
    sync(x.device.type)
    return time.perf_counter() - t0, params


def main() -> None:
    args = parse_args()
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (args.n_train,), generator=g)
    x = torch.randn(args.n_train, 3, 32, 32, generator=g) + y[:, None, None, None] * 0.1
    data = DataBundle(Split(x, y), Split(x[:1], y[:1]), Split(x[:1], y[:1]), "classification", 10).to(torch.device(args.device))
    models, orders = models_and_orders(args, data)
    t_stacked, params = stacked(copy.deepcopy(models), orders, data, args.batch_size)
    t_seq = sequential(models, orders, data, args.batch_size)
    with torch.no_grad():
        diff = max(float((params[name][s] - p).abs().max()) for s, m in enumerate(models) for name, p in m.named_parameters())
    samples = args.seeds * (orders.shape[1] // args.batch_size - 1) * args.batch_size  # the timed steps
    print(f"{args.seeds} seeds of CNN {args.model} on {args.device}, batch {args.batch_size}, {args.epochs} epoch(s) of "
          f"{args.n_train}: sequential {samples / t_seq:.0f} samples/s, stacked (vmap) {samples / t_stacked:.0f} samples/s, "
          f"speed-up {t_seq / t_stacked:.2f}x; max |stacked - sequential| weight difference {diff:.2e}")


if __name__ == "__main__":
    main()
