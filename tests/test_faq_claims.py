"""FAQ claims judged on planted result tables, each with an input that supports it and one that refutes it:
single comparisons, claims that need every case (combine_all) or any case (combine_any), the LR-transfer count,
the regression and imbalanced-data claims against their baselines, and the locality interaction."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.faq import questions as qs
from bench.faq.evidence import Evidence, interaction, per_seed
from bench.report import stats as st
from bench.search.experiment import BUDGETS

SEEDS = 4


def finals(means: dict[str, dict[str, float]], metric: str = "test_acc", sd: float = 0.004, seed: int = 0,
           extra: dict[str, dict[str, list[float]]] | None = None) -> pd.DataFrame:
    """Final-phase trials of a prepared FAQ table: group -> level -> mean score, a little per-seed noise."""
    rng = np.random.default_rng(seed)
    mode = "max" if metric.split("_")[-1] in st.RATE_METRICS else "min"
    rows = []
    for group, levels in means.items():
        for level, mean in levels.items():
            for s, noise in enumerate(rng.normal(0, sd, SEEDS)):
                row = {"trial_id": f"{group}.{level}.{s}", "group": group, "level": level, "phase": "final",
                       "seed": s + 1, "status": "ok", "score": mean + noise, "target_metric": metric,
                       "target_mode": mode, metric: mean + noise, "objective": mean + noise, "lr": 0.01}
                row.update({k: v[level][s] for k, v in (extra or {}).items() if level in v})
                rows.append(row)
    return pd.DataFrame(rows)


def evidence(**tables: pd.DataFrame) -> Evidence:
    ev = Evidence(BUDGETS["tiny"])
    for name, df in tables.items():
        ev.tables[name] = {"trials": df, "epochs": pd.DataFrame(), "gradients": pd.DataFrame()}
    return ev


OPT = {"sgd": 0.80, "momentum": 0.85, "adam": 0.90, "rmsprop": 0.89}


@pytest.mark.parametrize("rnn, verdict", [({"rmsprop": 0.85, "sgd": 0.60}, st.SUPPORTED),
                                          ({"rmsprop": 0.60, "sgd": 0.85}, st.REFUTED)])
def test_rmsprop_beats_sgd_on_the_rnn(rnn, verdict):
    ev = evidence(optimizers=finals({qs.RNN: {**OPT, **rnn}}))
    assert qs.rmsprop_rnn(ev).verdict == verdict


@pytest.mark.parametrize("rnn_adam, verdict", [(0.895, st.SUPPORTED), (0.70, st.REFUTED)])
def test_adam_must_be_as_good_as_the_best_on_every_workload(rnn_adam, verdict):
    ev = evidence(optimizers=finals({qs.MLP: OPT, qs.CNN: OPT, qs.RNN: {**OPT, "adam": rnn_adam}}))
    judged = qs.adam_everywhere(ev)
    assert judged.verdict == verdict and len(judged.numbers) == 3


@pytest.mark.parametrize("sgd, verdict", [(0.895, st.SUPPORTED), (0.70, st.REFUTED)])
def test_sgd_on_the_simple_model_is_compared_with_the_best_other_optimizer(sgd, verdict):
    judged = qs.sgd_simple(evidence(optimizers=finals({qs.MLP: {**OPT, "sgd": sgd}})))
    assert judged.verdict == verdict and "sgd vs adam" in judged.numbers[0]


@pytest.mark.parametrize("step, cosine, verdict", [
    (0.90, 0.80, st.SUPPORTED),  # one schedule helping is enough
    (0.80, 0.90, st.SUPPORTED),
    (0.70, 0.70, st.REFUTED),  # neither helps
])
def test_decay_helps_if_any_schedule_helps(step, cosine, verdict):
    ev = evidence(schedules=finals({qs.CNN: {"constant": 0.80, "step": step, "cosine": cosine}}))
    assert qs.decay_helps(ev).verdict == verdict


@pytest.mark.parametrize("ce, verdict", [(0.90, st.SUPPORTED), (0.70, st.REFUTED)])
def test_cross_entropy_must_beat_mse_on_both_workloads(ce, verdict):
    ev = evidence(losses=finals({qs.CNN: {"cross-entropy": 0.90, "mse": 0.80},
                                 qs.MLP: {"cross-entropy": ce, "mse": 0.80}}))
    assert qs.ce_classification(ev).verdict == verdict


def tuning(best_lr: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Tuning trials on a 5-point LR grid; each (workload, optimizer) peaks at its planted LR."""
    rows = []
    for (workload, opt), best in best_lr.items():
        for k, lr in enumerate((1e-4, 1e-3, 1e-2, 1e-1, 1.0)):
            value = 0.9 - 0.3 * abs(np.log10(lr / best))
            rows.append({"trial_id": f"{workload}.{opt}.tune-{k}", "group": workload, "level": opt, "phase": "tune",
                         "status": "ok", "lr": lr, "objective": value, "score": np.nan, "target_metric": "test_acc",
                         "target_mode": "max", "seed": 0})
    return pd.DataFrame(rows)


def test_lr_depends_on_the_workload_when_most_best_lrs_move_a_decade():
    moved = {(w, o): (1e-2 if w == qs.MLP or o == "adam" else 1e-1) for w in (qs.MLP, qs.CNN, qs.RNN)
             for o in ("sgd", "adam", "rmsprop")}  # sgd and rmsprop move a decade, adam does not: 2 of 3
    judged = qs.lr_depends(evidence(optimizers=tuning(moved)))
    assert judged.verdict == st.SUPPORTED and judged.numbers[0].startswith("2 of 3 optimizers")


def test_lr_does_not_depend_on_the_workload_when_no_best_lr_moves():
    fixed = {(w, o): 1e-2 for w in (qs.MLP, qs.CNN, qs.RNN) for o in ("sgd", "adam", "rmsprop")}
    assert qs.lr_depends(evidence(optimizers=tuning(fixed))).verdict == st.REFUTED


def test_lr_dependence_of_one_optimizer_in_three_is_inconclusive():
    one = {(w, o): (1e-1 if (w, o) == (qs.CNN, "sgd") else 1e-2) for w in (qs.MLP, qs.CNN, qs.RNN)
           for o in ("sgd", "adam", "rmsprop")}
    assert qs.lr_depends(evidence(optimizers=tuning(one))).verdict == st.INCONCLUSIVE


@pytest.mark.parametrize("mse, verdict", [(0.010, st.SUPPORTED), (0.030, st.REFUTED)])
def test_mse_regression_is_as_good_as_the_best_other_regression_loss(mse, verdict):
    """Squared error against absolute and Huber error on one task, scored by test MSE (lower is better): the
    comparator is the loss with the lowest validation MSE (absolute error here), not the worst (Huber)."""
    ev = evidence(losses=finals({"adding": {"mse": mse, "mae": 0.0102, "huber": 0.05}}, metric="test_mse", sd=0.0005))
    judged = qs.mse_regression(ev)
    assert judged.verdict == verdict and judged.rows[0]["comparison"] == "adding: mse vs mae"


def imbalanced(f1: float, acc: float) -> pd.DataFrame:
    levels = {qs.IMBALANCED: {"cnn": f1}}
    df = finals(levels, metric="test_f1")
    return df.assign(test_acc=acc + df["test_f1"] * 0.01)


@pytest.mark.parametrize("f1, acc, verdict", [(0.80, 0.95, st.SUPPORTED), (0.10, 0.99, st.REFUTED)])
def test_accuracy_misleads_when_f1_separates_more_than_accuracy(f1, acc, verdict):
    """Baseline: accuracy 0.9, F1 0. F1 0.8 vs accuracy 0.95 separates by 0.75 more; F1 0.1 vs accuracy 0.99
    separates by only 0.01 more (below the 10-point margin)."""
    ev = evidence(imbalanced=imbalanced(f1, acc))
    ev.baselines[qs.IMBALANCED] = {"test_acc": 0.9, "test_f1": 0.0}
    assert qs.accuracy_misleads(ev).verdict == verdict


def structure(cnn_gain: float, shuffled_gain: float) -> pd.DataFrame:
    return finals({"mnist1d": {"cnn": 0.80 + cnn_gain, "mlp": 0.80, "gru": 0.85},
                   "mnist1d-shuffled": {"cnn": 0.70 + shuffled_gain, "mlp": 0.70, "gru": 0.75}})


@pytest.mark.parametrize("cnn_gain, shuffled_gain, verdict", [
    (0.15, 0.00, st.SUPPORTED),  # the CNN's edge comes from locality: it vanishes when locality is removed
    (0.15, 0.15, st.REFUTED),  # the edge survives shuffling: not spatial structure
])
def test_cnn_advantage_must_shrink_without_locality(cnn_gain, shuffled_gain, verdict):
    assert qs.cnn_spatial(evidence(structure=structure(cnn_gain, shuffled_gain))).verdict == verdict


def test_cnn_claim_needs_both_tests_and_corrects_neither():
    """The advantage and its drop must both hold (an intersection-union test): each is judged at the 95% level, no
    Holm correction, and both comparisons are in verdicts.csv."""
    df = finals({"mnist1d": {"cnn": 0.84, "mlp": 0.80, "gru": 0.85},
                 "mnist1d-shuffled": {"cnn": 0.66, "mlp": 0.70, "gru": 0.75}}, sd=0.03, seed=3)
    _, _, p = interaction(per_seed(df, "mnist1d", "cnn"), per_seed(df, "mnist1d", "mlp"),
                          per_seed(df, "mnist1d-shuffled", "cnn"), per_seed(df, "mnist1d-shuffled", "mlp"))
    first = st.paired_test(per_seed(df, "mnist1d", "cnn"), per_seed(df, "mnist1d", "mlp"))
    judged = qs.cnn_spatial(evidence(structure=df))
    assert len(judged.rows) == 2 and [r["p"] for r in judged.rows] == pytest.approx([first, p])
    assert all(np.isnan(r["p_holm"]) and r["ci_level"] == st.LEVEL for r in judged.rows)
    assert "Holm" not in judged.numbers[-1] and "half-width" in judged.numbers[-1]


def test_holm_only_where_any_one_test_may_carry_the_claim():
    """'Decay helps' (step or cosine) is supported by either test: Holm over both. 'Cross-entropy beats MSE on both
    workloads' needs every test: none is corrected, so a claim each test supports at 95% is not lost to Holm."""
    sched = finals({qs.CNN: {"constant": 0.80, "step": 0.86, "cosine": 0.87}}, sd=0.01)
    rows = qs.decay_helps(evidence(schedules=sched)).rows
    assert all(np.isfinite(r["p_holm"]) for r in rows) and max(r["ci_level"] for r in rows) > st.LEVEL
    losses = finals({qs.CNN: {"cross-entropy": 0.86, "mse": 0.80}, qs.MLP: {"cross-entropy": 0.86, "mse": 0.80}},
                    sd=0.01)
    rows = qs.ce_classification(evidence(losses=losses)).rows
    assert len(rows) == 2 and all(r["ci_level"] == st.LEVEL and np.isnan(r["p_holm"]) for r in rows)


def test_the_practical_margin_does_not_depend_on_which_arm_is_the_reference():
    """One comparison read in two claims (ReLU against tanh in 8.3a, tanh against ReLU in 8.3e) gets one margin:
    2 binomial SEs at the midpoint of the two arms' scores, not at whichever is the reference."""
    from bench.faq import evidence as evd

    df = finals({"binary": {"relu": 0.50, "tanh": 0.80}}, metric="test_f1").assign(n_test=400)
    forward, backward = evd.margin_for(df, "binary", "relu", "tanh", "test_f1"), evd.margin_for(df, "binary", "tanh",
                                                                                                  "relu", "test_f1")
    assert forward == backward == pytest.approx(st.practical_margin("test_f1", 0.65, 400), rel=0.05)
    assert st.practical_margin("test_f1", 0.80, 400) != pytest.approx(forward, rel=0.05)  # the old, one-sided margin


def with_objective(df: pd.DataFrame, objective: dict[str, float]) -> pd.DataFrame:
    """Give each level's final trials a validation objective (what a strength is chosen on)."""
    return df.assign(objective=df["level"].map(objective).fillna(0.5))


def test_ablation_picks_a_regularizers_strength_on_validation_not_test():
    """Dropout 0.5 has the best test score, 0.3 the best validation objective: the claim must compare 0.3."""
    levels = {"baseline": 0.80, "+dropout 0.1": 0.81, "+dropout 0.3": 0.86, "+dropout 0.5": 0.95}
    objective = {"+dropout 0.1": 0.82, "+dropout 0.3": 0.90, "+dropout 0.5": 0.70}
    df = with_objective(finals({qs.CNN: levels, qs.MLP: levels}), objective)
    assert qs.chosen_level(df, qs.CNN, "+dropout") == "+dropout 0.3"
    judged = qs.ablation_gain("+dropout")(ablation_evidence(df))
    assert judged.verdict == st.SUPPORTED and "+dropout 0.3 (best on validation)" in judged.numbers[-1]


def test_ablation_gain_is_refuted_when_the_validated_strength_hurts():
    levels = {"baseline": 0.85, "+dropout 0.1": 0.80, "+dropout 0.3": 0.75, "+dropout 0.5": 0.95}
    objective = {"+dropout 0.1": 0.90, "+dropout 0.3": 0.70, "+dropout 0.5": 0.60}
    df = with_objective(finals({qs.CNN: levels, qs.MLP: levels}), objective)
    assert qs.ablation_gain("+dropout")(ablation_evidence(df)).verdict == st.REFUTED


def last_epochs(df: pd.DataFrame, gap: float) -> pd.DataFrame:
    """One epoch per trial whose train - validation accuracy is the planted gap."""
    return pd.DataFrame([{"trial_id": t, "epoch": 1, "split": split, "metric": "acc", "value": value}
                         for t in df["trial_id"] for split, value in (("train", 0.7 + gap), ("val", 0.7))])


def ablation_evidence(df: pd.DataFrame, baseline_gap: float = 0.2) -> Evidence:
    ev = evidence(ablation=df)
    ev.tables["ablation"]["epochs"] = last_epochs(df, baseline_gap)
    return ev


def test_the_ablation_is_gated_on_a_reference_measured_in_its_own_setting():
    """The ablation trains on a fraction of the data: its reference gate is that the baseline overfits there (the
    regime the changes are about), never the full-data target no model on that fraction reaches. A baseline with
    no train-validation gap leaves nothing for a regularizer to fix: untestable, with that reason."""
    levels = {"baseline": 0.80, "+dropout 0.1": 0.86, "+dropout 0.3": 0.86, "+dropout 0.5": 0.86}
    df = finals({qs.CNN: levels, qs.MLP: levels}).assign(workload="mnist1d-mlp")  # its full-data goal is not reached
    assert qs.ablation_gain("+dropout")(ablation_evidence(df)).verdict == st.SUPPORTED
    judged = qs.ablation_gain("+dropout")(ablation_evidence(df, baseline_gap=0.01))
    assert judged.verdict == st.UNTESTABLE and "train-validation gap" in judged.numbers[0]


def gap_tables(gaps: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Overfitting runs: final trials per level and their epochs, the last epoch's train - val accuracy planted."""
    df = finals({"mlp": {level: 0.8 for level in gaps}})
    rows = []
    for trial, level in zip(df["trial_id"], df["level"], strict=True):
        for epoch, (train, val) in ((1, (0.5, 0.5)), (2, (0.7 + gaps[level], 0.7))):
            rows += [{"trial_id": trial, "epoch": epoch, "split": "train", "metric": "acc", "value": train},
                     {"trial_id": trial, "epoch": epoch, "split": "val", "metric": "acc", "value": val}]
    return df, pd.DataFrame(rows)


def overfit_evidence(gaps: dict[str, float], test: dict[str, float] | None = None,
                     objective: dict[str, float] | None = None) -> Evidence:
    df, epochs = gap_tables(gaps)
    if test:
        df = df.assign(score=df["score"] + df["level"].map(test).fillna(0.8) - 0.8)
    if objective:
        df = with_objective(df, objective)
    noise = np.random.default_rng(1).normal(0, 0.003, len(epochs))
    ev = evidence(overfitting=df)
    ev.tables["overfitting"]["epochs"] = epochs.assign(value=epochs["value"] + noise * (epochs["epoch"] == 2))
    return ev


@pytest.mark.parametrize("dropout_gap, verdict", [(0.05, st.SUPPORTED), (0.30, st.REFUTED)])
def test_regularizer_reduces_the_train_validation_gap(dropout_gap, verdict):
    ev = overfit_evidence({"baseline": 0.20, "dropout=0.5": dropout_gap})
    assert qs.reduces_gap(qs.validated("dropout"))(ev).verdict == verdict


def test_a_narrower_gap_with_a_lower_held_out_score_is_not_less_overfitting():
    """Dropout 0.5 halves the gap because the model learns less: its test accuracy falls 6 points. Judged on the
    gap alone that was 'reduces overfitting'; judged on the gap and the held-out score together it is refuted."""
    ev = overfit_evidence({"baseline": 0.20, "dropout=0.5": 0.05}, test={"baseline": 0.80, "dropout=0.5": 0.74})
    judged = qs.reduces_gap(qs.validated("dropout"))(ev)
    assert judged.verdict == st.REFUTED and "held-out score" in judged.numbers[1]
    assert [r["comparison_verdict"] for r in judged.rows] == [st.SUPPORTED, st.REFUTED]


def test_the_regularizer_strength_is_chosen_on_validation_not_the_strongest():
    """Dropout 0.1 has the best validation accuracy; 0.5 (the strongest) narrows the gap most but is not chosen."""
    objective = {"dropout=0.1": 0.85, "dropout=0.3": 0.80, "dropout=0.5": 0.70, "baseline": 0.80}
    ev = overfit_evidence({"baseline": 0.20, "dropout=0.1": 0.19, "dropout=0.3": 0.10, "dropout=0.5": 0.02},
                          objective=objective)
    assert qs.validated("dropout")(ev.trials("overfitting")) == ("dropout=0.1", "baseline")
    assert qs.reduces_gap(qs.validated("dropout"))(ev).verdict == st.REFUTED  # 1 point narrower: within the margin


@pytest.mark.parametrize("most, verdict", [(0.90, st.SUPPORTED), (0.70, st.REFUTED)])
def test_more_data_is_the_largest_size_against_the_baseline(most, verdict):
    largest = f"n_train={max(BUDGETS['tiny'].sizes)}"
    df = finals({"mlp": {"baseline": 0.80, largest: most, "n_train=32": 0.99}})
    ev = evidence(overfitting=df)
    ev.tables["overfitting"]["epochs"] = last_epochs(df, 0.2)
    assert qs.more_data_helps(ev).verdict == verdict


@pytest.mark.parametrize("binary_relu, verdict", [(0.895, st.SUPPORTED), (0.70, st.REFUTED)])
def test_relu_must_be_as_good_as_the_best_activation_on_both_tasks(binary_relu, verdict):
    df = finals({qs.CNN: {"relu": 0.90, "tanh": 0.88, "sigmoid": 0.85},
                 qs.IMBALANCED: {"relu": binary_relu, "tanh": 0.90, "sigmoid": 0.80}})
    assert qs.relu_everywhere(evidence(activations=df)).verdict == verdict


def test_comparators_are_chosen_on_validation_when_validation_and_test_disagree():
    """Momentum has the best test score, Adam the best validation score: SGD is compared with Adam. In the ablation
    '+cosine decay' has the best test score, '+batch norm' the best validation score: the latter helped most."""
    df = with_objective(finals({qs.MLP: {"sgd": 0.80, "momentum": 0.95, "adam": 0.85}}),
                        {"sgd": 0.80, "momentum": 0.70, "adam": 0.90})
    judged = qs.sgd_simple(evidence(optimizers=df))
    assert judged.rows[0]["comparison"] == f"{qs.MLP}: sgd vs adam" and "(the best other level on validation)" in \
        judged.numbers[0]
    levels = {"baseline": 0.80, "+cosine decay": 0.95, "+batch norm": 0.85, "+dropout 0.3": 0.81}
    ablation = with_objective(finals({qs.CNN: levels, qs.MLP: levels}), {"+cosine decay": 0.60, "+batch norm": 0.90})
    findings = qs.ablation_findings(evidence(ablation=ablation))
    assert len(findings) == 2 and all("helped most on validation data was '+batch norm'" in f for f in findings)
    gain = qs.mean_score(ablation, qs.CNN, "+batch norm") - qs.mean_score(ablation, qs.CNN, "baseline")
    assert f"test accuracy gain: {gain * 100:+.1f} points" in findings[0] and gain > 0.03  # its test gain beside it


@pytest.mark.parametrize("rnn_score, verdict", [(0.95, st.SUPPORTED), (0.10, st.REFUTED)])
def test_lr_dependence_counts_only_the_workloads_an_optimizer_trained_on(rnn_score, verdict):
    """Only the RNN's best LRs move a decade. Where the RNN arms trained, 2 of 3 optimizers move: supported; where
    they sit at chance (their best LR is noise), they are left out, and no optimizer moves across MLP and CNN."""
    best = {(w, o): (1e-1 if w == qs.RNN and o != "adam" else 1e-2) for w in (qs.MLP, qs.CNN, qs.RNN)
            for o in ("sgd", "adam", "rmsprop")}
    scores = {w: {o: (rnn_score if w == qs.RNN else 0.95) for o in ("sgd", "adam", "rmsprop")} for w in (qs.MLP, qs.CNN, qs.RNN)}
    final = finals(scores)
    df = pd.concat([tuning(best), final]).assign(workload=lambda d: d["group"])
    judged = qs.lr_depends(evidence(optimizers=df))
    assert judged.verdict == verdict
    assert ("left out" in judged.numbers[0]) == (rnn_score < 0.5)


def test_lr_dependence_is_untestable_when_no_optimizer_trained_on_two_workloads():
    best = {(w, o): 1e-2 for w in (qs.MLP, qs.CNN) for o in ("sgd", "adam")}
    df = pd.concat([tuning(best), finals({w: {"sgd": 0.1, "adam": 0.1} for w in (qs.MLP, qs.CNN)})])
    assert qs.lr_depends(evidence(optimizers=df.assign(workload=lambda d: d["group"]))).verdict == st.UNTESTABLE


def test_lr_dependence_judged_on_one_optimizer_of_three_is_untestable_not_refuted():
    """Only Adam trained on two workloads (SGD and RMSprop sit at chance on the MLP): its unmoved best LR alone says
    nothing of the other optimizers, so the claim is untestable, not refuted; with two of three it is judged."""
    best = {(w, o): 1e-2 for w in (qs.MLP, qs.CNN) for o in ("sgd", "adam", "rmsprop")}

    def judged(trained: tuple[str, ...]):
        scores = {qs.CNN: {o: 0.95 for o in ("sgd", "adam", "rmsprop")},
                  qs.MLP: {o: (0.95 if o in trained else 0.1) for o in ("sgd", "adam", "rmsprop")}}
        df = pd.concat([tuning(best), finals(scores)]).assign(workload=lambda d: d["group"])
        return qs.lr_depends(evidence(optimizers=df))

    one = judged(("adam",))
    assert one.verdict == st.UNTESTABLE and one.numbers[0].startswith("1 of 3 optimizers"), one.numbers
    assert judged(("adam", "sgd")).verdict == st.REFUTED
