"""The sweep protocol's decisions, pinned on planted outcomes: which trial is best in each direction, which metric
the search learns from (validation, never test), which run `--resume last` continues, which seeds the final phase
uses, and what the leaderboard counts as failed."""
import math
import os
import time

import pandas as pd
import pytest

from bench.results import TrialRecord
from bench.search.protocol import FINAL, TUNE, Plan, TrialSummary, tuning_metric
from bench.search.space import load_space

TINY = {"width": 4, "fc_width": 8, "depth": 1, "n_train": 256, "probe_every": 0}


def space_dict(name="proto", workloads=("mnist1d-cnn",), levels=("adam",), trials=4, seeds=3, seed=0, confirm=0):
    """confirm=0 unless a test says otherwise: most tests here pin the search's ranking on its one tuning seed."""
    return {"name": name, "compare": "optimizer", "levels": list(levels), "workloads": list(workloads),
            "fixed": dict(TINY), "tune": {"lr": {"min": 1.0e-3, "max": 1.0e-1, "scaling": "log"}},
            "budget": {"trials_per_level": trials, "epochs": 2, "seeds": seeds, "grace_epochs": 1, "seed": seed,
                       "confirm": confirm}}


def planted_group(workload: str, values: list[float], statuses=None, confirm=0):
    """The one group of a fresh plan, with its tuning trials finished at the planted objective values."""
    g = Plan(load_space(space_dict(workloads=(workload,), trials=len(values), confirm=confirm))).groups[0]
    statuses = statuses or ["ok"] * len(values)
    for k, (tid, v, s) in enumerate(zip(g.tuning_ids(), values, statuses, strict=True)):
        g.record(TrialSummary(tid, {"lr": 10.0 ** -(k + 1)}, s, v))
    return g


def test_best_trial_is_the_highest_for_a_max_metric():
    g = planted_group("mnist1d-cnn", [0.50, 0.91, 0.20, 0.90])
    assert g.mode == "max"
    assert g.best().trial_id == g.tuning_ids()[1] and g.best().params == {"lr": 1e-2}


def test_best_trial_is_the_lowest_for_a_min_metric():
    g = planted_group("adding", [0.30, 0.05, 0.01, 0.20])
    assert g.mode == "min" and g.metric == "val_mse"
    assert g.best().trial_id == g.tuning_ids()[2] and g.best().params == {"lr": 1e-3}


def test_best_ignores_trials_that_did_not_finish_even_with_a_better_value():
    g = planted_group("mnist1d-cnn", [0.6, 0.99, 0.98, 0.7], ["ok", "stopped", "diverged", "ok"])
    assert g.best().trial_id == g.tuning_ids()[3]


def test_ties_go_to_the_earlier_trial():
    g = planted_group("mnist1d-cnn", [0.5, 0.8, 0.8, 0.1])
    assert g.best().trial_id == g.tuning_ids()[1]


def confirm_planted(g, confirm_values: list[tuple[str, float]]):
    for (cid, tuned), (status, value) in zip(g.confirm_ids().items(), confirm_values, strict=True):
        g.record(TrialSummary(cid, tuned.params, status, value))


def test_confirm_reruns_the_top_configs_on_a_second_seed_before_any_final_seed():
    g = planted_group("mnist1d-cnn", [0.50, 0.91, 0.20, 0.90], confirm=2)
    t = g.tuning_ids()
    assert g.confirm_seed == 1001 and g.confirm_seed != g.base.seed and g.confirm_seed not in g.seeds
    assert {cid: o.trial_id for cid, o in g.confirm_ids().items()} == {"mnist1d-cnn.adam.confirm-0": t[1],
                                                                        "mnist1d-cnn.adam.confirm-1": t[3]}
    assert g.next_confirm() == ("mnist1d-cnn.adam.confirm-0", {"lr": 1e-2})
    assert g.best() is None and g.next_final() is None and not g.finished()  # no final seed before the choice
    assert g.search_best().trial_id == t[1]


def test_confirm_picks_the_runner_up_when_the_best_diverges_on_the_confirm_seed():
    """The measured failure: the seed-0 best sits at the edge of stability and diverges on another seed. Chosen
    on one seed, the final seeds re-run it; confirmed, the protocol re-runs the runner-up instead."""
    g = planted_group("mnist1d-cnn", [0.50, 0.91, 0.20, 0.90], confirm=2)
    confirm_planted(g, [("diverged", -math.inf), ("ok", 0.88)])
    best = g.best()
    assert best.trial_id == g.tuning_ids()[3] and best.params == {"lr": 1e-4}
    assert best.objective == pytest.approx((0.90 + 0.88) / 2)
    assert g.next_final() == (list(g.final_ids())[0], 1)


def test_confirm_chooses_on_the_mean_over_both_seeds_in_each_direction():
    g = planted_group("mnist1d-cnn", [0.50, 0.91, 0.20, 0.90], confirm=2)
    confirm_planted(g, [("ok", 0.80), ("ok", 0.89)])  # means 0.855 and 0.895
    assert g.best().trial_id == g.tuning_ids()[3]
    g = planted_group("adding", [0.30, 0.05, 0.01, 0.20], confirm=3)  # lower is better
    confirm_planted(g, [("ok", 0.09), ("ok", 0.03), ("ok", 0.25)])  # confirm-k re-runs the k-th best: t2, t1, t3
    assert g.best().trial_id == g.tuning_ids()[1] and g.best().objective == pytest.approx(0.04)
    confirm_planted(g, [("ok", 0.03), ("ok", 0.03), ("error", math.inf)])  # a tie: the better on the tuning seed
    assert g.best().trial_id == g.tuning_ids()[2]


def test_confirm_runs_only_configs_that_trained_to_the_end():
    g = planted_group("mnist1d-cnn", [0.5, 0.99, 0.98, 0.7], ["diverged", "stopped", "ok", "diverged"], confirm=2)
    assert [o.trial_id for o in g.confirm_ids().values()] == [g.tuning_ids()[2]]
    plan = Plan(load_space(space_dict(trials=4, seeds=3, confirm=2)))
    assert plan.total() == 4 + 2 + 3
    for o in g.done.values():
        plan.groups[0].record(o)
    assert plan.total() == 4 + 1 + 3
    confirm_planted(plan.groups[0], [("diverged", -math.inf)])  # every confirmed config failed: still the choice
    assert plan.groups[0].best().trial_id == g.tuning_ids()[2] and plan.groups[0].next_final() is not None


def test_searcher_writes_down_confirm_trials_and_resumes_them_exactly(tmp_path):
    """The confirm trials are suggested (written down) with the confirm seed, run without ASHA rungs, and an
    interrupted one is re-run with the very params and seed written down."""
    from bench.search.protocol import CONFIRM, read_suggestions
    from bench.search.tune import ProtocolSearcher

    space = load_space(space_dict(trials=3, seeds=1, confirm=2))
    ids = Plan(space).groups[0].tuning_ids()
    records = [record(t, "ok", [{"epoch": 2, "val_acc": v}]) for t, v in zip(ids, [0.4, 0.6, 0.5], strict=True)]
    searcher = ProtocolSearcher(Plan(space, records), tmp_path, 1)
    a, b = searcher.suggest("a"), searcher.suggest("b")
    assert [a["trial_id"], b["trial_id"]] == ["mnist1d-cnn.adam.confirm-0", "mnist1d-cnn.adam.confirm-1"]
    assert {a["phase"], b["phase"]} == {CONFIRM} and a["report_epochs"] == [] and a["config"]["seed"] == 1001
    assert searcher.suggest("c") is None  # the final seed waits for the choice
    written = read_suggestions(tmp_path)
    assert written[b["trial_id"]]["seed"] == 1001 and set(written) == {a["trial_id"], b["trial_id"]}
    searcher.on_trial_complete("a", {"final": True, "status": "ok", "objective": 0.1})
    resumed = ProtocolSearcher(Plan(space, records + [record(a["trial_id"], "ok", [{"epoch": 2, "val_acc": 0.1}])],
                                    read_suggestions(tmp_path)), tmp_path, 1)
    again = resumed.suggest("b2")
    assert again["trial_id"] == b["trial_id"] and again["config"] == b["config"]
    resumed.on_trial_complete("b2", {"final": True, "status": "ok", "objective": 0.5})
    final = resumed.suggest("f")
    assert final["phase"] == FINAL and final["config"]["lr"] == b["config"]["lr"]  # (0.5+0.5)/2 beats (0.6+0.1)/2
    assert final["tags"]["chosen_objective"] == pytest.approx(0.5) and final["tags"]["chosen_seeds"] == 2


@pytest.mark.parametrize("target, metric", [("test_acc", "val_acc"), ("test_f1", "val_f1"), ("test_mse", "val_mse"),
                                            ("test_loss", "val_loss")])
def test_tuning_metric_is_the_validation_counterpart(target, metric):
    assert tuning_metric(target) == metric


def record(tid, status, epochs, final=None):
    return TrialRecord(tid, {}, {"lr": 0.01}, status, final or {}, epochs, [])


def test_plan_learns_the_validation_value_not_the_test_value():
    """A resumed plan scores each finished trial by its last validation value; the test score in the same
    record must never decide which configuration is re-run."""
    g0 = Plan(load_space(space_dict(trials=2))).groups[0]
    t0, t1 = g0.tuning_ids()
    records = [record(t0, "ok", [{"epoch": 1, "val_acc": 0.3, "test_acc": 0.99}, {"epoch": 2, "val_acc": 0.8}],
                      {"test_acc": 0.10}),
               record(t1, "ok", [{"epoch": 1, "val_acc": 0.2}, {"epoch": 2, "val_acc": 0.4}], {"test_acc": 0.95})]
    g = Plan(load_space(space_dict(trials=2)), records).groups[0]
    assert g.done[t0].objective == 0.8 and g.done[t1].objective == 0.4
    assert g.best().trial_id == t0


def test_an_early_stopped_trial_is_judged_on_the_weights_it_was_tested_with(tmp_path, monkeypatch):
    """Early stopping restores the best epoch's weights, and the test score is theirs: the search must learn the
    validation value of those weights, not of the last epoch (both in the trial and in a plan rebuilt on resume)."""
    import bench.train
    from bench.search.trial import sweep_trial

    rows = [{"epoch": 1, "val_acc": 0.8}, {"epoch": 2, "val_acc": 0.7}, {"epoch": 3, "val_acc": 0.6}]
    space = load_space(space_dict(trials=2))
    t0, t1 = Plan(space).groups[0].tuning_ids()
    records = [TrialRecord(t0, {}, {"lr": 0.01, "early_stop": 2}, "ok", {"best_epoch": 1}, rows, []),
               TrialRecord(t1, {}, {"lr": 0.02, "early_stop": 0}, "ok", {"best_epoch": 1}, rows[:1] + [rows[1]], [])]
    g = Plan(space, records).groups[0]
    assert g.done[t0].objective == 0.8 and g.done[t1].objective == 0.7 and g.best().trial_id == t0

    def fake_run_trial(cfg, report=None, data=None):
        return bench.train.TrialResult(cfg.to_dict(), "ok", {"test_acc": 0.77, "best_epoch": 1}, rows, [])

    monkeypatch.setattr(bench.train, "run_trial", fake_run_trial)
    task = {"trial_id": t0, "out": str(tmp_path), "config": g.config({"lr": 0.01}, 0, 1).replace(early_stop=2).to_dict(),
            "tags": g.tags(space, TUNE), "metric": g.metric, "mode": g.mode, "target": g.target, "report_epochs": []}
    assert sweep_trial(task)["objective"] == 0.8


def test_sweep_trial_reports_validation_objective_and_test_score(tmp_path, monkeypatch):
    """Spy on what a trial hands the search: a planted run whose validation and test values differ."""
    import bench.train
    from bench.search.trial import sweep_trial

    def fake_run_trial(cfg, report=None, data=None):
        rows = [{"epoch": 1, "val_acc": 0.40, "train_acc": 0.9}, {"epoch": 2, "val_acc": 0.55, "train_acc": 0.97}]
        return bench.train.TrialResult(cfg.to_dict(), "ok", {"test_acc": 0.77, "val_acc": 0.11}, rows, [])

    monkeypatch.setattr(bench.train, "run_trial", fake_run_trial)
    space = load_space(space_dict())
    g = Plan(space).groups[0]
    task = {"trial_id": g.tuning_ids()[0], "out": str(tmp_path), "config": g.config({"lr": 0.01}, 0, 1).to_dict(),
            "tags": g.tags(space, TUNE), "metric": g.metric, "mode": g.mode, "target": g.target, "report_epochs": []}
    out = sweep_trial(task)
    assert out["objective"] == 0.55 and out["score"] == 0.77


def test_searcher_hands_every_trial_the_validation_metric(tmp_path):
    from bench.search.tune import ProtocolSearcher

    plan = Plan(load_space(space_dict(workloads=("mnist1d-cnn", "adding"), trials=2)))
    searcher = ProtocolSearcher(plan, tmp_path, 1)
    tasks = [searcher.suggest(f"t{i}") for i in range(4)]
    assert {(t["metric"], t["target"]) for t in tasks} == {("val_acc", "test_acc"), ("val_mse", "test_mse")}
    assert all(t["phase"] == TUNE and t["config"]["seed"] == 0 for t in tasks)


def test_final_phase_seeds_differ_from_the_tuning_seed():
    for seed in (0, 7):
        plan = Plan(load_space(space_dict(seed=seed, seeds=4)))
        g = plan.groups[0]
        assert g.base.seed == seed and g.seeds == tuple(range(seed + 1, seed + 5))
        for tid in g.tuning_ids():
            g.record(TrialSummary(tid, {"lr": 0.01}, "ok", 0.5))
        seen = []
        while (nxt := g.next_final()) is not None:
            seen.append(g.config(g.best().params, nxt[1], 1).seed)
            g.record(TrialSummary(nxt[0], {}, "ok", 0.5))
        assert seen == list(range(seed + 1, seed + 5)) and seed not in seen


def make_run(root, name, age_s):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "space.yaml").write_text("placeholder: true\n")
    stamp = time.time() - age_s
    os.utime(folder, (stamp, stamp))
    return folder


def test_resume_last_continues_the_newest_of_several_runs(tmp_path, monkeypatch):
    """Three earlier runs of the sweep, made by new_run_folder's naming at different times (plus a run of another
    sweep): `--resume last` must pick the newest one of this sweep."""
    from bench.search import sweep

    space = load_space(space_dict(name="opt"))
    make_run(tmp_path, "opt-20250101-090000", 300)
    newest = make_run(tmp_path, "opt-20250102-080000", 100)
    make_run(tmp_path, "opt-20250101-230000", 200)
    make_run(tmp_path, "opt2-20250103-000000", 0)
    monkeypatch.setattr(sweep, "load_space", lambda path: space)  # the stored space is the same space
    assert sweep._resumed_folder(space, tmp_path, True, force=False)[0] == newest


def test_resume_last_with_a_same_second_suffix_picks_the_later(tmp_path, monkeypatch):
    from bench.results import new_run_folder
    from bench.search import sweep

    space = load_space(space_dict(name="opt"))
    first = new_run_folder(tmp_path, "opt")
    (first / "space.yaml").write_text("x: 1\n")
    second = new_run_folder(tmp_path, "opt")
    (second / "space.yaml").write_text("x: 1\n")
    monkeypatch.setattr(sweep, "load_space", lambda path: space)
    assert sweep._resumed_folder(space, tmp_path, True, force=False)[0] == second


def board_rows(statuses: dict[str, list[str]]):
    rows = []
    for level, sts in statuses.items():
        for i, s in enumerate(sts):
            rows.append({"workload": "w", "level": level, "phase": FINAL, "status": s, "trial_id": f"{level}{i}",
                         "score": 0.8 + 0.01 * i if s == "ok" else math.nan, "lr": 0.01, "tuned": "lr",
                         "target_metric": "test_acc", "target_mode": "max", "seed": i + 1, "objective": 0.5})
    rows.append({**rows[0], "phase": TUNE, "status": "diverged", "trial_id": "tuning-only", "seed": 0})
    return pd.DataFrame(rows)


def test_report_leaderboard_counts_diverged_and_errored_final_seeds_as_failed():
    from bench.report import tables as tb

    board = tb.leaderboard(tb.prepare(board_rows({"a": ["diverged", "ok", "ok", "error"], "b": ["ok"] * 3})))
    by = board.set_index("level")
    assert by.loc["a", "failed"] == 2 and by.loc["a", "seeds"] == 2
    assert by.loc["b", "failed"] == 0 and by.loc["b", "seeds"] == 3


def test_the_groups_running_tallies_equal_their_definitions_after_any_sequence_of_events():
    """Group keeps its tuning tallies incrementally (the driver reads them at every trial). After every event of
    random sequences -- a resume's parts and suggestions read back, trials handed out, finished, cancelled and handed
    out again, a never-proposed slot recorded, an outcome recorded again -- they must equal what their definitions
    recompute from done / running / suggested."""
    import random

    from bench.search.protocol import rank
    from bench.status import TrialStatus

    def outcome(tid):  # values drawn from few, so that ties occur
        return TrialSummary(tid, {"lr": 0.01}, rng.choice(["ok", "ok", "diverged", "error", "stopped"]),
                            rng.choice([0.1, 0.5, 0.9]))

    for trial in range(60):
        rng = random.Random(trial)
        g = Plan(load_space(space_dict(trials=8, confirm=2))).groups[0]
        ids = g.tuning_ids()
        every = [*ids, *g.confirm_slots(), *g.final_ids()]
        resumed = rng.sample(every, rng.randrange(len(every)))
        for tid in resumed[: len(resumed) // 2]:  # as Plan reads a resumed folder: the parts, then the suggestions
            g.record(outcome(tid))
        for tid in resumed:
            g.remember({"trial_id": tid, "params": {"lr": 0.01}, "seed": 0})
        for _ in range(40):
            event, idle = rng.random(), [t for t in every if t not in g.running]
            if event < 0.4 and (fresh := [t for t in idle if t not in g.done]):
                g.start({"trial_id": rng.choice(fresh), "params": {"lr": 0.01}, "seed": 0})
            elif event < 0.8 and g.running:
                tid = rng.choice(sorted(g.running))
                g.stop(tid, outcome(tid) if rng.random() < 0.7 else None)
            elif idle:
                g.record(outcome(rng.choice(idle)))
            open_ids = [t for t in ids if t not in g.done and t not in g.running]
            interrupted = [t for t in open_ids if t in g.suggested]
            assert g.next_tuning_id() == (interrupted or open_ids or [None])[0]
            assert g.ranked() == rank([g.done[t] for t in ids if t in g.done], g.mode)
            assert g.tuning_finished() == all(t in g.done for t in ids)
            for final in (False, True):
                assert g.failures[final] == sum(TrialStatus(o.status).is_failure() for t, o in g.done.items()
                                                if (t in g.final_ids()) == final)
