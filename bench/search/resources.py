"""How much of a GPU each sweep trial gets: `--gpus-per-trial auto` packs trials onto each GPU.

Small models leave a GPU mostly idle, so several trials share one. How many is decided from one short trial
of the sweep measured on a GPU of the cluster: its peak memory (every trial holds its own copy of the data on
the device) and the fraction of the GPU's matmul peak it reaches alone. Trials per GPU are then bounded by
memory, by throughput (trials that each use a fraction f of the GPU: about 1/(2f) of them before they slow each
other), by the CPUs that feed each GPU, and by MAX_PER_GPU. Without a GPU every trial trains on CPUs.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.config import ConfigError, TrialConfig
from bench.status import TrialStatus

MAX_PER_GPU = 16
MEMORY_USE = 0.85  # of a GPU's memory, leaving room for the allocator's fragmentation
CONTEXT_BYTES = 600 * 2**20  # a CUDA context and cuDNN/cuBLAS workspaces, per trial process
TARGET_UTILISATION = 0.5  # of the matmul peak: past it, trials added to a GPU mostly wait for each other
PROBE_STEPS = 30


@dataclass(frozen=True)
class Footprint:
    """One trial alone on a GPU."""
    peak_bytes: int
    gpu_bytes: int
    peak_fraction: float  # achieved FLOP/s over the GPU's measured matmul peak


def parse_gpus_per_trial(value: str | float) -> float | str:
    """`auto` or a number >= 0."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not number >= 0:
        raise ConfigError(f"--gpus-per-trial must be 'auto' or a number >= 0 (e.g. 0.25), got {value!r}")
    return number


def trials_per_gpu(fp: Footprint, cpus_per_gpu: float, cpus_per_trial: float) -> tuple[int, str]:
    """How many trials share one GPU, and which bound decided it."""
    bounds = {
        "memory": int(MEMORY_USE * fp.gpu_bytes // (fp.peak_bytes + CONTEXT_BYTES)),
        "throughput": int(TARGET_UTILISATION / fp.peak_fraction) if fp.peak_fraction > 0 else MAX_PER_GPU,
        "CPUs": int(cpus_per_gpu // cpus_per_trial),
        "cap": MAX_PER_GPU,
    }
    bound = min(bounds, key=bounds.get)
    return max(1, bounds[bound]), bound


def measure_footprint(cfg: TrialConfig) -> Footprint:
    """Train PROBE_STEPS steps of `cfg` on this process's GPU and measure it (runs in a Ray task with a GPU)."""
    import torch

    from bench.train import run_trial

    torch.cuda.reset_peak_memory_stats()
    result = run_trial(cfg.replace(device="cuda", epochs=1, max_steps=PROBE_STEPS, probe_every=0))
    if result.status == TrialStatus.ERROR:
        raise RuntimeError(result.error)
    return Footprint(torch.cuda.max_memory_allocated(), torch.cuda.get_device_properties(0).total_memory,
                     float(result.final.get("peak_fraction", 0.0)))


def resolve_gpus_per_trial(request: float | str, resources: dict[str, float], cfg: TrialConfig,
                           cpus_per_trial: float, measure: Callable[[TrialConfig], Footprint],
                           log: Callable[[str], None]) -> tuple[float, dict[str, Any]]:
    """The GPU share of each trial for `request` on a cluster with `resources`, and what it was based on."""
    gpus = resources.get("GPU", 0.0)
    if request != "auto":
        return float(request), {"gpus_per_trial": float(request), "chosen_by": "--gpus-per-trial"}
    if gpus < 1:
        log("no GPU in the Ray cluster: trials train on CPUs")
        return 0.0, {"gpus_per_trial": 0.0, "chosen_by": "auto: no GPU"}
    fp = measure(cfg)
    k, bound = trials_per_gpu(fp, resources.get("CPU", 0.0) / gpus, cpus_per_trial)
    log(f"--gpus-per-trial auto: {k} trial{'s' * (k > 1)} per GPU ({1 / k:.3g} GPU each, limited by {bound}): one "
        f"{cfg.workload} trial alone peaks at {fp.peak_bytes / 2**30:.2f} GiB of {fp.gpu_bytes / 2**30:.0f} GiB and "
        f"reaches {fp.peak_fraction:.1%} of the matmul peak")
    return 1 / k, {"gpus_per_trial": 1 / k, "chosen_by": f"auto: {bound}", "trials_per_gpu": k,
                   "probe_peak_bytes": fp.peak_bytes, "probe_peak_fraction": fp.peak_fraction}


def measure_on_cluster(cfg: TrialConfig) -> Footprint:
    """measure_footprint in a Ray task holding one whole GPU of the cluster."""
    import ray

    return ray.get(ray.remote(num_gpus=1)(measure_footprint).remote(cfg))
