"""Several seeds of one configuration trained as one stacked model (torch.func.vmap over the parameters).

Small models leave a GPU mostly idle; the final phase's seed re-runs of one configuration, stacked into one
model, fill it. Each stacked seed is the trial `run_trial` would train: its initialisation seeded as
run_trial seeds it, its own batch order from the same generator, the same loss, optimizer and schedule. Every
registry optimizer updates elementwise, so one optimizer over the stacked parameters is S independent ones;
in fp32 the stacked seeds' metrics equal run_trial's within rounding (tests/test_stacked.py).

Only configurations where that equivalence holds are stacked (`why_not_stacked` says why not): nothing random
inside a step (dropout, augmentation), no batch statistics (batch norm), no per-seed global quantity
(gradient-norm clipping, a plateau schedule, early stopping), no recurrent cells (vmap has no batching rule
for cuDNN's RNN kernels). Stacked trials record no per-layer gradient probes: the hooks see one model.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from bench.components.optimizers import apply_decoupled_decay, build_optimizer
from bench.components.regularizers import clip_weights
from bench.components.schedules import SCHEDULES, build_schedule
from bench.config import ConfigError, TrialConfig
from bench.data.base import DataBundle
from bench.metrics import evaluate
from bench.models import build_model
from bench.status import TrialStatus
from bench.train import EXPLODED, Trainer, TrialResult, param_groups, pick_device, seed_everything
from bench.workloads import get_workload, load_data


def why_not_stacked(cfg: TrialConfig) -> str | None:
    """None when the seeds of `cfg` can be trained as one stacked model with results equal to run_trial's."""
    reasons = {
        "a recurrent model": get_workload(cfg.workload).model == "rnn",
        "dropout": cfg.dropout > 0, "augmentation": cfg.augment, "batch norm": cfg.batch_norm,
        "gradient-norm clipping": cfg.clip_norm > 0, "early stopping": cfg.early_stop > 0,
        "a per-epoch schedule": SCHEDULES[cfg.schedule].per_epoch, "torch.compile": cfg.compile,
    }
    found = [name for name, hit in reasons.items() if hit]
    return f"{', '.join(found)} (per-seed state inside a step)" if found else None


class StackedSeeds:
    """S trainers of one config (one per seed) whose parameters train as one stacked tensor per weight."""

    def __init__(self, cfg: TrialConfig, seeds: Sequence[int], data: DataBundle, device: torch.device):
        workload = get_workload(cfg.workload)
        self.trainers = []
        for seed in seeds:
            seed_everything(seed)  # as run_trial: the init depends on the seed alone
            model = build_model(workload.model, cfg, data, workload.cell).to(device)
            self.trainers.append(Trainer(cfg.replace(seed=seed), data, model, device))
        self.cfg, self.data, self.device = cfg, data, device
        self.params, self.buffers = stack_module_state([t.model for t in self.trainers])
        self.opt = build_optimizer(param_groups(self.params.values(), cfg, stacked=1), cfg)
        lead = self.trainers[0]
        self.sched = build_schedule(self.opt, cfg, lead.total_steps)
        self.base = copy.deepcopy(lead.model).to("meta")
        self.grads = vmap(grad_and_value(self._loss))
        self.step = 0

    def _loss(self, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lead = self.trainers[0]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=lead.amp):
            out = functional_call(self.base, (params, buffers), (x,))
        return lead.loss(out, y)

    def train_epoch(self) -> tuple[torch.Tensor, int, float]:
        """One epoch of every seed; returns each seed's summed batch losses, the samples each saw, the time."""
        lead, bs = self.trainers[0], self.cfg.batch_size
        x, y = self.data.train.x, self.data.train.y
        perms = torch.stack([torch.randperm(len(y), generator=t.gen, device=self.device) for t in self.trainers])
        loss_sum, seen, t0 = torch.zeros(len(self.trainers), device=self.device), 0, time.perf_counter()
        for i in range(lead.steps_per_epoch):
            if self.step >= lead.total_steps:
                break
            idx = perms[:, i * bs:(i + 1) * bs]  # (seeds, batch): every seed its own batch
            grads, losses = self.grads(self.params, self.buffers, x[idx], y[idx])
            for p, g in zip(self.params.values(), grads.values(), strict=True):
                p.grad = g
            apply_decoupled_decay(self.opt, self.cfg)
            self.opt.step()
            clip_weights(list(self.params.values()), self.cfg)
            self.step += 1
            if self.step < lead.total_steps:
                self.sched.step()
            if self.step == 1:  # the first batch's loss: the yardstick of "exploded", as in run_trial
                for t, value in zip(self.trainers, losses.tolist(), strict=True):
                    t.first_loss = value
            loss_sum += losses.detach().float() * idx.shape[1]
            seen += idx.shape[1]
        return loss_sum, seen, time.perf_counter() - t0

    def unstack(self) -> None:
        """Copy each seed's slice of the stacked weights into its own model, for evaluation."""
        with torch.no_grad():
            for s, t in enumerate(self.trainers):
                for name, p in t.model.named_parameters():
                    p.copy_(self.params[name][s])


def _diverged(t: Trainer, row: dict[str, Any]) -> bool:
    loss = row["train_loss_running"]
    return not (math.isfinite(loss) and math.isfinite(row["val_loss"])) or bool(
        t.first_loss and loss > EXPLODED * t.first_loss)


def run_stacked(cfg: TrialConfig, seeds: Sequence[int], data: DataBundle | None = None) -> list[TrialResult]:
    """Train `cfg` once per seed as one stacked model; one TrialResult per seed, in the order of `seeds`."""
    if reason := why_not_stacked(cfg):
        raise ConfigError(f"cannot stack the seeds of this config: {reason}; run them one by one with run_trial")
    t0 = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    data = data.to(device) if data is not None else load_data(cfg, device)
    stack = StackedSeeds(cfg, seeds, data, device)
    status = [TrialStatus.OK] * len(seeds)
    for epoch in range(1, cfg.epochs + 1):
        lr = stack.opt.param_groups[0]["lr"]
        loss_sum, seen, elapsed = stack.train_epoch()
        stack.unstack()
        for s, t in enumerate(stack.trainers):
            if status[s] == TrialStatus.OK:
                stats = {"train_loss_running": float(loss_sum[s]) / max(1, seen), "epoch_time": elapsed,
                         "samples_per_sec": seen / elapsed, **t.flops_stats(seen / elapsed)}
                row = t.epoch_row(epoch, lr, stats, t0, stack.step)  # the row Trainer.fit records
                status[s] = TrialStatus.DIVERGED if _diverged(t, row) else TrialStatus.OK
                t.epochs += [row] if status[s] == TrialStatus.OK else []
        if stack.step >= stack.trainers[0].total_steps:
            break
    return [_result(t, st, t0) for t, st in zip(stack.trainers, status, strict=True)]


def _result(t: Trainer, status: TrialStatus, started: float) -> TrialResult:
    final: dict[str, Any] = {"epochs_run": len(t.epochs), "steps": t.epochs[-1]["step"] if t.epochs else 0}
    if status == TrialStatus.OK:
        final.update(evaluate(t.model, t.data.test, t.loss, t.data, t.forward, "test"))
        best = min(t.epochs, key=lambda row: row["val_loss"])  # the first of equals, as run_trial keeps it
        final.update(best_val_loss=best["val_loss"], best_epoch=best["epoch"])
    return t.result(status, final, started)  # no probe rows: the probe's hooks never see the stacked model
