"""Training FLOPs per sample and the machine's measured matmul peak, to report achieved FLOP/s as a fraction of it.

FLOPs are counted with torch.utils.flop_counter (matmuls and convolutions, the convention behind "model FLOPs
utilisation"), forward plus backward on a CPU copy of the model, once per architecture and input shape. The peak
is the best of several timed square matmuls on the device in the dtype training computes in, measured once per
process, device, dtype and torch thread count (a 1-thread trial is compared with a 1-thread peak).
"""
from __future__ import annotations

import copy
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

COUNT_SAMPLES = 32  # enough samples to average over variable-length sequences; cheap for any model here
_flops_cache: dict[tuple, float] = {}
_peak_cache: dict[tuple, float] = {}


def unwrap(model: nn.Module) -> nn.Module:
    """The eager module behind a torch.compile wrapper (FLOP counting and probes need the original)."""
    return getattr(model, "_orig_mod", model)


def _signature(model: nn.Module, x: torch.Tensor) -> tuple:
    params = tuple((name, tuple(p.shape), p.requires_grad) for name, p in model.named_parameters())
    modules = tuple(type(m).__name__ for m in model.modules())
    return type(model).__qualname__, modules, params, tuple(x.shape[1:]), x.dtype


def train_flops_per_sample(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor | None = None) -> float:
    """Matmul/conv FLOPs of one forward+backward pass per sample, counted on a copy (the model is left untouched).

    The backward is measured rather than assumed to be 2x the forward: the first layer computes no input
    gradient, which makes the usual 3x rule overstate small models.
    """
    model = unwrap(model)
    x, lengths = x[:COUNT_SAMPLES], None if lengths is None else lengths[:COUNT_SAMPLES]
    key = (_signature(model, x), None if lengths is None else tuple(lengths.tolist()))
    if key not in _flops_cache:
        clone = copy.deepcopy(model).cpu().float()
        with torch.random.fork_rng(devices=[]), FlopCounterMode(display=False) as counter:
            inputs = x.cpu() if not x.is_floating_point() else x.cpu().float()
            out = clone(inputs, None if lengths is None else lengths.cpu())
            out.float().sum().backward()  # the loss's own gradient is elementwise: no matmul FLOPs
        _flops_cache[key] = counter.get_total_flops() / len(x)
    return _flops_cache[key]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_matmul_peak(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> float:
    """Best achieved FLOP/s of an n x n matmul on this device over ~0.1 s of repetitions (not cached)."""
    device = torch.device(device)
    # Large enough to saturate the device, small enough to be quick; several matmuls per timing on a GPU
    # so that launch latency is not part of the measurement.
    n, inner = (8192, 5) if device.type == "cuda" else (512, 1)
    # A private generator: drawing from the global one would shift the dropout masks of the trial that measures
    # the peak (the first of each process), so a trial's result would depend on which process it ran in.
    gen = torch.Generator(device=device).manual_seed(0)
    a, b = (torch.randn(n, n, device=device, dtype=dtype, generator=gen) for _ in range(2))
    out = torch.mm(a, b)  # warm-up: library initialisation and clock ramp-up are not the peak
    best, deadline = 0.0, time.perf_counter() + 0.1
    for rep in range(200):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b, out=out)
        _sync(device)
        best = max(best, inner * 2 * n ** 3 / (time.perf_counter() - t0))
        if rep >= 5 and time.perf_counter() > deadline:
            break  # best-of-N: other processes on a shared machine only ever slow a repetition down
    return best


def matmul_peak(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> float:
    """measure_matmul_peak, measured once per process, device, dtype and torch thread count."""
    key = (str(torch.device(device)), dtype, torch.get_num_threads())
    if key not in _peak_cache:
        _peak_cache[key] = measure_matmul_peak(device, dtype)
    return _peak_cache[key]
