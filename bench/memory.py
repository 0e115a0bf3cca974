"""Memory estimates that refuse a trial the machine cannot hold before anything is allocated: a width of 10^8,
a CNN 60 blocks deep (its channels double per block) or a sequence of 10^9 steps ends in one line naming the
size and what to shrink, not in an allocation failure, a swap storm or the out-of-memory killer."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bench.config import ConfigError

if TYPE_CHECKING:
    import torch

BYTES = 4  # float32
# Per parameter: the weight, its gradient and up to two optimiser moments (Adam); per activation value: the value
# kept for the backward pass and its gradient.
PER_PARAM, PER_ACTIVATION = 4 * BYTES, 2 * BYTES


def device_bytes(device: torch.device | str = "cpu") -> int:
    """The memory a trial on `device` can at most use: the GPU's, else this machine's physical memory."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(what: str, need: float, device: torch.device | str, fix: str) -> None:
    """Refuse `what` when its estimated bytes exceed the device's memory."""
    if need == float("inf"):
        raise ConfigError(f"{what} is too large for any machine (its tensor sizes overflow 64 bits); {fix}")
    have = device_bytes(device)
    if need > have:
        raise ConfigError(f"{what} needs about {_gb(need)} of memory, more than the {_gb(have)} of "
                          f"{torch_name(device)}; {fix}")


def torch_name(device: torch.device | str) -> str:
    return "this machine" if str(device).startswith("cpu") else str(device)


def _gb(n: float) -> str:
    return f"{n / 2**30:,.1f} GB" if n < 2**70 else f"{n:.1e} bytes"
