"""REGULARIZERS registry: each entry names the TrialConfig fields that switch it on and where it acts.

Regularizers are not objects threaded through the loop: each is a config setting read at one place
(optimizer build, model build, loss, or the step). The registry makes them listable, sweepable and testable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.config import TrialConfig

if TYPE_CHECKING:  # the step functions import torch when they run, so that `bench list regularizers` does not load it
    import torch


@dataclass(frozen=True)
class RegularizerSpec:
    name: str
    settings: dict[str, Any]  # TrialConfig overrides that switch it on at a typical strength
    acts_in: str  # optimizer | model | loss | step | loop | data
    description: str


REGULARIZERS: dict[str, RegularizerSpec] = {
    "none": RegularizerSpec("none", {}, "-", "no regularization"),
    "l2": RegularizerSpec("l2", {"weight_decay": 5e-4, "wd_mode": "coupled"}, "optimizer",
                          "coupled L2: weight_decay * w added to the gradient"),
    "weight_decay": RegularizerSpec("weight_decay", {"weight_decay": 5e-4, "wd_mode": "decoupled"}, "step",
                                    "decoupled weight decay: w <- w - lr * weight_decay * w"),
    "dropout": RegularizerSpec("dropout", {"dropout": 0.3}, "model", "dropout before each hidden linear layer"),
    "batch_norm": RegularizerSpec("batch_norm", {"batch_norm": True}, "model",
                                  "batch normalization after each conv/linear"),
    "clip_norm": RegularizerSpec("clip_norm", {"clip_norm": 1.0}, "step",
                                 "rescale the gradient to global norm <= clip_norm"),
    "clip_value": RegularizerSpec("clip_value", {"clip_value": 0.5}, "step",
                                  "clamp each gradient entry to +-clip_value"),
    "weight_clip": RegularizerSpec("weight_clip", {"weight_clip": 1.0}, "step",
                                   "clamp each weight to +-weight_clip after the step"),
    "label_smoothing": RegularizerSpec("label_smoothing", {"label_smoothing": 0.1}, "loss",
                                       "mix targets with the uniform distribution"),
    "early_stopping": RegularizerSpec("early_stopping", {"early_stop": 3}, "loop",
                                      "stop after early_stop epochs without validation-loss progress"),
    "augment": RegularizerSpec("augment", {"augment": True}, "data",
                               "the workload's data augmentation (if it has one)"),
}


def clip_gradients(params: list[torch.nn.Parameter], cfg: TrialConfig) -> float:
    """Clip by value and/or norm; returns the global gradient norm before norm clipping (inf if off)."""
    import torch

    if cfg.clip_value > 0:
        torch.nn.utils.clip_grad_value_(params, cfg.clip_value)
    if cfg.clip_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, cfg.clip_norm))
    return float("nan")


def clip_weights(params: list[torch.nn.Parameter], cfg: TrialConfig) -> None:
    import torch

    if cfg.weight_clip > 0:
        with torch.no_grad():
            for p in params:
                p.clamp_(-cfg.weight_clip, cfg.weight_clip)
