"""SCHEDULES registry: learning-rate schedules stepped once per optimiser step (plateau: once per epoch)."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.config import TrialConfig
from bench.registry import lookup

if TYPE_CHECKING:  # the builders import torch when they run, so that `bench list schedules` does not load it
    import torch
    from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

# factor(step, total_steps, cfg) -> multiplier of cfg.lr
Factor = Callable[[int, int, TrialConfig], float]


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    build: Callable[[torch.optim.Optimizer, TrialConfig, int], LRScheduler | ReduceLROnPlateau]
    per_epoch: bool = False  # stepped on validation loss at epoch end
    hyperparams: tuple[str, ...] = ()
    description: str = ""


def constant(step: int, total: int, cfg: TrialConfig) -> float:
    return 1.0


def step_decay(step: int, total: int, cfg: TrialConfig) -> float:
    every = max(1, round(cfg.step_frac * total))
    return cfg.lr_gamma ** (step // every)


def exponential(step: int, total: int, cfg: TrialConfig) -> float:
    return cfg.lr_gamma ** (step / max(1, total))  # reaches lr * gamma at the last step


def cosine(step: int, total: int, cfg: TrialConfig) -> float:
    return 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))


def warmup_length(total: int, cfg: TrialConfig) -> int:
    """Steps of linear warm-up: warmup_steps where given (a fixed length: what an adaptive method's first steps
    need does not grow with the budget), else warmup_frac of the `total` steps; at least 1, at most `total`."""
    return max(1, min(total, cfg.warmup_steps) if cfg.warmup_steps else round(cfg.warmup_frac * total))


def warmup_cosine(step: int, total: int, cfg: TrialConfig) -> float:
    warm = warmup_length(total, cfg)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(step - warm, total - warm) / max(1, total - warm)))


def _lambda(factor: Factor):
    def build(opt: torch.optim.Optimizer, cfg: TrialConfig, total: int) -> LRScheduler:
        from torch.optim.lr_scheduler import LambdaLR

        return LambdaLR(opt, lambda s: factor(s, total, cfg))
    return build


def _one_cycle(opt: torch.optim.Optimizer, cfg: TrialConfig, total: int) -> LRScheduler:
    from torch.optim.lr_scheduler import OneCycleLR

    # cycle_momentum would overwrite the tuned momentum/beta1 of the optimizer under study; keep it fixed.
    total = max(2, total)
    share = warmup_length(total, cfg) / total if cfg.warmup_steps else cfg.warmup_frac
    return OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=max(share, 0.01), cycle_momentum=False)


def _plateau(opt: torch.optim.Optimizer, cfg: TrialConfig, total: int) -> ReduceLROnPlateau:
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    return ReduceLROnPlateau(opt, mode="min", factor=cfg.lr_gamma, patience=2)


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec("constant", _lambda(constant), description="lr throughout"),
    "step": ScheduleSpec("step", _lambda(step_decay), hyperparams=("lr_gamma", "step_frac"),
                         description="multiply by lr_gamma every step_frac of training"),
    "exponential": ScheduleSpec("exponential", _lambda(exponential), hyperparams=("lr_gamma",),
                                description="smooth decay reaching lr*lr_gamma at the end"),
    "cosine": ScheduleSpec("cosine", _lambda(cosine), description="cosine annealing to 0 (Loshchilov & Hutter 2017)"),
    "onecycle": ScheduleSpec("onecycle", _one_cycle, hyperparams=("warmup_frac",),
                             description="one-cycle policy peaking at lr (Smith & Topin 2019)"),
    "warmup_cosine": ScheduleSpec("warmup_cosine", _lambda(warmup_cosine), hyperparams=("warmup_frac",),
                                  description="linear warm-up over warmup_frac (or warmup_steps), then cosine to 0"),
    "plateau": ScheduleSpec("plateau", _plateau, per_epoch=True, hyperparams=("lr_gamma",),
                            description="multiply by lr_gamma after 2 epochs without validation-loss progress"),
}


def build_schedule(opt: torch.optim.Optimizer, cfg: TrialConfig, total_steps: int):
    return lookup(SCHEDULES, "schedule", cfg.schedule).build(opt, cfg, total_steps)
