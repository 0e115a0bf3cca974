"""Progress of a running plan: counts per phase, the ETA priced per workload from finished trials, the live Rich
display on a terminal and the ETA at the end of each plain per-trial line."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from bench.config import TrialConfig
from bench.search.progress import Progress, live
from bench.search.protocol import Group, Plan
from bench.search.runners import InProcess

TINY = {"epochs": 2, "max_steps": 2, "n_train": 64, "width": 4, "fc_width": 8}


def plan() -> Plan:
    """Two workloads, nothing tuned, 3 final seeds each: 6 trials of 2 epochs."""
    groups = [Group(i, "adam", w, (), TrialConfig.from_dict({**TINY, "workload": w}), "test_acc", "max", trials=0,
                    seeds=(1, 2, 3), experiment="demo") for i, w in enumerate(("mnist1d-cnn", "mnist1d-mlp"))]
    return Plan(None, groups=groups)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def task(g: Group, seed: int) -> dict:
    return {"trial_id": f"{g.prefix}.seed-{seed}", "phase": "final", "config": g.config({}, seed, 1).to_dict()}


def finish(p: Progress, g: Group, seed: int, seconds: float, clock: Clock, status: str = "ok") -> None:
    from bench.search.protocol import TrialSummary

    t = task(g, seed)
    p.started(t)
    clock.now += seconds
    g.record(TrialSummary(t["trial_id"], {}, status, 0.5))
    p.finished(t, {"status": status, "epoch": 2})


def test_eta_prices_each_workload_by_its_own_finished_trials_and_splits_the_work_among_slots():
    pl, clock = plan(), Clock()
    cnn, gru = pl.groups
    p = Progress(pl, slots=2, clock=clock)
    assert p.remaining() is None and p.eta() == "eta: after the first trial"
    finish(p, cnn, 1, 4.0, clock)  # 2 s per CNN epoch
    assert p.remaining() == pytest.approx(5 * 4.0 / 2)  # the GRU, not measured yet, at the mean of all
    finish(p, gru, 1, 20.0, clock, status="diverged")  # 10 s per GRU epoch
    assert p.remaining() == pytest.approx((2 * 4.0 + 2 * 20.0) / 2)
    p.started(task(gru, 2))
    gru.running.add(task(gru, 2)["trial_id"])  # as the searcher marks it
    clock.now += 5.0  # a running GRU trial has 15 s left
    assert p.remaining() == pytest.approx((2 * 4.0 + 20.0 + 15.0) / 2)
    assert p.done["final"] == 2 and p.failed["final"] == 1 and p.eta() == "eta 22 s"


def test_cached_trials_set_no_price():
    pl, clock = plan(), Clock()
    p = Progress(pl, clock=clock)
    t = task(pl.groups[0], 1)
    p.started(t)
    clock.now += 0.01
    p.finished(t, {"status": "ok", "epoch": 2, "cached": True})
    assert p.remaining() is None and p.done["final"] == 1


def test_the_live_display_shows_counts_running_trials_and_eta():
    pl, clock = plan(), Clock()
    p = Progress(pl, slots=2, clock=clock)
    finish(p, pl.groups[0], 1, 4.0, clock, status="error")
    p.started(task(pl.groups[1], 1))
    pl.groups[1].running.add(task(pl.groups[1], 1)["trial_id"])
    out = Console(file=io.StringIO(), width=120, color_system=None)
    out.print(p)
    text = out.file.getvalue()
    assert "demo: 1/6 trials" in text and "eta 10 s" in text and "mnist1d-cnn.adam.seed-1" not in text
    final = next(line for line in text.splitlines() if line.strip("│ ").startswith("final"))
    assert final.replace("│", " ").split() == ["final", "1", "1", "1", "6"]  # done, failed, running, of
    assert "mnist1d-mlp.adam.seed-1" in text


def test_plain_lines_end_with_the_eta_and_no_live_display_off_a_terminal(tmp_path, capsys):
    lines: list[str] = []
    InProcess(tensorboard=False).run(plan(), tmp_path, lines.append)
    assert len(lines) == 6 and all("| running 0, failed" in line for line in lines)
    assert lines[0].rsplit(", ", 1)[1].startswith("eta ") and lines[-1].endswith(", eta 0 s")
    assert capsys.readouterr().out == ""  # stdout is not a terminal here: nothing drawn


def test_live_draws_on_a_terminal(monkeypatch):
    import rich.console

    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    pl = plan()
    with live(Progress(pl), print) as shown:
        assert shown is not None


def test_a_step_capped_trial_is_priced_as_a_whole_not_by_its_formal_epochs():
    """A study's runs set epochs 100,000 and stop at max_steps: an ETA by epochs said 118 hours for a 2-minute study."""
    cfg = TrialConfig.from_dict({**TINY, "epochs": 100_000, "max_steps": 300, "workload": "mnist1d-mlp"})
    pl = Plan(None, groups=[Group(0, "deep", "study", (), cfg, "test_acc", "max", trials=0, seeds=(0, 1, 2, 3))])
    clock = Clock()
    p = Progress(pl, slots=2, clock=clock)
    finish(p, pl.groups[0], 0, 6.0, clock)
    assert p.remaining() == pytest.approx(3 * 6.0 / 2) and p.eta() == "eta 9 s"
