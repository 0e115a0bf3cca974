"""run_trial: train and evaluate one model from one TrialConfig. Knows nothing of Ray, Optuna or the CLI."""
from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.components.losses import resolve_loss
from bench.components.optimizers import apply_decoupled_decay, build_optimizer
from bench.components.regularizers import clip_gradients, clip_weights
from bench.components.schedules import SCHEDULES, build_schedule
from bench.config import ConfigError, TrialConfig, steps_per_epoch
from bench.data.base import DataBundle, Split
from bench.flops import matmul_peak, train_flops_per_sample, unwrap
from bench.metrics import evaluate
from bench.models import build_model, check_model_fits
from bench.probes import GradientProbe, grad_health
from bench.status import TrialStatus
from bench.workloads import get_workload, load_data

Reporter = Callable[[dict[str, Any]], None]


@dataclass
class TrialResult:
    config: dict[str, Any]
    status: TrialStatus  # stopped: by the report hook (a scheduler's decision)
    final: dict[str, float | str] = field(default_factory=dict)  # floats, and the label "grad_health"
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
    """Raised inside the loop when the training loss stops being finite or explodes (see EXPLODED)."""


# An epoch's mean training loss this many times the first batch's counts as diverged: a finite loss that large
# (e.g. SGD at an LR 1e4 too high, before it overflows) is as useless as a NaN, and calling it "ok" would let
# it pass as a poor but valid result.
EXPLODED = 1e3


class StopTrial(Exception):
    """Raised by a report hook to end a trial early (a scheduler's decision); the result keeps what was trained."""


TRAIN_EVAL_MIN = 2048


def train_eval_subset(data: DataBundle) -> Split:
    """The training samples the end-of-epoch train metrics are measured on: a fixed random subset (the same for
    every trial) as large as the validation split, and at least TRAIN_EVAL_MIN samples. That estimate is
    unbiased and as precise as the validation metrics it is compared with, while a full pass over the training
    set would cost a third of an epoch's training (CIFAR-10's 45,000 images) on top of every epoch."""
    train = data.train
    n = min(len(train), max(len(data.val), TRAIN_EVAL_MIN))
    if n == len(train):
        return train
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:n].sort().values
    return train.subset(idx.to(train.y.device))


def param_groups(params: Iterable[torch.Tensor], cfg: TrialConfig, stacked: int = 0) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: weight decay acts on weight matrices and kernels only, unless
    cfg.decay_bias_norm. Decaying biases and norm gains/shifts (every parameter with fewer than 2 dimensions)
    only pulls BN's scale toward 0, and blurs coupled L2 vs decoupled weight decay (Loshchilov & Hutter 2019).
    `stacked`: leading dimensions that stack several models' copies of a parameter (bench.stacked), not counted."""
    params = [p for p in params if p.requires_grad]
    if cfg.decay_bias_norm or cfg.weight_decay == 0:
        return [{"params": params}]
    flat = [p for p in params if p.dim() - stacked < 2]
    groups = [{"params": [p for p in params if p.dim() - stacked >= 2]}]
    return groups + [{"params": flat, "weight_decay": 0.0, "decay": False}] if flat else groups


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
        self.opt = build_optimizer(param_groups(self.model.parameters(), cfg), cfg)
        self.steps_per_epoch = steps_per_epoch(len(self.data.train), cfg.batch_size)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.sched = build_schedule(self.opt, cfg, self.total_steps)
        self.per_epoch_sched = SCHEDULES[cfg.schedule].per_epoch
        self.probe = GradientProbe(self.model, cfg.probe_every)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.step = 0
        self.clipped = 0  # steps whose gradient norm exceeded clip_norm: evidence that clipping acted
        self.first_loss: float | None = None
        self.epochs: list[dict[str, Any]] = []
        self.amp = cfg.amp and self.device.type == "cuda"
        # Achieved FLOP/s is reported against the matmul peak in the dtype the matmuls run in (bf16 under amp).
        self.flops_per_sample = train_flops_per_sample(self.model, self.data.train.x, self.data.train.lengths)
        self.peak_flops = matmul_peak(self.device, torch.bfloat16 if self.amp else torch.float32)
        self.train_eval = train_eval_subset(self.data)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_spec.fn(out, y, self.data.num_classes, self.cfg.label_smoothing)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None, eager: bool = False) -> torch.Tensor:
        model = unwrap(self.model) if eager else self.model
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return model(x, lengths)

    def train_step(self, batch: Split, epoch: int) -> torch.Tensor:
        x = batch.x
        if self.cfg.augment:
            x = self.data.augment(x, self.gen)
        probing = self.probe.arm(self.step + 1)  # hooks exist only during a probe step
        out = self.forward(x, batch.lengths, eager=probing)  # a compiled graph would skip the probe's hooks
        loss = self.loss(out, batch.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.step += 1
        if probing:
            self.probe.after_backward(self.step, epoch, loss)  # raw gradients, before clipping
        norm = clip_gradients(self.params, self.cfg)
        self.clipped += self.cfg.clip_norm > 0 and norm > self.cfg.clip_norm
        apply_decoupled_decay(self.opt, self.cfg)
        self.opt.step()
        clip_weights(self.params, self.cfg)
        if probing:
            self.probe.after_update()
        if not self.per_epoch_sched and self.step < self.total_steps:
            self.sched.step()
        return loss.detach()

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        train = self.data.train
        perm = torch.randperm(len(train), generator=self.gen, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        seen, warm, t0 = 0, 0, time.perf_counter()
        t_rate = t0
        for i in range(self.steps_per_epoch):
            if self.step >= self.total_steps:
                break
            batch = train.subset(perm[i * self.cfg.batch_size:(i + 1) * self.cfg.batch_size])
            loss = self.train_step(batch, epoch)
            if self.first_loss is None:
                self.first_loss = float(loss)  # one sync per trial
                # The trial's first step pays one-off set-up (kernel selection, CUDA context, compilation): the
                # throughput is timed from its end, or the first epoch's samples/s would count seconds of it.
                warm, t_rate = len(batch), time.perf_counter()
            loss_sum += loss * len(batch)
            seen += len(batch)
            if i % 20 == 0 and not torch.isfinite(loss_sum):  # sync rarely: a NaN stays NaN
                raise Diverged
        train_loss = float(loss_sum) / max(1, seen)
        if not math.isfinite(train_loss) or (self.first_loss and train_loss > EXPLODED * self.first_loss):
            raise Diverged
        now = time.perf_counter()
        rate = (seen - warm) / (now - t_rate) if seen > warm else seen / (now - t0)
        return {"train_loss_running": train_loss, "epoch_time": now - t0, "samples_per_sec": rate,
                **self.flops_stats(rate)}

    def epoch_row(self, epoch: int, lr: float, stats: dict[str, float], started: float, step: int) -> dict[str, Any]:
        """An epoch's row: its training statistics beside the validation and train-subset metrics after it."""
        val = evaluate(self.model, self.data.val, self.loss, self.data, self.forward, "val")
        train = evaluate(self.model, self.train_eval, self.loss, self.data, self.forward, "train")
        return {"epoch": epoch, "step": step, "lr": lr, **train, **val, **stats, "time": time.perf_counter() - started}

    def flops_stats(self, samples_per_sec: float) -> dict[str, float]:
        achieved = self.flops_per_sample * samples_per_sec
        return {"flops_per_sec": achieved, "peak_fraction": achieved / self.peak_flops}

    def throughput(self) -> dict[str, float]:
        """The trial's training throughput over all its epochs (evaluation excluded), for the final results."""
        out = {"flops_per_sample": self.flops_per_sample, "peak_flops_per_sec": self.peak_flops}
        train_time = sum(row["epoch_time"] for row in self.epochs)
        if train_time > 0:
            rate = sum(row["samples_per_sec"] * row["epoch_time"] for row in self.epochs) / train_time
            out.update(samples_per_sec=rate, **self.flops_stats(rate))
        return out

    def fit(self) -> tuple[str, dict[str, float]]:
        best_val, bad_epochs, best_epoch, t_start = math.inf, 0, 0, time.perf_counter()
        self.best_state: dict[str, torch.Tensor] | None = None
        for epoch in range(1, self.cfg.epochs + 1):
            lr = self.opt.param_groups[0]["lr"]
            row = self.epoch_row(epoch, lr, self.train_epoch(epoch), t_start, self.step)
            if not math.isfinite(row["val_loss"]):
                raise Diverged
            self.epochs.append(row)
            if self.report:
                self.report(row)
            if self.per_epoch_sched:
                self.sched.step(row["val_loss"])
            if self.monitored(row) < best_val:
                best_val, bad_epochs, best_epoch = self.monitored(row), 0, epoch
                self.keep_best()
            else:
                bad_epochs += 1
            if (self.cfg.early_stop and bad_epochs >= self.cfg.early_stop) or self.step >= self.total_steps:
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)  # early stopping returns the best epoch's weights
        test = evaluate(self.model, self.data.test, self.loss, self.data, self.forward, "test")
        best_val = min(row["val_loss"] for row in self.epochs)
        return TrialStatus.OK, {**test, "best_val_loss": best_val, "best_epoch": best_epoch, "epochs_run": len(self.epochs),
                      "steps": self.step, **self.clip_stats()}

    def monitored(self, row: dict[str, Any]) -> float:
        """What early stopping and the restored best epoch watch, lower is better: the workload's target metric on
        the validation set (early_stop_on="target": the claims are scored on it; a lower loss can come with a lower
        accuracy), or the validation loss ("loss", and for a target the validation rows do not carry)."""
        spec = get_workload(self.cfg.workload)
        key = "val_" + spec.target.split("_", 1)[-1]
        if self.cfg.early_stop_on == "loss" or key not in row:
            return row["val_loss"]
        return -row[key] if spec.mode == "max" else row[key]

    def keep_best(self) -> None:
        """With early stopping on, a copy of the weights (and BN statistics) at the best validation loss so far."""
        if self.cfg.early_stop:
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def clip_stats(self) -> dict[str, float]:
        """The share of steps where norm clipping changed the gradient (only when clipping is on)."""
        return {"clip_fraction": self.clipped / max(1, self.step)} if self.cfg.clip_norm > 0 else {}

    def result(self, status: TrialStatus, final: dict[str, Any], started: float) -> TrialResult:
        """The trial's result: `final` with the gradient-health label, the throughput and the workload's goal."""
        final.update(grad_health(self.probe.rows, status == TrialStatus.DIVERGED))  # grad_health is the one string value
        final.update(self.throughput())
        if math.isfinite(goal := get_workload(self.cfg.workload).goal):
            final["goal"] = goal  # the workload's target value, recorded so that reports need no registry
        final["wall_time"] = time.perf_counter() - started
        return TrialResult(self.cfg.to_dict(), status, final, self.epochs, self.probe.rows)


def channels_last(data: DataBundle) -> DataBundle:
    """The images of every split in NHWC layout (batches indexed from them stay NHWC)."""
    fmt = torch.channels_last
    return replace(data, **{name: replace(split, x=split.x.contiguous(memory_format=fmt))
                            for name, split in (("train", data.train), ("val", data.val), ("test", data.test))})


def check_threads(threads: int) -> None:
    """More torch threads than a few per core of the machine that trains only thrash (and 10^5 fail to start)."""
    cores = os.cpu_count() or 1
    if threads > 4 * cores:
        raise ConfigError(f"threads={threads} is more than 4 per CPU core of this machine ({cores} cores); choose "
                          f"threads <= {4 * cores}, or 0 to keep the environment's setting")


def run_trial(cfg: TrialConfig, report: Reporter | None = None, data: DataBundle | None = None) -> TrialResult:
    """Train and evaluate one trial. A NaN/inf loss ends it with status "diverged"; it never prints."""
    t0 = time.perf_counter()
    if cfg.threads:
        check_threads(cfg.threads)
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    workload = get_workload(cfg.workload)
    device = pick_device(cfg.device)
    data = data.to(device) if data is not None else load_data(cfg, device)
    if cfg.augment and data.augment is None:
        raise ConfigError(f"workload {cfg.workload!r} has no data augmentation; drop augment")
    check_model_fits(workload.model, cfg, data, workload.cell, device)
    seed_everything(cfg.seed)  # loading may consume randomness; the model init must not depend on it
    model = build_model(workload.model, cfg, data, workload.cell).to(device)
    if workload.model == "cnn" and data.train.x.dim() == 4:
        # NHWC convolutions: cuDNN's tensor-core kernels want them, and oneDNN trains the seed CNN 6-20% faster
        # on CPU. NHWC weights suffice for that; the device-resident data are converted on CUDA only, so that on
        # CPU the cached dataset is not held twice in memory.
        model = model.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            data = channels_last(data)
    if cfg.compile:
        model = torch.compile(model)
    trainer = Trainer(cfg, data, model, device, report)
    try:
        status, final = trainer.fit()
    except (Diverged, StopTrial) as stop:
        status = TrialStatus.DIVERGED if isinstance(stop, Diverged) else TrialStatus.STOPPED
        final = {"epochs_run": len(trainer.epochs), "steps": trainer.step}
    return trainer.result(status, final, t0)
