"""run_trial: train and evaluate one model from one TrialConfig. Knows nothing of Ray, Optuna or the CLI."""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.components.losses import resolve_loss
from bench.components.optimizers import apply_decoupled_decay, build_optimizer
from bench.components.regularizers import clip_gradients, clip_weights
from bench.components.schedules import SCHEDULES, build_schedule
from bench.config import ConfigError, TrialConfig
from bench.data.base import DataBundle, Split
from bench.metrics import evaluate
from bench.models import build_model
from bench.probes import GradientProbe
from bench.workloads import get_workload, load_data

Reporter = Callable[[dict[str, Any]], None]


@dataclass
class TrialResult:
    config: dict[str, Any]
    status: str  # "ok" | "diverged" | "error"
    final: dict[str, float] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    gradients: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Diverged(Exception):
    """Raised inside the loop when the training loss stops being finite."""


@dataclass
class Trainer:
    """The state of one trial's training; `fit` runs it epoch by epoch."""
    cfg: TrialConfig
    data: DataBundle
    model: nn.Module
    device: torch.device
    report: Reporter | None = None

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.loss_spec = resolve_loss(cfg.loss, self.data.task)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = build_optimizer(self.params, cfg)
        n = len(self.data.train)
        self.steps_per_epoch = max(1, n // cfg.batch_size + (1 if n % cfg.batch_size >= 2 else 0))
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.sched = build_schedule(self.opt, cfg, self.total_steps)
        self.per_epoch_sched = SCHEDULES[cfg.schedule].per_epoch
        self.probe = GradientProbe(self.model, cfg.probe_every)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.step = 0
        self.epochs: list[dict[str, Any]] = []
        self.amp = cfg.amp and self.device.type == "cuda"

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_spec.fn(out, y, self.data.num_classes, self.cfg.label_smoothing)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return self.model(x, lengths)

    def train_step(self, batch: Split, epoch: int) -> torch.Tensor:
        x = batch.x
        if self.cfg.augment:
            x = self.data.augment(x, self.gen)
        out = self.forward(x, batch.lengths)
        loss = self.loss(out, batch.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.params, self.cfg)
        self.step += 1
        if self.probe.due(self.step):
            self.probe.record(self.step, epoch)
        apply_decoupled_decay(self.opt, self.cfg)
        self.opt.step()
        clip_weights(self.params, self.cfg)
        if not self.per_epoch_sched and self.step < self.total_steps:
            self.sched.step()
        return loss.detach()

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        train = self.data.train
        perm = torch.randperm(len(train), generator=self.gen, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        seen, t0 = 0, time.perf_counter()
        for i in range(self.steps_per_epoch):
            if self.step >= self.total_steps:
                break
            batch = train.subset(perm[i * self.cfg.batch_size:(i + 1) * self.cfg.batch_size])
            loss_sum += self.train_step(batch, epoch) * len(batch)
            seen += len(batch)
            if i % 20 == 0 and not torch.isfinite(loss_sum):  # sync rarely: a NaN stays NaN
                raise Diverged
        train_loss = float(loss_sum) / max(1, seen)
        if not math.isfinite(train_loss):
            raise Diverged
        elapsed = time.perf_counter() - t0
        return {"train_loss_running": train_loss, "epoch_time": elapsed, "samples_per_sec": seen / elapsed}

    def fit(self) -> tuple[str, dict[str, float]]:
        best_val, bad_epochs, t_start = math.inf, 0, time.perf_counter()
        for epoch in range(1, self.cfg.epochs + 1):
            lr = self.opt.param_groups[0]["lr"]
            stats = self.train_epoch(epoch)
            val = evaluate(self.model, self.data.val, self.loss, self.data, self.forward, "val")
            train = evaluate(self.model, self.data.train, self.loss, self.data, self.forward, "train")
            if not math.isfinite(val["val_loss"]):
                raise Diverged
            row = {"epoch": epoch, "step": self.step, "lr": lr, **train, **val, **stats,
                   "time": time.perf_counter() - t_start}
            self.epochs.append(row)
            if self.report:
                self.report(row)
            if self.per_epoch_sched:
                self.sched.step(val["val_loss"])
            best_val, bad_epochs = (val["val_loss"], 0) if val["val_loss"] < best_val else (best_val, bad_epochs + 1)
            if (self.cfg.early_stop and bad_epochs >= self.cfg.early_stop) or self.step >= self.total_steps:
                break
        test = evaluate(self.model, self.data.test, self.loss, self.data, self.forward, "test")
        return "ok", {**test, "best_val_loss": best_val, "epochs_run": len(self.epochs), "steps": self.step}


def run_trial(cfg: TrialConfig, report: Reporter | None = None, data: DataBundle | None = None) -> TrialResult:
    """Train and evaluate one trial. A NaN/inf loss ends it with status "diverged"; it never prints."""
    t0 = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    workload = get_workload(cfg.workload)
    device = pick_device(cfg.device)
    data = (data or load_data(cfg)).to(device)
    if cfg.augment and data.augment is None:
        raise ConfigError(f"workload {cfg.workload!r} has no data augmentation; drop augment")
    seed_everything(cfg.seed)  # loading may consume randomness; the model init must not depend on it
    model = build_model(workload.model, cfg, data, workload.cell).to(device)
    if cfg.compile:
        model = torch.compile(model)
    trainer = Trainer(cfg, data, model, device, report)
    try:
        status, final = trainer.fit()
    except Diverged:
        status, final = "diverged", {"epochs_run": len(trainer.epochs), "steps": trainer.step}
    final["wall_time"] = time.perf_counter() - t0
    return TrialResult(cfg.to_dict(), status, final, trainer.epochs, trainer.probe.rows)
