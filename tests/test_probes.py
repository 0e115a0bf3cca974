"""Probes against hand-computed values, the health rule on constructed cases, and probes in the stored tables."""
import math

import pandas as pd
import pytest
import torch
from torch import nn

from bench.components.activations import ACTIVATIONS
from bench.models.rnn import RNNModel
from bench.probes import HEALTH_RULE, GradientProbe, grad_health, growth_ratio, measure, spike_ratio
from bench.results import ResultStore, read_run, record
from bench.train import run_trial
from tests.helpers import fast_cfg, tiny_bundle


def two_layer_net() -> nn.Sequential:
    """x -> Linear(W1 = [[1, 0], [0, -1]]) -> ReLU -> Linear(W2 = [[1, 1]]), zero biases."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
        net[0].bias.zero_()
        net[2].bias.zero_()
    return net


def probe_one_step(net: nn.Module, x: torch.Tensor, lr: float = 0.1) -> list[dict]:
    """One SGD step with the probe called where train.py calls it; loss = sum of outputs."""
    probe = GradientProbe(net, every=1)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    assert probe.arm(1)
    loss = net(x).sum()
    opt.zero_grad()
    loss.backward()
    probe.after_backward(1, 1, loss)
    opt.step()
    probe.after_update()
    return probe.rows


def test_hand_computed_two_layer_net():
    # s1 = [[1, -2], [3, -4]]; a1 = relu = [[1, 0], [3, 0]]; out = [[1], [3]]; dL/dout = 1 everywhere.
    # dL/dW2 = [[4, 0]], dL/db2 = [2]; dL/ds1 = [[1, 0], [1, 0]]; dL/dW1 = [[4, 6], [0, 0]], dL/db1 = [2, 0].
    rows = {r["layer"]: r for r in probe_one_step(two_layer_net(), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))}
    first, last = rows["0"], rows["2"]
    assert (first["depth"], last["depth"]) == (0, 1)
    assert first["grad_norm"] == pytest.approx(math.sqrt(16 + 36 + 4))
    assert last["grad_norm"] == pytest.approx(math.sqrt(16 + 4))
    assert first["total_grad_norm"] == pytest.approx(math.sqrt(76)) and first["loss"] == pytest.approx(4.0)
    assert first["weight_norm"] == pytest.approx(math.sqrt(2)) and last["weight_norm"] == pytest.approx(math.sqrt(2))
    assert first["out_grad_norm"] == pytest.approx(math.sqrt(2)) and first["out_grad_rms"] == pytest.approx(math.sqrt(0.5))
    assert last["out_grad_norm"] == pytest.approx(math.sqrt(2)) and last["out_grad_rms"] == pytest.approx(1.0)
    # Layer 0 reports the ReLU after it: mean 1, population std sqrt(1.5), unit 2 dead for both samples.
    assert first["act_mean"] == pytest.approx(1.0) and first["act_std"] == pytest.approx(math.sqrt(1.5))
    assert first["dead_frac"] == pytest.approx(0.5) and math.isnan(first["sat_frac"])
    # The output layer has no activation after it: its own output [[1], [3]].
    assert last["act_mean"] == pytest.approx(2.0) and last["act_std"] == pytest.approx(1.0)
    assert math.isnan(last["dead_frac"]) and math.isnan(last["sat_frac"])
    # SGD lr 0.1: ||dW|| = 0.1 ||grad||, weights had norm sqrt(2).
    assert first["update_ratio"] == pytest.approx(0.1 * math.sqrt(56 / 2))
    assert last["update_ratio"] == pytest.approx(0.1 * math.sqrt(20 / 2))


@pytest.mark.parametrize("name", [n for n, s in ACTIVATIONS.items() if s.saturating])
def test_saturation_fraction(name):
    # Pre-activations 100, -100, 0.01, 1: the first two sit at the bounds, the others far from them.
    net = nn.Sequential(nn.Linear(1, 4), ACTIVATIONS[name].build(), nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[100.0], [-100.0], [0.01], [1.0]]))
        net[0].bias.zero_()
    rows = {r["layer"]: r for r in probe_one_step(net, torch.ones(3, 1))}
    assert rows["0"]["sat_frac"] == pytest.approx(0.5)
    assert math.isnan(rows["0"]["dead_frac"])


def test_hooks_exist_only_during_a_probe_step():
    net = two_layer_net()
    probe = GradientProbe(net, every=5)
    hooks = lambda: sum(len(m._forward_hooks) for m in net.modules())
    assert not probe.arm(4) and hooks() == 0
    assert probe.arm(5) and hooks() == 3  # two Linear layers and the ReLU
    loss = net(torch.ones(2, 2)).sum()
    loss.backward()
    probe.after_backward(5, 1, loss)
    probe.after_update()
    assert hooks() == 0 and len(probe.rows) == 2


def test_measure_leaves_the_model_clean():
    net = two_layer_net()
    rows = measure(net, lambda out, y: (out - y).pow(2).mean(), torch.ones(4, 2), torch.zeros(4, 1))
    assert len(rows) == 2 and all(r["update_ratio"] == 0 for r in rows)
    assert all(p.grad is None for p in net.parameters())
    assert sum(len(m._forward_hooks) for m in net.modules()) == 0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_layer_gets_its_state_gradient(cell):
    model = RNNModel(n_in=2, n_out=1, cell=cell, hidden=4, layers=1, fc_width=4, activation="relu")
    rows = {r["layer"]: r for r in measure(model, lambda out, y: out.pow(2).mean(), torch.randn(3, 5, 2), None)}
    assert rows["rnn"]["depth"] == 0 and rows["rnn"]["out_grad_norm"] > 0
    assert (cell == "rnn") == math.isfinite(rows["rnn"]["sat_frac"])  # only the tanh RNN has a known bounded output


class _TwoOutputs(torch.autograd.Function):
    """One autograd node with two outputs, as cuDNN's RNN has (sequence, final state)."""

    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, g_seq, g_state):
        return (0 if g_seq is None else 2 * g_seq) + (0 if g_state is None else 3 * g_state)


class _FusedCell(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return _TwoOutputs.apply(x * self.w)


def test_gradient_hook_skips_none():
    from bench.probes import _gradient_moments

    moments = []
    hook = _gradient_moments(moments)
    hook(None)
    assert moments == []
    hook(torch.tensor([3.0, 4.0]))
    assert moments[0][0].item() == pytest.approx(25.0) and moments[0][1] == 2


def test_probe_survives_an_output_without_gradient():
    # The classifier reads only the second output: torch calls the first output's hook with None (what cuDNN's
    # GRU did under a sweep on a GPU, where the GRU's sequence output and final state share one autograd node).
    seen = []
    net = _FusedCell()
    seq, state = net(torch.ones(3))
    seq.register_hook(seen.append)
    state.sum().backward()
    assert seen == [None]
    net.zero_grad()
    rows = measure(nn.Sequential(net), lambda out, y: out[1].sum(), torch.ones(3), None)
    assert rows[0]["out_grad_norm"] == pytest.approx(math.sqrt(3))  # the state's gradient alone: ones(3)


def test_rows_record_raw_gradients_before_clipping():
    result = run_trial(fast_cfg(workload="mnist1d-mlp", probe_every=1, epochs=2, max_steps=4, clip_norm=1e-6,
                                optimizer="sgd", lr=0.1), data=tiny_bundle(128))
    steps = pd.DataFrame(result.gradients).groupby("step").first()
    assert list(steps.index) == [1, 2, 3, 4]
    assert (steps["total_grad_norm"] > 1e-3).all()  # the clipped gradient would have norm 1e-6
    assert (steps["update_ratio"] < 1e-5).all()  # ...and the update used the clipped one


@pytest.mark.parametrize("norms, ratio, diverged, label", [
    ([1.0] * 12, 0.5, False, "healthy"),
    ([1.0] * 12, 1e-5, False, "vanishing"),
    ([1.0] * 12, 1e4, False, "exploding"),  # gradients grow toward the input
    ([1.0] * 6 + [50.0] + [1.0] * 5, 0.5, False, "exploding"),  # a spike
    ([1.0] * 4 + [10.0 ** k for k in range(1, 9)], 0.5, False, "exploding"),  # growth without a transient spike
    ([0.1] * 6 + [1.5] * 6, 0.5, False, "healthy"),  # a lasting rise: a stalled net starting to learn
    ([1.0] * 3 + [0.01] * 8 + [1.0], 1e-5, False, "vanishing"),
    ([1.0] * 12, 0.5, True, "exploding"),
])
def test_health_rule(norms, ratio, diverged, label):
    rows = [{"step": s, "layer": name, "depth": d, "total_grad_norm": g, "out_grad_rms": rms}
            for s, g in enumerate(norms, start=1) for name, d, rms in (("a", 0, ratio), ("b", 1, 1.0))]
    health = grad_health(rows, diverged)
    assert health["grad_health"] == label
    assert health["grad_depth_ratio"] == pytest.approx(ratio)


def test_health_rule_without_probes_and_its_text():
    assert grad_health([], False)["grad_health"] == "unknown"
    assert "10x" in HEALTH_RULE and "0.001" in HEALTH_RULE
    assert spike_ratio([1.0, 1.0, 1.0, 30.0]) == pytest.approx(30.0)
    assert spike_ratio([1.0, 1.0, 1.0, 30.0, 30.0, 30.0], two_sided=True) == pytest.approx(1.0)
    assert spike_ratio([1.0, 1.0, 1.0, 30.0, 1.0, 1.0], two_sided=True) == pytest.approx(30.0)
    assert math.isnan(spike_ratio([1.0, 2.0]))
    assert growth_ratio([2.0, 1.0, 3.0] + [2.0] * 7 + [2000.0]) == pytest.approx(1000.0)


def test_probes_and_label_reach_the_stored_tables(tmp_path):
    result = run_trial(fast_cfg(workload="mnist1d-mlp", probe_every=2, epochs=3), data=tiny_bundle(128))
    assert result.final["grad_health"] == "healthy"  # a 1-hidden-layer MLP at a normal LR
    assert grad_health(result.gradients, False) == {k: result.final[k] for k in
                                                    ("grad_health", "grad_spike", "grad_growth", "grad_depth_ratio")}
    store = ResultStore(tmp_path)
    store.add(record("t0", result))
    store.consolidate()
    run = read_run(tmp_path)
    grads, trials = run["gradients"], run["trials"]
    for column in ("depth", "grad_norm", "out_grad_norm", "out_grad_rms", "act_mean", "act_std", "sat_frac",
                   "dead_frac", "update_ratio", "loss", "total_grad_norm"):
        assert column in grads, column
    assert set(grads["step"]) == set(range(2, result.final["steps"] + 1, 2))
    assert trials.loc[0, "grad_health"] == result.final["grad_health"]
    assert math.isfinite(trials.loc[0, "grad_growth"]) and "grad_spike" in trials and "grad_depth_ratio" in trials


def test_overhead_script_runs(monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "probe_overhead.py"
    monkeypatch.setattr(sys, "argv", [script.name, "--tiny", "--workloads", "mnist1d-mlp"])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "mnist1d-mlp" in out and "% estimated" in out
