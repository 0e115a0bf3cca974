"""Per-layer gradient and activation statistics collected during training, and the trial's gradient-health label.

A probe step is every `every`-th optimiser step. On a probe step, and only then, the probe
1. arms forward hooks before the forward pass: each records the layer's output statistics and registers a
   tensor hook that receives the gradient of the loss with respect to that output (the back-propagated signal);
2. after backward, reads each layer's weight gradient (raw, before any clipping) and snapshots its weights;
3. after the optimiser step, measures the update/weight ratio and removes every hook.
Between probe steps no hook is registered and nothing is copied, so the hot path pays nothing.

One row per parameterised layer (a module that owns parameters: Linear, Conv, RNN, Embedding, BatchNorm) and
probe step, with these columns (NaN where a statistic does not apply):
  depth            position of the layer in the forward pass (0 = first called)
  grad_norm        L2 norm of the layer's weight gradient, before clipping
  weight_norm      L2 norm of its parameters before the step
  update_ratio     ||w_after - w_before|| / ||w_before|| over the step (optimizer, decay and weight clipping)
  out_grad_norm    L2 norm of dLoss/d(layer output) over the batch (for an RNN: its final state(s))
  out_grad_rms     the same divided by sqrt(number of elements): comparable across layer widths
  act_mean/act_std the layer's output after the activation that directly follows it, if any (else its own output)
  sat_frac         bounded activations (tanh, sigmoid, softsign): fraction of outputs within SATURATION_TOL of
                   the range from a bound
  dead_frac        ReLU-like activations: fraction of units at their floor for every sample of the batch
  loss             the mini-batch loss of the step
  total_grad_norm  L2 norm of the whole model's gradient, before clipping
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.components.activations import ACTIVATIONS, ActivationSpec

# A unit counts as saturated within 1.25% of the range from a bound: there tanh' and sigmoid' are below 5% of
# their peak (tanh |a| > 0.975; sigmoid a < 0.0125 or a > 0.9875), so almost no gradient passes.
SATURATION_TOL = 0.0125
SPIKE_WINDOW = 10  # probe steps in the trailing median a gradient norm is compared with
SPIKE_LIMIT = 10.0
GROWTH_LIMIT = 1e3
DEPTH_LIMIT = 1e-3
HEALTH_RULE = (
    f"exploding if the loss became non-finite; else vanishing if the median over probe steps of RMS(dLoss/d output) "
    f"at the first layer / at the last layer is below {DEPTH_LIMIT:g}; else exploding if that ratio exceeds "
    f"{1 / DEPTH_LIMIT:g}, or the total gradient norm at a probe step exceeds {SPIKE_LIMIT:g}x the medians of the "
    f"{SPIKE_WINDOW} probe steps before and after it (a spike), or {GROWTH_LIMIT:g}x the median of the first "
    f"{SPIKE_WINDOW} (growth); else healthy; unknown when no probe ran")

_RNNS = (nn.RNN, nn.LSTM, nn.GRU)


def probed_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly (Linear, Conv, RNN, Embedding, BatchNorm), in registration order."""
    return [(name, m) for name, m in model.named_modules()
            if name and any(True for _ in m.parameters(recurse=False))]


def _activation_types() -> dict[type, ActivationSpec]:
    return {type(spec.build()): spec for spec in ACTIVATIONS.values()}


def activation_spec(module: nn.Module, types: dict[type, ActivationSpec]) -> ActivationSpec | None:
    """The registry spec behind an activation module, or a vanilla RNN's nonlinearity; None otherwise."""
    if isinstance(module, nn.RNN):
        return ACTIVATIONS.get(module.nonlinearity)
    return types.get(type(module))


def _tensors(output: Any) -> Iterator[torch.Tensor]:
    """Floating tensors in a module output: a tensor, a tuple (RNN: output, h_n), a PackedSequence."""
    if isinstance(output, torch.Tensor):
        if output.is_floating_point():
            yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from _tensors(item)


def output_stats(a: torch.Tensor, spec: ActivationSpec | None, unit_dim: int) -> dict[str, torch.Tensor]:
    """Mean, population std and (for known activations) saturated or dead fraction of one output tensor."""
    a = a.detach().float()
    stats = {"act_mean": a.mean(), "act_std": a.std(correction=0)}
    if spec is None or spec.low is None:
        return stats
    if spec.saturating and spec.high is not None:
        tol = SATURATION_TOL * (spec.high - spec.low)
        stats["sat_frac"] = ((a <= spec.low + tol) | (a >= spec.high - tol)).float().mean()
    elif spec.high is None and a.dim() > 1:
        units = a.movedim(unit_dim, 0).reshape(a.shape[unit_dim], -1)
        stats["dead_frac"] = (units <= spec.low).all(dim=1).float().mean()
    return stats


def _gradient_moments(moments: list[tuple[torch.Tensor, int]]):
    """A tensor hook that adds (sum g^2, numel) of the gradient it receives to `moments`.

    It may receive None: a tensor hook on one output of a multi-output autograd node runs whenever that node
    runs, and gets None for an output no gradient flows into. cuDNN's GRU/LSTM is such a node (its output
    sequence and final state come from one `_cudnn_rnn`); a classifier that reads only the final state leaves
    the sequence without a gradient. Nothing reached that output, so there is nothing to record.
    """
    def hook(g: torch.Tensor | None) -> None:
        if g is not None:
            moments.append((g.detach().float().square().sum(), g.numel()))
    return hook


class GradientProbe:
    """Collects one row per parameterised layer at every `every`-th step (see the module docstring)."""

    def __init__(self, model: nn.Module, every: int):
        self.every = every
        model = getattr(model, "_orig_mod", model)  # hooks go on the eager modules behind torch.compile
        self.layers = probed_layers(model)
        self.modules = [(name, m) for name, m in model.named_modules() if name]
        self.types = _activation_types()
        self.rows: list[dict[str, Any]] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._reset()

    def _reset(self) -> None:
        self._stats: dict[str, dict[str, torch.Tensor]] = {}  # layer -> statistic -> 0-d tensor
        self._grads: dict[str, list[tuple[torch.Tensor, int]]] = {}  # layer -> (sum g^2, numel) per output tensor
        self._order: list[str] = []  # param layers in forward-call order
        self._before: dict[str, list[torch.Tensor]] = {}
        self._step: dict[str, Any] = {}

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def arm(self, step: int) -> bool:
        """Call before the forward pass of `step`; registers the hooks when it is a probe step."""
        if not self.due(step):
            return False
        self._reset()
        owners = {name for name, _ in self.layers}
        for name, module in self.modules:
            spec = activation_spec(module, self.types)
            if name in owners:
                self._handles.append(module.register_forward_hook(self._layer_hook(name, spec)))
            elif spec is not None:
                self._handles.append(module.register_forward_hook(self._activation_hook(spec)))
        return True

    def _layer_hook(self, name: str, spec: ActivationSpec | None):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if name in self._stats:  # a module called twice in one forward: keep its first call
                return
            tensors = list(_tensors(output))
            if not tensors:
                return
            self._order.append(name)
            self._stats[name] = output_stats(tensors[0], spec, -1 if isinstance(module, _RNNS) else 1)
            moments = self._grads[name] = []
            for t in tensors:
                if t.requires_grad:
                    t.register_hook(_gradient_moments(moments))
        return hook

    def _activation_hook(self, spec: ActivationSpec):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            # An activation describes the most recent parameterised layer's output (Linear -> [BN] -> act).
            if self._order and isinstance(output, torch.Tensor):
                self._stats[self._order[-1]].update(output_stats(output, spec, 1))
        return hook

    def after_backward(self, step: int, epoch: int, loss: torch.Tensor) -> None:
        """Call after backward and before clipping: reads raw weight gradients and snapshots the weights."""
        grads_sq = []
        for name, module in self.layers:
            params = list(module.parameters(recurse=False))
            grads = [p.grad for p in params if p.grad is not None]
            stats = self._stats.setdefault(name, {})
            if grads:
                stats["grad_norm"] = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
                grads_sq.append(stats["grad_norm"].square())
            stats["weight_norm"] = torch.linalg.vector_norm(torch.stack([p.detach().norm() for p in params]))
            self._before[name] = [p.detach().clone() for p in params]
            if self._grads.get(name):
                sum_sq = torch.stack([m[0] for m in self._grads[name]]).sum()
                stats["out_grad_norm"] = sum_sq.sqrt()
                stats["out_grad_rms"] = (sum_sq / sum(m[1] for m in self._grads[name])).sqrt()
        total_sq = torch.stack(grads_sq).sum() if grads_sq else torch.tensor(float("nan"))
        self._step = {"step": step, "epoch": epoch, "loss": loss.detach().float(), "total_grad_norm": total_sq.sqrt()}

    def after_update(self) -> None:
        """Call after the optimiser step (and weight clipping): records update/weight ratios and disarms."""
        for name, module in self.layers:
            params = list(module.parameters(recurse=False))
            delta = [(p.detach() - old).norm() for p, old in zip(params, self._before[name], strict=True)]
            stats = self._stats[name]
            stats["update_ratio"] = torch.linalg.vector_norm(torch.stack(delta)) / stats["weight_norm"]
        self.disarm()
        self._emit()

    def disarm(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _emit(self) -> None:
        """Turn this step's tensors into rows with one device-to-host copy."""
        names = self._order + [name for name, _ in self.layers if name not in self._order]
        keys = [(name, key) for name in names for key in self._stats[name]]
        step_keys = ["loss", "total_grad_norm"]
        tensors = [self._stats[n][k] for n, k in keys] + [self._step[k] for k in step_keys]
        device = self._step["loss"].device
        flat = torch.stack([t.reshape(()).float().to(device) for t in tensors]).tolist()
        values = dict(zip(keys, flat, strict=False))
        loss, total = flat[len(keys):]
        for depth, name in enumerate(names):
            self.rows.append({"step": self._step["step"], "epoch": self._step["epoch"], "layer": name, "depth": depth,
                              **{col: values.get((name, col), math.nan) for col in COLUMNS},
                              "loss": loss, "total_grad_norm": total})
        self._reset()


COLUMNS = ("grad_norm", "weight_norm", "update_ratio", "out_grad_norm", "out_grad_rms", "act_mean", "act_std",
           "sat_frac", "dead_frac")


def measure(model: nn.Module, loss_fn: Any, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, Any]]:
    """One probed forward/backward pass without an optimiser step: the per-layer rows at the model's current weights.

    Used for measurements at initialisation; the gradients it leaves on the model are cleared.
    """
    probe = GradientProbe(model, every=1)
    probe.arm(1)
    try:
        loss = loss_fn(model(x), y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        probe.after_backward(0, 0, loss)
        probe.after_update()
    finally:
        probe.disarm()
        model.zero_grad(set_to_none=True)
    return probe.rows


def spike_ratio(values: list[float] | np.ndarray, two_sided: bool = False) -> float:
    """Largest ratio of a value to the median of the up-to-SPIKE_WINDOW values before it (NaN if fewer than 3).

    two_sided: to the larger of the medians before and after it (at least 2 after), so that only transient
    spikes count, not a lasting rise such as a stalled net starting to learn.
    """
    g = np.asarray(values, dtype=float)
    ratios = []
    for t in range(2, len(g)):
        reference = np.median(g[max(0, t - SPIKE_WINDOW):t])
        if two_sided:
            after = g[t + 1:t + 1 + SPIKE_WINDOW]
            if len(after) < 2:
                continue
            reference = max(reference, np.median(after))
        ratios.append(g[t] / reference)
    finite = [r for r in ratios if np.isfinite(r)]
    return float(max(finite)) if finite else math.nan


def growth_ratio(values: list[float] | np.ndarray) -> float:
    """Largest value over the median of the first SPIKE_WINDOW values (NaN if empty)."""
    g = np.asarray(values, dtype=float)
    g = g[np.isfinite(g)]
    return float(g.max() / np.median(g[:SPIKE_WINDOW])) if len(g) else math.nan


def depth_ratio(rows: list[dict[str, Any]]) -> float:
    """Median over probe steps of out_grad_rms at the first layer (forward order) / at the last."""
    by_step: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if math.isfinite(row["out_grad_rms"]):
            by_step.setdefault(row["step"], []).append(row)
    ratios = []
    for layer_rows in by_step.values():
        first = min(layer_rows, key=lambda r: r["depth"])
        last = max(layer_rows, key=lambda r: r["depth"])
        if len(layer_rows) > 1 and last["out_grad_rms"] > 0:
            ratios.append(first["out_grad_rms"] / last["out_grad_rms"])
    return float(np.median(ratios)) if ratios else math.nan


def grad_health(rows: list[dict[str, Any]], diverged: bool) -> dict[str, float | str]:
    """The trial's label by HEALTH_RULE, with the two figures it rests on."""
    steps = {}
    for row in rows:
        steps.setdefault(row["step"], row["total_grad_norm"])
    norms = [steps[s] for s in sorted(steps)]
    spike, growth, ratio = spike_ratio(norms, two_sided=True), growth_ratio(norms), depth_ratio(rows)
    # Vanishing is judged before spikes: a stalled net that starts to learn has a sudden jump in gradient norm.
    if diverged:
        label = "exploding"
    elif ratio < DEPTH_LIMIT:
        label = "vanishing"
    elif spike > SPIKE_LIMIT or growth > GROWTH_LIMIT or ratio > 1 / DEPTH_LIMIT:
        label = "exploding"
    else:
        label = "healthy" if rows else "unknown"
    return {"grad_health": label, "grad_spike": spike, "grad_growth": growth, "grad_depth_ratio": ratio}
