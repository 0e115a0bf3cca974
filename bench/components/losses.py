"""LOSSES registry: each loss maps (model output, targets) to a scalar for the tasks it supports."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.config import ConfigError
from bench.registry import lookup

if TYPE_CHECKING:  # each loss imports torch when it runs, so that `bench list losses` does not load it
    import torch

LossFn = Callable[["torch.Tensor", "torch.Tensor", int, float], "torch.Tensor"]  # (out, y, num_classes, smoothing)


@dataclass(frozen=True)
class LossSpec:
    name: str
    fn: LossFn
    tasks: tuple[str, ...]
    description: str = ""


def _one_hot(y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    import torch.nn.functional as F

    target = F.one_hot(y, num_classes).float().movedim(-1, 1)  # classes on dim 1, like the logits (N, C[, T])
    return target * (1 - smoothing) + smoothing / num_classes


def cross_entropy(out: torch.Tensor, y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    import torch.nn.functional as F

    return F.cross_entropy(out.float(), y, label_smoothing=smoothing)


def mse(out: torch.Tensor, y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    out = out.float()
    if y.dtype == torch.long:  # classification: squared error of the logits against one-hot targets
        return F.mse_loss(out, _one_hot(y, num_classes, smoothing))
    return F.mse_loss(out.squeeze(-1), y)


def bce(out: torch.Tensor, y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    out = out.float()
    if y.dtype == torch.long:
        return F.binary_cross_entropy_with_logits(out, _one_hot(y, num_classes, smoothing))
    target = y * (1 - smoothing) + 0.5 * smoothing
    return F.binary_cross_entropy_with_logits(out.squeeze(-1), target)


def tanh_mse(out: torch.Tensor, y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """A tanh output unit for binary targets: squared error of tanh(out) against -1/+1 (LeCun et al. 1998's
    recipe). The decision stays out > 0, as for the sigmoid unit."""
    import torch
    import torch.nn.functional as F

    target = (2 * y.float() - 1) * (1 - smoothing)
    return F.mse_loss(torch.tanh(out.float().squeeze(-1)), target)


def linear_mse(out: torch.Tensor, y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """A linear output unit for binary targets: squared error of the raw output against -1/+1, so that the
    decision out > 0 sits half-way between the targets (against 0/1 targets it would not)."""
    import torch.nn.functional as F

    target = (2 * y.float() - 1) * (1 - smoothing)
    return F.mse_loss(out.float().squeeze(-1), target)


def mae(out: torch.Tensor, y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """Absolute error of a regression output (the median, not the mean, minimizes it)."""
    import torch.nn.functional as F

    return F.l1_loss(out.float().squeeze(-1), y)


HUBER_DELTA = 0.1  # below the adding problem's typical error (targets in [0, 2]): at PyTorch's 1.0 it would be MSE / 2


def huber(out: torch.Tensor, y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """Huber loss of a regression output: squared error below HUBER_DELTA, absolute error beyond (Huber 1964)."""
    import torch.nn.functional as F

    return F.huber_loss(out.float().squeeze(-1), y, delta=HUBER_DELTA)


LOSSES: dict[str, LossSpec] = {
    "ce": LossSpec("ce", cross_entropy, ("classification",), "softmax cross-entropy"),
    "mse": LossSpec("mse", mse, ("classification", "regression", "binary"),
                    "squared error (one-hot targets for classification; Hui & Belkin 2021)"),
    "bce": LossSpec("bce", bce, ("binary", "classification"), "sigmoid + binary cross-entropy on logits"),
    "tanh_mse": LossSpec("tanh_mse", tanh_mse, ("binary",), "tanh output unit + squared error against -1/+1 targets"),
    "linear_mse": LossSpec("linear_mse", linear_mse, ("binary",),
                           "linear output unit + squared error against -1/+1 targets"),
    "mae": LossSpec("mae", mae, ("regression",), "absolute error (L1) of a regression output"),
    "huber": LossSpec("huber", huber, ("regression",), f"Huber loss, delta {HUBER_DELTA:g}: squared error below it, "
                      "absolute beyond"),
}

DEFAULT_LOSS = {"classification": "ce", "binary": "bce", "regression": "mse"}


def resolve_loss(name: str, task: str) -> LossSpec:
    spec = lookup(LOSSES, "loss", DEFAULT_LOSS[task] if name == "auto" else name)
    if task not in spec.tasks:
        raise ConfigError(f"loss {spec.name!r} does not fit a {task} task; use one of: "
                          f"{', '.join(n for n, s in LOSSES.items() if task in s.tasks)}")
    return spec
