"""`bench faq`: decision rules on planted data, the fair-grid runner's choices, and every claim judged end to end
on the tiny budget."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.faq import evidence as evd
from bench.faq import questions as fq
from bench.faq.main import NOT_JUDGED, answer
from bench.faq.questions import QUESTIONS
from bench.report import stats as st
from bench.report.faq import CSV_COLUMNS, PENDING, ClaimResult, QuestionResult, mark_shared, tally, verdict_table
from bench.results import read_run
from bench.scores import CHANCE_POINTS
from bench.search.experiment import BUDGETS, QUICK_LRS, Cell, Experiment, plan_experiment, trial_config
from bench.search.protocol import objective
from bench.search.runners import InProcess
from bench.search.trial import UNTRACKED, config_key
from bench.train import steps_per_epoch
from bench.workloads import WORKLOADS, get_workload, target_value


def scores_table(levels: dict[str, list[float]], group: str = "g") -> pd.DataFrame:
    """Final-phase test accuracies, one per seed (1, 2, ...), as the prepared trials table holds them."""
    return pd.DataFrame([{"trial_id": f"{lv}{s}", "group": group, "level": lv, "phase": "final", "seed": s + 1,
                          "status": "ok", "score": v, "objective": v, "target_metric": "test_acc", "target_mode": "max"}
                         for lv, values in levels.items() for s, v in enumerate(values)])


def planted(levels: dict[str, float], sd: float = 0.005, seeds: int = 4) -> pd.DataFrame:
    """Accuracies around the given means with small per-seed noise."""
    noise = np.random.default_rng(0).normal(0, sd, (len(levels), seeds))
    return scores_table({lv: list(mean + noise[i]) for i, (lv, mean) in enumerate(levels.items())})


def test_judge_better_on_planted_gains():
    df = planted({"adam": 0.90, "sgd": 0.80, "rmsprop": 0.905})
    assert evd.judge_better(df, [("g", "adam", "sgd")]).verdict == st.SUPPORTED
    assert evd.judge_better(df, [("g", "sgd", "adam")]).verdict == st.REFUTED
    # rmsprop's 0.5-point edge is real but below the 2-point margin: the claimed benefit does not matter
    assert evd.judge_better(df, [("g", "rmsprop", "adam")]).verdict == st.REFUTED
    noisy = scores_table({"a": [0.95, 0.85, 0.90], "b": [0.83, 0.93, 0.88]})  # 2 points apart, seeds disagree
    assert evd.judge_better(noisy, [("g", "a", "b")]).verdict == st.INCONCLUSIVE


def test_judge_not_worse_on_planted_gaps():
    df = planted({"adam": 0.90, "sgd": 0.895, "bad": 0.80})
    assert evd.best_level(df, "g", exclude="sgd") == "adam"
    assert evd.judge_not_worse(df, [("g", "sgd", "adam")]).verdict == st.SUPPORTED
    assert evd.judge_not_worse(df, [("g", "bad", "adam")]).verdict == st.REFUTED
    both = evd.judge_not_worse(df, [("g", "sgd", "adam"), ("g", "bad", "adam")])
    assert both.verdict == st.REFUTED and len(both.numbers) == 2


def arms(levels: dict[str, dict], workload: str = "mnist1d-cnn") -> pd.DataFrame:
    """A prepared trials table of real-workload arms: level -> {"scores": [...], other columns per seed or fixed}."""
    rows = []
    for level, spec in levels.items():
        for s, score in enumerate(spec["scores"]):
            extra = {k: (v[s] if isinstance(v, list) else v) for k, v in spec.items() if k != "scores"}
            rows.append({"trial_id": f"{level}{s}", "group": "g", "workload": workload, "level": level, "phase": "final",
                         "seed": s + 1, "status": "ok", "score": score, "target_metric": "test_acc",
                         "target_mode": "max", "epochs": 6, "epochs_run": 6, "early_stop": 0, "clip_norm": 0.0,
                         "objective": score, "tune_mode": "max", **extra})
    return pd.DataFrame(rows)


GOAL = WORKLOADS["mnist1d-cnn"].goal
UP = [0.050, 0.052, 0.048]  # a clear gain of 5 points, tight across seeds


def test_workloads_state_a_goal_between_chance_and_the_converged_score():
    for spec in WORKLOADS.values():
        assert spec.goal_basis, spec.name
        if math.isfinite(spec.goal):
            assert (spec.chance < spec.goal) == (spec.mode == "max"), spec.name
    assert target_value(0.942, 0.1) == 0.86 and target_value(0.00025, 1 / 6) == pytest.approx(0.017)


@pytest.mark.parametrize(("ref", "want"), [(GOAL + 0.001, st.SUPPORTED), (GOAL - 0.001, st.UNTESTABLE)])
def test_target_gate_on_both_sides_of_the_goal(ref, want):
    df = arms({"a": {"scores": [ref + d for d in UP]}, "b": {"scores": [ref] * 3}})
    j = evd.judge_better(df, [("g", "a", "b")])
    assert j.verdict == want and j.rows[0]["gate_target"] == ("pass" if want == st.SUPPORTED else "fail")
    assert "gates: target" in j.numbers[0] and j.rows[0]["target"] == GOAL


@pytest.mark.parametrize(("low", "want"), [(0.1 + CHANCE_POINTS + 0.001, st.REFUTED),
                                           (0.1 + CHANCE_POINTS - 0.001, st.UNTESTABLE)])
def test_chance_gate_on_both_sides_of_the_tolerance(low, want):
    # "low is as good as ref", ref above its target: far worse refutes it, unless low sits at chance
    df = arms({"ref": {"scores": [0.9, 0.91, 0.9]}, "low": {"scores": [low - 0.001, low, low + 0.001]}})
    assert evd.chance_gate(df, "g", ["low", "ref"]).passed == (want == st.REFUTED)
    j = evd.judge_not_worse(df, [("g", "low", "ref")])
    assert j.verdict == want and j.rows[0]["gate_target"] == "pass"


@pytest.mark.parametrize(("epochs_run", "want"), [([4, 5, 6], st.SUPPORTED), ([6, 5, 6], st.NOT_EXERCISED),
                                                  ([6, 6, 6], st.NOT_EXERCISED)])
def test_early_stopping_must_fire_in_most_seeds(epochs_run, want):
    base = [GOAL + 0.01] * 3
    df = arms({"es": {"scores": [b + d for b, d in zip(base, UP, strict=True)], "early_stop": 3,
                      "epochs_run": epochs_run}, "baseline": {"scores": base}})
    assert evd.judge_better(df, [("g", "es", "baseline")]).verdict == want


def test_a_gain_of_exactly_zero_from_early_stopping_that_never_fired_is_not_exercised_not_refuted():
    same = [GOAL + 0.02, GOAL + 0.03, GOAL + 0.01]
    df = arms({"es": {"scores": same, "early_stop": 3}, "baseline": {"scores": same}})
    j = evd.judge_better(df, [("g", "es", "baseline")])
    assert j.verdict == st.NOT_EXERCISED and j.rows[0]["gate_acted"] == "fail" and j.rows[0]["outcome"] == "equivalent"


@pytest.mark.parametrize(("fraction", "passed"), [(0.0, False), (0.01, True), (None, None)])
def test_clipping_must_have_changed_some_gradients(fraction, passed):
    extra = {"clip_norm": 1.0} | ({"clip_fraction": fraction} if fraction is not None else {})
    df = arms({"clip": {"scores": [0.9] * 3, **extra}, "none": {"scores": [0.9] * 3}})
    assert evd.acted_gate(df, "g", "clip", "none").passed is passed
    assert evd.acted_gate(df, "g", "none", "clip").passed is passed  # whichever side has it on


def test_regularizer_and_schedule_gates_read_the_table():
    df = arms({"wd": {"scores": [0.9] * 3, "weight_decay": 5e-4, "schedule": "constant"},
               "cos": {"scores": [0.9] * 3, "weight_decay": 0.0, "schedule": "cosine"},
               "base": {"scores": [0.9] * 3, "weight_decay": 0.0, "schedule": "constant"}})
    assert evd.acted_gate(df, "g", "wd", "base").passed and "weight_decay=0.0005" in evd.acted_gate(df, "g", "wd", "base").detail
    assert evd.acted_gate(df, "g", "cos", "base").passed
    assert evd.acted_gate(df, "g", "base", "base").passed is None


def test_outcomes_become_verdicts_three_ways():
    ref = [GOAL + 0.01, GOAL + 0.012, GOAL + 0.008]
    cases = {"better": ([r + d for r, d in zip(ref, UP, strict=True)], st.SUPPORTED),
             "equivalent": ([r + 0.001 for r in ref], st.REFUTED),
             "worse": ([r - d for r, d in zip(ref, UP, strict=True)], st.REFUTED),
             "wide": ([ref[0] + 0.1, ref[1] - 0.1, ref[2] + 0.02], st.INCONCLUSIVE)}
    for name, (scores, want) in cases.items():
        df = arms({name: {"scores": scores}, "ref": {"scores": ref}})
        j = evd.judge_better(df, [("g", name, "ref")])
        assert (j.verdict, j.rows[0]["outcome"]) == (want, "inconclusive" if name == "wide" else name), name
        assert "half-width" in j.numbers[0]


def test_the_best_other_level_is_chosen_on_validation_not_test():
    df = arms({"a": {"scores": [0.90] * 3, "objective": [0.80] * 3}, "b": {"scores": [0.88] * 3, "objective": [0.85] * 3},
               "c": {"scores": [0.5] * 3}})
    assert evd.best_level(df, "g", exclude="c") == "b"


def test_claims_sharing_a_comparison_say_so_and_the_tally_counts_it_once():
    df = arms({"cos": {"scores": [GOAL + 0.06] * 3, "schedule": "cosine"}, "const": {"scores": [GOAL] * 3}})
    first, second = (evd.judge_better(df, [("g", "cos", "const")]) for _ in range(2))
    assert first.rows[0]["key"] == second.rows[0]["key"] != ""
    results = [QuestionResult("8.4", "t", "q", "tr", "src", "e",
                              [ClaimResult(cid, "c", "r", j.verdict, j.numbers, rows=j.rows)
                               for cid, j in (("8.4a", first), ("8.10a", second))])]
    mark_shared(results)
    assert results[0].claims[1].shared == {"g: cos vs const": ["8.4a"]}
    assert "2 supported" in tally(results) and "1 supported" in tally(results).split("Distinct")[1]
    table = verdict_table(results)
    assert list(table.columns) == CSV_COLUMNS and table.loc[1, "shared_with"] == "8.4a"


def test_interaction_contrast_on_known_samples():
    est, (lo, hi), p = evd.interaction(np.array([0.9, 0.92, 0.91]), np.array([0.7, 0.72, 0.71]),
                                       np.array([0.8, 0.82, 0.81]), np.array([0.79, 0.81, 0.80]))
    assert est == pytest.approx(0.19) and lo < 0.19 < hi and p < 0.001
    assert math.isnan(evd.interaction(np.array([1.0]), np.ones(3), np.ones(3), np.ones(3))[0])  # one seed: no test


def test_study_claims_map_to_verdicts_by_key():
    claims = pd.DataFrame({"key": ["faq-relu", "faq-rmsprop", "rmsprop-backprop", "faq-bn", "faq-bn"],
                           "claim": ["ReLU mitigates it", "RMSprop alleviates it", "RMSprop leaves backprop alone",
                                     "BN restores flow (net A)", "BN restores flow (net B)"],
                           "source": "x", "criterion": "ratio > 0.3", "measured": ["0.5", "0.01", "1.0", "0.4", "0.1"],
                           "outcome": ["pass", "fail", "pass", "pass", "fail"]})
    assert evd.judge_study(claims, r"^faq-relu$", "vanishing").verdict == st.SUPPORTED
    rms = evd.judge_study(claims, r"^faq-rmsprop$", "vanishing", context=r"^rmsprop-")
    assert rms.verdict == st.REFUTED and len(rms.table) == 2 and "context" in rms.numbers[1]  # context shown, not counted
    assert evd.judge_study(claims, r"^faq-bn$", "vanishing").verdict == st.INCONCLUSIVE
    assert evd.judge_study(None, r"^faq-adam$", "exploding").verdict == st.INCONCLUSIVE


def test_an_inconclusive_study_row_decides_nothing():
    claims = pd.DataFrame({"key": ["faq-adam", "faq-bn", "faq-relu"], "claim": "c", "source": "x", "criterion": "y",
                           "measured": "z", "seeds_met": ["3/5", "1/5", "5/5"],
                           "outcome": ["inconclusive", "fail", "pass"]})
    adam = evd.judge_study(claims, r"^faq-adam$", "exploding")
    assert adam.verdict == st.INCONCLUSIVE and "3/5 seeds" in adam.numbers[0]
    assert evd.judge_study(claims, r"^faq-bn$", "exploding").verdict == st.REFUTED
    assert evd.judge_study(claims, r"^faq-relu$", "exploding").verdict == st.SUPPORTED


def test_tuning_is_judged_on_validation_and_identity_ignores_threads():
    exp = Experiment("e", "x", (Cell("g", "f1", {"workload": fq.IMBALANCED}), Cell("g", "acc", {"workload": fq.CNN})))
    plan = plan_experiment(exp, BUDGETS["tiny"], Path("unused"), print)
    assert [(g.metric, g.mode) for g in plan.groups] == [("val_f1", "max"), ("val_acc", "max")]  # validation, not test
    cfg = trial_config(BUDGETS["quick"], Cell("g", "l", {"workload": "mnist1d-cnn"}), 0.01, 3).to_dict()
    assert cfg["threads"] == 1 and cfg["epochs"] == BUDGETS["quick"].epochs_for("mnist1d-cnn") == 12 and cfg["seed"] == 3
    recipe = get_workload("mnist1d-cnn").recipe.settings  # the workload's recipe, but for what the cell changes (lr)
    assert {k: cfg[k] for k in recipe if k != "lr"} == {k: v for k, v in recipe.items() if k != "lr"}
    assert config_key(cfg) == config_key({**cfg, **{k: "other" for k in UNTRACKED}})
    assert config_key(cfg) != config_key({**cfg, "seed": 4})


def test_budgets_give_every_level_the_same_log_grid():
    for budget in BUDGETS.values():
        lrs = np.log10(budget.lrs)
        assert len(lrs) >= 2 and np.allclose(np.diff(lrs), np.diff(lrs)[0], atol=0.01)
    assert BUDGETS["quick"].seeds >= 3 and BUDGETS["full"].seeds >= 5


def test_unknown_question_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["faq", "--questions", "8.1,9.9", "--out", str(tmp_path / "o"),
                                      "--runs", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown FAQ question '9.9'; choose from: " + ", ".join(q.id for q in QUESTIONS)


def write_study(folder, rows: list[tuple[str, bool]]) -> None:
    """A study's output folder as bench.studies writes it: claims.csv (key, claim, ...) and a figure."""
    folder.mkdir(parents=True)
    pd.DataFrame([{"key": key, "claim": f"claim {key}", "source": "paper", "criterion": "pre-set", "measured": "1.0",
                   "outcome": "pass" if ok else "fail"} for key, ok in rows]).to_csv(folder / "claims.csv", index=False)
    (folder / "gradient_variance.png").write_bytes(b"\x89PNG\r\n\x1a\n")


@pytest.mark.slow
def test_tiny_faq_judges_every_claim(tmp_path):
    studies = tmp_path / "studies"
    write_study(studies / "vanishing", [("faq-relu", True), ("faq-bn", True), ("faq-residual", True), ("faq-rmsprop", False)])
    write_study(studies / "exploding", [("faq-relu", False), ("faq-bn", True), ("faq-weight-clip", False), ("faq-adam", True),
                                        ("grad-norm-clip", True)])
    lines: list[str] = []
    # in this process: every claim's code path at the tiny budget (the Ray Tune runner: test_faq_ray, the sigterm test)
    page = answer(None, "tiny", tmp_path / "out", tmp_path / "runs", studies, reuse=True, runner=InProcess(),
                  log=lines.append)
    html, md = page.read_text(), (tmp_path / "out" / "faq.md").read_text()
    verdicts = {}
    for q in QUESTIONS:
        assert f'id="q{q.id}"' in html and f"> {q.quote}" in md
        for c in q.claims:
            found = re.search(rf'<h3 id="c{re.escape(c.id)}" class="claim">{re.escape(c.id)} '
                              rf'<span class="badge \w+ verdict-([\w-]+)">', html)
            assert found, c.id
            verdicts[c.id] = {w: k for k, w in st.VERDICT_WORDS.items()}[found.group(1).replace("-", " ")]
        for spec in q.figures:
            assert f'<figure id="fig-{spec.name}"><img' in html, spec.name
    assert set(verdicts.values()) <= set(st.VERDICT_WORDS)
    table = pd.read_csv(tmp_path / "out" / "verdicts.csv")
    assert list(table.columns) == CSV_COLUMNS and set(table["claim"]) == set(verdicts)
    decided = table[table["comparison_verdict"].isin(["supported", "refuted"])]
    assert not (decided[["gate_target", "gate_acted", "gate_chance"]] == "fail").any().any()
    assert (table["comparison_verdict"] == "untestable at this budget").any()  # 3 steps train nothing: gates say so
    assert len(verdicts) == sum(len(q.claims) for q in QUESTIONS) >= 30
    assert NOT_JUDGED not in html  # every trial of the tiny budget finishes, so every claim was judged on data
    assert (verdicts["8.5a"], verdicts["8.5d"], verdicts["8.6c"], verdicts["8.6e"]) == (
        st.SUPPORTED, st.REFUTED, st.REFUTED, st.SUPPORTED)
    assert 'id="fig-vanishing-gradient_variance"' in html and "TINY test budget" in html
    # Fair tuning: every level of a comparison was trained at the same LRs, then re-run with fresh seeds.
    trials = read_run(tmp_path / "runs" / "optimizers")["trials"]
    tune = trials[trials["phase"] == "tune"].groupby(["group", "level"])["lr"].apply(frozenset)
    assert set(tune) == {frozenset(BUDGETS["tiny"].lrs)}
    final = trials[trials["phase"] == "final"]
    assert set(final["seed"]) == set(range(1, BUDGETS["tiny"].seeds + 1))
    # The LR choice rests on two seeds: the tiny grid's 2 LRs re-run on the confirm seed, the final LR one of them.
    confirm = trials[trials["phase"] == "confirm"]
    assert set(confirm.groupby(["group", "level"])["lr"].apply(frozenset)) == {frozenset(BUDGETS["tiny"].lrs)}
    assert set(confirm["seed"]) == {1001} and set(final["lr"]) <= set(BUDGETS["tiny"].lrs)
    assert not math.isnan(final["score"].astype(float).mean())
    # Identical configurations across questions (e.g. Adam on the CNN in 8.1, 8.4 and 8.10) trained once.
    assert any("(cached)" in line for line in lines)
    assert (table["verdict_full"] == PENDING).all()
    # A second budget's folders (here the same run's) are judged without training and shown beside each claim.
    answer(["8.2"], "tiny", tmp_path / "out2", tmp_path / "runs", studies, reuse=True, log=lines.append,
           full_runs=tmp_path / "runs", full_studies=studies)
    beside = pd.read_csv(tmp_path / "out2" / "verdicts.csv")["verdict_full"]
    assert len(beside) and beside.isin(st.VERDICT_WORDS.values()).all()



def descendants(pid: int) -> dict[int, str]:
    """Live processes below pid (children, grandchildren, ...) with their command lines, from /proc (Linux)."""
    parent, cmd = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            line = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z":
            parent[int(stat.parent.name)], cmd[int(stat.parent.name)] = int(fields[1]), line
    below, frontier = {}, {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in below}
        below.update({p: cmd[p] for p in frontier})
    return below


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_sigterm_stops_the_faq_its_ray_and_its_trials(tmp_path):
    cmd = [sys.executable, "-m", "bench", "faq", "--quick", "--questions", "8.2",
           "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "faq"), "--studies", str(tmp_path / "studies")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, below = time.monotonic() + 180, {}
    while time.monotonic() < deadline and proc.poll() is None:
        below = descendants(proc.pid)
        if any("ray::ImplicitFunc" in line for line in below.values()):
            break
        time.sleep(0.5)
    assert any("ray::ImplicitFunc" in line for line in below.values()), "no trial started on Ray"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 143, out  # 128 + SIGTERM, as the shell reports it (bench.errors.exit_status)
    assert "add --resume to the same command to continue" in out and "Traceback" not in out
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{p}").exists() for p in below) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [p for p in below if Path(f"/proc/{p}").exists()]
    for p in left:  # do not leave them running after a failure
        os.kill(p, signal.SIGKILL)
    assert not left, f"processes outlived the run: {[below[p][:80] for p in left]}"


def tuning_table(best_lr: dict[str, float], lrs=tuple(10 ** (k / 2) for k in range(-8, 1)), top: float = 0.9) -> pd.DataFrame:
    """Tuning trials whose validation accuracy peaks (a parabola in log LR) at best_lr[level], at `top`."""
    return pd.DataFrame([{"group": fq.MLP, "level": level, "phase": "tune", "lr": lr, "tune_mode": "max",
                          "objective": top - (math.log10(lr) - math.log10(best)) ** 2 / 10}
                         for level, best in best_lr.items() for lr in lrs])


@pytest.mark.parametrize("exponent, verdict, rule", [(0.5, st.SUPPORTED, "square-root"), (1.0, st.SUPPORTED, "linear"),
                                                     (0.0, st.REFUTED, "neither")])
def test_batch_scaling_recovers_the_slope_of_best_lr_on_batch_size(exponent, verdict, rule):
    # best LRs off the grid: the interpolation, not the grid, must find them
    df = tuning_table({f"batch {n}": 2e-3 * (n / 32) ** exponent for n in fq.BATCH_SIZES})
    j = fq.batch_scaling(SimpleNamespace(trials=lambda name: df))
    assert j.verdict == verdict and f"batch size^{exponent:.2f}" in j.numbers[0] and rule in j.numbers[1]
    assert j.rows[0]["estimate"] == pytest.approx(exponent, abs=1e-6) and j.rows[0]["gate_chance"] == "pass"


@pytest.mark.parametrize(("top", "verdict"), [(0.1 + CHANCE_POINTS + 0.01, st.SUPPORTED),
                                              (0.1 + CHANCE_POINTS - 0.01, st.UNTESTABLE)])
def test_a_batch_size_slope_among_runs_at_chance_is_untestable(top, verdict):
    df = tuning_table({f"batch {n}": 2e-3 * (n / 32) for n in fq.BATCH_SIZES}, top=top)
    assert fq.batch_scaling(SimpleNamespace(trials=lambda name: df)).verdict == verdict


def test_more_data_is_compared_at_the_baselines_number_of_steps():
    budget = BUDGETS["quick"]
    exp = fq.overfitting(budget)
    steps = {}
    for cell in exp.cells:
        if cell.level == "baseline" or cell.level.startswith("n_train="):
            cfg = trial_config(budget, cell, 1e-3, 1)
            steps[cfg.n_train] = min(cfg.epochs * steps_per_epoch(cfg.n_train, cfg.batch_size), cfg.max_steps or 10 ** 9)
    assert len(steps) == len(budget.sizes) and len(set(steps.values())) == 1, steps


def test_ablation_strength_is_picked_on_validation_not_test():
    rows = [{"group": fq.MLP, "level": f"+dropout {p:g}", "phase": "final", "seed": s, "tune_mode": "max",
             "objective": val, "score": test} for p, val, test in ((0.1, 0.80, 0.95), (0.3, 0.85, 0.70), (0.5, 0.82, 0.99))
            for s in (1, 2, 3)]
    assert fq.chosen_level(pd.DataFrame(rows), fq.MLP, "+dropout") == "+dropout 0.3"


def test_a_strength_with_a_diverged_seed_is_never_chosen_as_the_protocol_ranks_it_worst():
    """One selection rule: as in the protocol's confirm step, a diverged seed (objective -inf) makes its level's
    mean the worst, instead of being dropped so that the level's other seeds win."""
    vals = {0.1: (0.95, 0.95, -math.inf), 0.3: (0.85, 0.85, 0.85), 0.5: (0.80, 0.80, 0.80)}
    rows = [{"group": fq.MLP, "level": f"+dropout {p:g}", "phase": "final", "seed": s, "tune_mode": "max",
             "objective": v, "score": 0.5} for p, seeds in vals.items() for s, v in enumerate(seeds, 1)]
    assert fq.chosen_level(pd.DataFrame(rows), fq.MLP, "+dropout") == "+dropout 0.3"
    overfit = [{**r, "group": "mlp", "level": r["level"].replace("+dropout ", "dropout=")} for r in rows]
    assert fq.validated("dropout")(pd.DataFrame(overfit))[0] == "dropout=0.3"


def test_the_objective_of_an_early_stopped_trial_is_that_of_its_restored_epoch():
    epochs = [{"epoch": 1, "val_acc": 0.7}, {"epoch": 2, "val_acc": 0.8}, {"epoch": 3, "val_acc": 0.75}]
    assert objective("ok", epochs, "val_acc", "max", tested=2) == 0.8
    assert objective("ok", epochs, "val_acc", "max") == 0.75 and objective("diverged", epochs, "val_acc", "max") == -math.inf


def test_a_study_that_fails_leaves_its_claims_inconclusive_not_judged_by_an_older_run(tmp_path, monkeypatch):
    """8.5 is answered by the vanishing study. When that study fails in this run, its folder's claims from an earlier
    run (all passed here) must not decide the claims: they stay inconclusive and the page says why."""
    import bench.studies.vanishing

    studies = tmp_path / "studies"
    write_study(studies / "vanishing", [("faq-relu", True), ("faq-bn", True), ("faq-residual", True), ("faq-rmsprop", True)])
    monkeypatch.setattr(bench.studies.vanishing, "run", lambda **kw: 1 / 0)
    lines: list[str] = []
    answer(["8.5"], "tiny", tmp_path / "out", tmp_path / "runs", studies, log=lines.append)
    table = pd.read_csv(tmp_path / "out" / "verdicts.csv")
    assert len(table) and (table["verdict"] == st.INCONCLUSIVE).all()
    assert any("the vanishing study failed (ZeroDivisionError" in line for line in lines)
    assert "the vanishing study failed" in (tmp_path / "out" / "faq.md").read_text()


def test_an_interrupted_faq_resumes_to_the_verdicts_of_an_uninterrupted_run(tmp_path, monkeypatch):
    """Ctrl-C mid-run, then --resume: the trials finished before the interrupt are not trained again, the rest are,
    and the page's verdicts and numbers are those of a run that was never interrupted."""
    import bench.train

    real, calls = bench.train.run_trial, []

    def counted(*args, **kwargs):
        calls.append(1)
        if len(calls) == stop_at:
            raise KeyboardInterrupt  # as Ctrl-C does, in the middle of a trial
        return real(*args, **kwargs)

    monkeypatch.setattr(bench.train, "run_trial", counted)
    stop_at, quiet = 0, lambda line: None
    answer(["8.2"], "tiny", tmp_path / "clean", tmp_path / "clean-runs", tmp_path / "studies", log=quiet)
    total, stop_at = len(calls), 6
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        answer(["8.2"], "tiny", tmp_path / "out", tmp_path / "runs", tmp_path / "studies", log=quiet)
    calls.clear()
    stop_at = 0
    answer(["8.2"], "tiny", tmp_path / "out", tmp_path / "runs", tmp_path / "studies", reuse=True, log=quiet)
    assert len(calls) == total - 5  # the 5 trials that finished before the interrupt came from the cache
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "verdicts.csv"),
                                  pd.read_csv(tmp_path / "clean" / "verdicts.csv"))
    # the interrupted session recorded no time; a further --resume (nothing left to train) adds its own
    timed = json.loads((tmp_path / "runs" / "losses" / "run.json").read_text())
    answer(["8.2"], "tiny", tmp_path / "out", tmp_path / "runs", tmp_path / "studies", reuse=True, log=quiet)
    again = json.loads((tmp_path / "runs" / "losses" / "run.json").read_text())
    assert (timed["sessions"], again["sessions"]) == (1, 2) and again["wall_time"] >= timed["wall_time"] > 0


def test_the_faq_optimizer_question_runs_the_flagship_sweeps_trials_on_the_cnn():
    """8.1 and `bench sweep optimizers --quick` cannot disagree on mnist1d-cnn: every optimizer they share is the same
    protocol group (recipe config with the optimizer's defaults, LR grid and refinement, confirm seed, final seeds)."""
    from bench.search.protocol import Plan
    from bench.search.space import load_space

    sweep = {(g.group, g.level): g for g in Plan.sweep_groups(load_space("optimizers").quick_version())}
    faq = plan_experiment(fq.optimizers(BUDGETS["quick"]), BUDGETS["quick"], Path("unused"), print)
    shared = [g for g in faq.groups if (g.group, g.level) in sweep]
    assert {g.level for g in shared} == set(fq.OPTIMIZERS) and {g.group for g in shared} == {fq.CNN}
    for g in shared:
        s = sweep[(g.group, g.level)]
        assert g.config({"lr": 0.1}, 3, 1) == s.config({"lr": 0.1}, 3, 1), g.level  # the trial a grid point trains
        assert (g.tuned, g.grid, g.trials, g.confirm, g.confirm_seed, g.seeds) == \
            (s.tuned, s.grid, s.trials, s.confirm, s.confirm_seed, s.seeds)
        assert g.tuning_ids() == s.tuning_ids() and list(g.final_ids()) == list(s.final_ids())
        # ... and that protocol is the LR grid with its two refinement points, not a TPE search
        assert g.grid == QUICK_LRS and g.trials == len(QUICK_LRS) + 2, (g.level, g.grid, g.trials)
