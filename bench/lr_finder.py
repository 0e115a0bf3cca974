"""The LR range test (Smith 2017): raise the LR exponentially for a few hundred steps, watch the loss.

The suggestion is the LR at the steepest descent of the smoothed loss, a common reading of Smith's
"largest LR where the loss still falls fast"; the curve itself is returned so the report can show it. Where the
smoothed loss never fell by MEANINGFUL_FALL of its starting value, the steepest descent is noise and
`unreliable` says so (e.g. SGD on MNIST-1D falling from 2.311 to 2.275 at most).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.config import TrialConfig
from bench.models import build_model
from bench.train import Trainer, pick_device, seed_everything
from bench.workloads import get_workload, load_data

MEANINGFUL_FALL = 0.10  # the smoothed loss must fall by a tenth of its start for the suggestion to mean something


def lr_range_test(cfg: TrialConfig, min_lr: float = 1e-6, max_lr: float = 10.0, steps: int = 200,
                  smooth: float = 0.9) -> tuple[pd.DataFrame, float]:
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    data = load_data(cfg).to(device)
    cfg = cfg.replace(lr=min_lr, schedule="constant", epochs=max(1, math.ceil(steps * cfg.batch_size / len(data.train))),
                      probe_every=0)
    model = build_model(get_workload(cfg.workload).model, cfg, data, get_workload(cfg.workload).cell).to(device)
    trainer = Trainer(cfg, data, model, device)
    rows, avg, best = [], 0.0, math.inf
    train = data.train
    for i, lr in enumerate(np.geomspace(min_lr, max_lr, steps)):
        for group in trainer.opt.param_groups:
            group["lr"] = float(lr)
        idx = np.random.default_rng(cfg.seed + i).choice(len(train), min(cfg.batch_size, len(train)), replace=False)
        loss = float(trainer.train_step(train.subset(idx), epoch=1))
        if not math.isfinite(loss):
            break
        avg = smooth * avg + (1 - smooth) * loss
        smoothed = avg / (1 - smooth ** (i + 1))  # bias-corrected, as in fastai
        rows.append({"lr": float(lr), "loss": loss, "smoothed_loss": smoothed})
        best = min(best, smoothed)
        if smoothed > 4 * best:
            break
    curve = pd.DataFrame(rows)
    return curve, suggest_lr(curve)


def suggest_lr(curve: pd.DataFrame) -> float:
    """LR of the steepest fall of the smoothed loss against log LR, before the minimum."""
    if len(curve) < 5:
        return float(curve["lr"].iloc[0]) if len(curve) else math.nan
    upto = int(curve["smoothed_loss"].idxmin()) + 1
    part = curve.iloc[:max(upto, 5)]
    slope = np.gradient(part["smoothed_loss"].to_numpy(), np.log(part["lr"].to_numpy()))
    return float(part["lr"].iloc[int(np.argmin(slope))])


def unreliable(curve: pd.DataFrame) -> str:
    """Why the curve's suggestion cannot be trusted (the loss never fell meaningfully); '' when it can."""
    if curve.empty:
        return "the loss was never finite"
    start, low = float(curve["smoothed_loss"].iloc[0]), float(curve["smoothed_loss"].min())
    fall = (start - low) / abs(start) if start else 0.0
    if fall < MEANINGFUL_FALL:
        return (f"the smoothed loss fell only {fall:.1%} ({start:.3f} -> {low:.3f}; under {MEANINGFUL_FALL:.0%}): the "
                "suggestion is unreliable; try more --steps, a wider --min-lr/--max-lr range or another optimizer")
    return ""
