"""The seed tutorial's FAQ (section 8.1-8.10): each question's own words, its claims in English, the
experiments that test them, the decision rule of each claim (fixed here, before any data), and figures.

Decision rules (bench.report.stats, after the sanity gates of bench.faq.evidence): "A beats B" is supported
when the interval of A's gain (Holm-compatible over the comparisons the claim rests on) lies above 0 and not
within the practical margin, refuted when it lies below 0 or within the margin (shown equivalent), otherwise
inconclusive. "A is as good as B" (non-inferiority) is supported when the CI of A's gain lies above minus the
margin and refuted when it lies below it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.config import steps_per_epoch
from bench.faq import evidence as evd
from bench.faq.evidence import (
    Evidence,
    Judgement,
    best_level,
    combine_all,
    combine_any,
    compare,
    compare_values,
    interaction,
    judge_better,
    judge_not_worse,
    judge_study,
    last_epoch_gap,
    mean_score,
    metric_name,
    per_seed,
)
from bench.report import figures as fg
from bench.report import stats as st
from bench.report import tables as tb
from bench.scores import at_chance
from bench.search.experiment import Cell, Experiment, workload_spec
from bench.search.protocol import Budget

MLP, CNN, RNN = "mnist1d-mlp", "mnist1d-cnn", "mnist1d-rnn"
IMBALANCED = "mnist1d-imbalanced-cnn"
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
FINDER_CASES = ((CNN, "sgd"), (CNN, "adam"), (MLP, "sgd"), (MLP, "adam"))
LOCALITY_MARGIN = 0.02  # the drop of the CNN's advantage that matters: 2 points of accuracy
SLOPE_MARGIN = 0.25  # a slope within +-0.25: 16x the batch moves the best LR by under 2x, no rule to speak of
SOURCE = "the seed tutorial's FAQ (常见问题与答案), question"


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    rule: str
    judge: Callable[[Evidence], Judgement]


@dataclass(frozen=True)
class FigureSpec:
    name: str
    caption: str
    draw: Callable[[Evidence], object]  # -> matplotlib Figure or PNG bytes


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    quote: str  # the FAQ's own words
    translation: str
    experiment: str  # what was run, in words
    experiments: Callable[[Budget], list[Experiment]] = lambda b: []
    studies: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()
    figures: tuple[FigureSpec, ...] = ()
    findings: Callable[[Evidence], list[str]] = lambda ev: []
    notes: tuple[str, ...] = ()


def grid(levels: dict[str, dict], workloads: tuple[str, ...]) -> tuple[Cell, ...]:
    return tuple(Cell(w, name, {"workload": w, **over}) for w in workloads for name, over in levels.items())


# -- experiments (identical configurations across experiments are trained once: the runner's cache) ----------
def optimizers(b: Budget) -> Experiment:
    return Experiment("optimizers", "optimizer", grid({o: {"optimizer": o} for o in OPTIMIZERS}, (MLP, CNN, RNN)),
                      "SGD, SGD with momentum 0.9, Adam and RMSprop, each LR-tuned, on an MLP, a 1-D CNN and a tanh RNN")


def schedules(b: Budget) -> Experiment:
    return Experiment("schedules", "schedule", grid({s: {"schedule": s} for s in ("constant", "step", "cosine")}, (CNN, MLP)),
                      "Adam with a constant LR, step decay (x0.1 at a third and two thirds) and cosine decay, each LR-tuned")


REGRESSION_LOSSES = ("mse", "mae", "huber")


def losses(b: Budget) -> Experiment:
    cells = grid({"cross-entropy": {}, "mse": {"loss": "mse"}}, (CNN, MLP))
    adding = {"workload": "adding", "seq_len": 20, "n_train": min(2000, b.n_train or 2000)}
    regression = tuple(Cell("adding", loss, {**adding, **({"loss": loss} if loss != "mse" else {})})
                       for loss in REGRESSION_LOSSES)
    return Experiment("losses", "loss", (*cells, *regression),
                      "softmax cross-entropy vs squared error on one-hot targets (Hui & Belkin 2021), each LR-tuned, "
                      "on two classification workloads; squared, absolute and Huber error on the adding problem (T=20, "
                      "2,000 sequences), each LR-tuned, scored by test MSE")


def activations(b: Budget) -> Experiment:
    levels = {"relu": {}, "tanh": {"activation": "tanh"}, "sigmoid": {"activation": "sigmoid"}}
    return Experiment("activations", "activation", grid(levels, (CNN, IMBALANCED)),
                      "hidden activations of the 1-D CNN, each LR-tuned, on 10-class MNIST-1D and on its binary "
                      "digit-0-vs-rest variant (scored by F1)")


OUTPUT_UNITS = {"sigmoid": {}, "tanh": {"loss": "tanh_mse"}, "linear": {"loss": "linear_mse"}}


def output_units(b: Budget) -> Experiment:
    return Experiment("output-units", "output unit", grid(OUTPUT_UNITS, (IMBALANCED,)),
                      "the output unit of the ReLU CNN on the binary digit-0-vs-rest task, each LR-tuned: a sigmoid unit "
                      "with binary cross-entropy (the 'sigmoid' level is 8.3's ReLU CNN), a tanh unit with squared error "
                      "against -1/+1 targets, and a linear unit with squared error against -1/+1 targets (every unit decides at "
                      "output > 0)")


BATCH_SIZES = (32, 64, 128, 256, 512)


def batch_sizes(b: Budget) -> Experiment:
    cells = tuple(Cell(MLP, f"batch {n}", {"workload": MLP, "optimizer": "momentum", "batch_size": n})
                  for n in BATCH_SIZES)
    return Experiment("batch-size", "batch size", cells,
                      f"SGD with momentum 0.9 on the MLP at batch sizes {BATCH_SIZES}, the same number of epochs, the LR "
                      "tuned for each batch size on the same grid")


def structure(b: Budget) -> Experiment:
    # Each model trains its workload's recipe at the budget (its own epochs: the MLP with dropout needs more than the
    # CNN), so that each is measured as its goal was and its target gate can pass; one shared epoch count (15) left
    # the MLP below its goal and 8.7a untestable.
    cells = tuple(Cell(data, model, {"workload": f"{data}-{model}"})
                  for data in ("mnist1d", "mnist1d-shuffled") for model in ("cnn", "mlp", "gru"))
    return Experiment("structure", "model", cells, "CNN, MLP and GRU, each LR-tuned and trained by its workload's "
                      "recipe, on MNIST-1D and on MNIST-1D with one fixed permutation of its 40 positions (no locality "
                      "left)")


def imbalanced(b: Budget) -> Experiment:
    return Experiment("imbalanced", "model", (Cell(IMBALANCED, "cnn", {"workload": IMBALANCED}),),
                      "the LR-tuned CNN on digit 0 vs rest (10% positives), against the all-'rest' predictor")


def matched_steps(b: Budget, base_n: int, n: int) -> dict:
    """Config for n training samples trained for as many optimiser steps as the baseline's n samples over the long
    budget: more data must not also mean more updates (with fixed epochs it would)."""
    batch = b.overrides.get("batch_size", 128)
    steps = b.long_epochs * steps_per_epoch(base_n, batch)
    if b.max_steps:
        steps = min(steps, b.max_steps)
    return {"n_train": n, "max_steps": steps, "epochs": math.ceil(steps / steps_per_epoch(n, batch))}


OVERFIT_SETTINGS = {"l2": ("weight_decay", (1e-4, 1e-3, 1e-2)), "dropout": ("dropout", (0.1, 0.3, 0.5)),
                    "early_stop": ("early_stop", (5, 2))}
FAMILIES = {"n_train": "training samples", "l2": "L2 weight decay (coupled)", "dropout": "dropout rate",
            "early_stop": "early-stopping patience (epochs)"}


# The recipes' own regularizers taken off where a claim is about adding one (the MLP recipe, Greydanus 2020's, trains
# with dropout 0.5): each experiment otherwise trains its workload's recipe and changes only what its claim is about.
UNREGULARIZED = {"dropout": 0.0}


def overfitting(b: Budget) -> Experiment:
    """The MLP on a third of MNIST-1D overfits; the baseline's tuned LR is kept for every setting, so only
    the regularizer changes. Settings are named family=value."""
    base_n = b.sizes[len(b.sizes) // 2]
    base = {"workload": MLP, "n_train": base_n, **UNREGULARIZED}
    cells = [Cell("mlp", "baseline", base, long=True)]
    cells += [Cell("mlp", f"n_train={n}", {**base, **matched_steps(b, base_n, n)}, lr="baseline", long=True)
              for n in b.sizes if n != base_n]
    for family, (key, values) in OVERFIT_SETTINGS.items():
        cells += [Cell("mlp", f"{family}={v:g}", {**base, key: v}, lr="baseline", long=True) for v in values]
    return Experiment("overfitting", "regularizer", tuple(cells),
                      f"an MLP on {base_n} MNIST-1D training samples for the long budget, LR tuned once without "
                      "regularization; then more or less data (as many optimiser steps as the baseline), L2 weight decay, "
                      "dropout and early stopping (best-epoch weights restored) at that LR")


# family -> {level: overrides}; a family with several strengths is represented by the one with the best mean
# validation score (its strength tuned on validation data), the others shown for reference.
ABLATION = {"+cosine decay": {"+cosine decay": {"schedule": "cosine"}},
            "+batch norm": {"+batch norm": {"batch_norm": True}},
            "+dropout": {f"+dropout {p:g}": {"dropout": p} for p in (0.1, 0.3, 0.5)},
            "+weight decay": {f"+weight decay {w:g}": {"weight_decay": w, "wd_mode": "decoupled"} for w in (0.01, 0.1, 1.0)},
            "+early stopping": {f"+early stopping {k}": {"early_stop": k} for k in (2, 5)}}
RETUNED = ("+cosine decay", "+batch norm")  # change the best LR, so LR-tuned; regularizers run at the baseline's LR


def ablation(b: Budget) -> Experiment:
    base_n = b.sizes[len(b.sizes) // 2]
    cells = []
    for w in (CNN, MLP):
        base = {"workload": w, "n_train": base_n, **UNREGULARIZED, "schedule": "constant"}
        cells.append(Cell(w, "baseline", base, long=True))
        cells += [Cell(w, level, {**base, **over}, lr=None if family in RETUNED else "baseline", long=True)
                  for family, levels in ABLATION.items() for level, over in levels.items()]
    return Experiment("ablation", "change", tuple(cells),
                      f"one change at a time to an Adam, constant-LR, ReLU baseline trained on {base_n} samples for the "
                      "long budget (where it overfits, not underfits); cosine decay and batch norm LR-tuned, the "
                      "regularizers at the baseline's LR with their strength picked on validation data (dropout 0.1/0.3/0.5, "
                      "decoupled weight decay 0.01/0.1/1 - AdamW's, biases and norm parameters not decayed - , early-"
                      "stopping patience 2/5 with the best epoch's weights restored)")


def lr_finder(b: Budget) -> Experiment:
    return Experiment("lr-finder", "optimizer", tuple(Cell(w, o, {"workload": w, "optimizer": o}, lr="finder")
                                                      for w, o in FINDER_CASES),
                      "LR range test (Smith 2017), then fresh seeds at its suggested LR")


# -- judges -------------------------------------------------------------------------------------------------------
def as_good_as_best(experiment: str, level: str, groups: tuple[str, ...]) -> Callable[[Evidence], Judgement]:
    """`level` is about as good as the best other level (chosen on validation data) in every one of the groups."""
    def judge(ev: Evidence) -> Judgement:
        df = ev.trials(experiment)
        return judge_not_worse(df, [(g, level, best_level(df, g, exclude=level)) for g in groups])
    return judge


def beats(experiment: str, pairs: list[tuple[str, str, str]], combine=combine_all) -> Callable[[Evidence], Judgement]:
    return lambda ev: judge_better(ev.trials(experiment), pairs, combine)


sgd_simple = as_good_as_best("optimizers", "sgd", (MLP,))
adam_everywhere = as_good_as_best("optimizers", "adam", (MLP, CNN, RNN))
rmsprop_rnn = beats("optimizers", [(RNN, "rmsprop", "sgd")])
ce_classification = beats("losses", [(CNN, "cross-entropy", "mse"), (MLP, "cross-entropy", "mse")])
relu_everywhere = as_good_as_best("activations", "relu", (CNN, IMBALANCED))
decay_helps = beats("schedules", [(CNN, "step", "constant"), (CNN, "cosine", "constant")], combine_any)
rnn_sequences = as_good_as_best("structure", "gru", ("mnist1d",))


mse_regression = as_good_as_best("losses", "mse", ("adding",))


def optimal_log_lr(part: pd.DataFrame) -> tuple[float, float]:
    """(log10 of the best LR, its validation objective) from one level's tuning trials: the vertex of the parabola
    through the best grid point and its two neighbours (in log LR), kept between them; the best point itself at
    the grid's edge or when the three points do not bend the right way."""
    tune = part[part["phase"] == tb.TUNE].assign(value=tb.tuning_values(part)).dropna(subset=["value"])
    mode = str(part["tune_mode"].iloc[0]) if "tune_mode" in part else tb.metric_of(part)[1]
    sign = 1.0 if tb.higher_is_better(mode) else -1.0
    tune = tune.assign(x=np.log10(tune["lr"]), y=sign * tune["value"]).sort_values("x")
    i = int(np.argmax(tune["y"].to_numpy()))
    x, y = tune["x"].to_numpy(), tune["y"].to_numpy()
    if 0 < i < len(x) - 1:
        a, b, _ = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
        if a < 0:
            return float(np.clip(-b / (2 * a), x[i - 1], x[i + 1])), sign * float(y[i])
    return float(x[i]), sign * float(y[i])


def ols_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error (0 for a perfect fit)."""
    xc = x - x.mean()
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    resid = y - y.mean() - slope * xc
    return slope, math.sqrt(float(resid @ resid) / (len(x) - 2) / float(xc @ xc))


def batch_scaling(ev: Evidence) -> Judgement:
    """Slope of log10(best LR) on log10(batch size), with its 95% CI (OLS, t with n-2 df)."""
    from scipy import stats as sps

    df = ev.trials("batch-size")
    rows = []
    for n in BATCH_SIZES:
        part = df[df["level"] == f"batch {n}"]
        if len(part[part["phase"] == tb.TUNE]):
            x, value = optimal_log_lr(part)
            rows.append({"batch size": n, "best LR (interpolated)": 10 ** x, "validation objective": value})
    table = pd.DataFrame(rows)
    if len(table) < 3:
        return Judgement(st.UNTESTABLE, [f"untestable: only {len(table)} batch sizes have a best LR (a slope needs 3)"],
                         table)
    slope, se = ols_slope(np.log10(table["batch size"].to_numpy(float)),
                          np.log10(table["best LR (interpolated)"].to_numpy(float)))
    dof = len(table) - 2
    half = sps.t.ppf(0.5 + st.LEVEL / 2, dof) * se
    p = float(2 * sps.t.sf(abs(slope / se), dof)) if se > 0 else float(slope == 0)
    c = st.Comparison("slope", "no scaling (0)", len(table), len(table), slope, 0.0, slope, (slope - half, slope + half),
                      p, "OLS slope t", math.nan)
    verdict = st.decide_better(c, SLOPE_MARGIN)
    lo, hi = c.ci
    rules = [name for name, k in (("linear (Goyal et al. 2017: slope 1)", 1.0), ("square-root (slope 0.5)", 0.5))
             if lo <= k <= hi]
    checks = [evd.Gate("target", None, "no reference arm: a slope fitted to the tuning grid", st.UNTESTABLE),
              evd.Gate("acted", None, "the batch size differs by construction", st.NOT_EXERCISED),
              learnt_gate(table["validation objective"], df)]
    verdict = evd.gated(verdict, checks)
    return Judgement(verdict, [
        f"best LR ~ batch size^{slope:.2f} (95% CI {lo:.2f} to {hi:.2f}; {len(table)} batch sizes, OLS on log-log; "
        f"outcome {st.decision(c, SLOPE_MARGIN).value}; {st.precision_words(c, SLOPE_MARGIN)}) -> {verdict}; "
        f"{evd.gate_words(checks)}",
        "consistent with " + (" and ".join(rules) if rules else "neither linear nor square-root scaling")],
        table.assign(**{"best LR (interpolated)": table["best LR (interpolated)"].map(lambda v: f"{v:.3g}"),
                        "validation objective": table["validation objective"].map(lambda v: f"{v:.4f}")}),
        [evd.comparison_row("batch size", c, "slope of log10 best LR on log10 batch size", SLOPE_MARGIN, verdict, checks,
                            kind="superiority (slope)")])


def learnt_gate(best: pd.Series, df: pd.DataFrame) -> evd.Gate:
    """The chance gate of a fit to tuning results: every level's best validation objective lies above the
    workload's chance score (a best LR among runs that learnt nothing is noise)."""
    spec = workload_spec(MLP)
    mode = str(df["tune_mode"].iloc[0]) if "tune_mode" in df and len(df) else spec.mode
    if mode != spec.mode or not math.isfinite(spec.chance):  # a validation loss has no chance score to compare with
        return evd.Gate("chance", None, "no chance score known for the tuning objective", st.UNTESTABLE)
    stuck = [f"{v:.3f}" for v in best if at_chance(float(v), spec.chance, spec.target, mode)]
    return evd.Gate("chance", not stuck, f"best validation objective at chance at {len(stuck)} of {len(best)} batch "
                    "sizes" if stuck else "every batch size's best LR learns", st.UNTESTABLE)


def lr_trained(df: pd.DataFrame, group: str, level: str) -> list[evd.Gate]:
    """The gates an arm's best LR must pass to count in 8.4b: the arm learnt (above chance) and reached its
    workload's target; the best LR of a model that did not train is noise."""
    return [g for g in (evd.target_gate(df, group, level), evd.chance_gate(df, group, [level])) if g.passed is False]


def lr_depends(ev: Evidence) -> Judgement:
    """Per optimizer: how far apart (in decades) its best grid LRs lie across the workloads on which it trained
    (lr_trained); an optimizer with fewer than two such workloads is left out, and with fewer than half of them left
    the claim is untestable."""
    df = ev.trials("optimizers")
    spans = tb.lr_ranges(df)
    rows, moved, left_out = [], 0, []
    for opt, part in spans.groupby("level", sort=False):
        failed = {w: lr_trained(df, w, opt) for w in part["group"]}
        left_out += [f"{opt} on {w} ({'; '.join(g.detail for g in gs)})" for w, gs in failed.items() if gs]
        best = part[[not failed[w] for w in part["group"]]].set_index("group")["best_lr"]
        if len(best) < 2:
            continue
        spread = math.log10(best.max() / best.min())
        moved += spread >= 1.0
        rows.append({"optimizer": opt, **{f"best LR {w}": f"{lr:.3g}" for w, lr in best.items()},
                     "spread (decades)": f"{spread:.1f}",
                     **{f"good-LR span {w} (decades)": f"{d:.1f}" for w, d in part.set_index("group")["decades"].items()}})
    n, of = len(rows), spans["level"].nunique()
    gaps = f"; left out (gates failed): {', '.join(left_out)}" if left_out else ""
    if 2 * n < of:  # a verdict on "the right LR" from one optimizer of four says nothing of the others
        return Judgement(st.UNTESTABLE, [f"{n} of {of} optimizers trained on two or more workloads, fewer than half"
                                         f"{gaps}"], pd.DataFrame(rows))
    verdict = st.SUPPORTED if 2 * moved >= n else st.REFUTED if moved == 0 else st.INCONCLUSIVE
    return Judgement(verdict, [f"{moved} of {n} optimizers have best LRs at least a decade apart across the workloads "
                               f"they trained on{gaps}"], pd.DataFrame(rows))


def finder_matches_search(ev: Evidence) -> Judgement:
    found, tuned = ev.trials("lr-finder"), ev.trials("optimizers")
    verdicts, numbers, rows, judged = [], [], [], []
    for group, opt in FINDER_CASES:
        a, b = per_seed(found, group, opt), per_seed(tuned, group, opt)
        metric, hib = metric_name(tuned, group)
        c = compare_values(a, b, "LR range test", "grid search", hib)
        margin = st.pair_margin(metric, c.mean_a, c.mean_b, evd.test_size(tuned, group, opt))
        checks = [evd.target_gate(tuned, group, opt), evd.Gate("acted", None, "same configuration", st.NOT_EXERCISED),
                  evd.both_arms(evd.chance_gate(found, group, [opt]), evd.chance_gate(tuned, group, [opt]))]
        verdicts.append(evd.gated(st.decide_not_worse(c, margin), checks))
        judged.append(evd.comparison_row(f"{group} {opt}", c, metric, margin, verdicts[-1], checks, float(b.mean()),
                                         evd.spec_goal(tuned, group, opt), "non-inferiority"))
        lr_found, lr_tuned = chosen_lr(found, group, opt), chosen_lr(tuned, group, opt)
        rows.append({"workload": group, "optimizer": opt, "range-test LR": f"{lr_found:.3g}", "searched LR": f"{lr_tuned:.3g}",
                     "range test score": st.fmt(c.mean_a, 4), "search score": st.fmt(c.mean_b, 4), "verdict": verdicts[-1]})
        numbers.append(f"{group} {opt}: range test lr {lr_found:.3g} vs searched lr {lr_tuned:.3g}; gain of the range test "
                       f"{st.fmt(c.gain)} {metric} (95% CI {st.fmt(c.ci[0])} to {st.fmt(c.ci[1])}) -> "
                       f"{st.VERDICT_WORDS[verdicts[-1]]} (margin {st.fmt(margin)}; {st.precision_words(c, margin)}); "
                       f"{evd.gate_words(checks)}")
    return Judgement(combine_all(verdicts), numbers, pd.DataFrame(rows), judged)


def chosen_lr(df: pd.DataFrame, group: str, level: str) -> float:
    """The LR a level's final seeds ran at (NaN when it has none)."""
    part = tb.final_scores(df[(df["group"] == group) & (df["level"] == level)])
    return float(part["lr"].iloc[0]) if len(part) else math.nan


def cnn_spatial(ev: Evidence) -> Judgement:
    """The CNN beats the MLP on MNIST-1D, and its advantage shrinks on the shuffled data (a Welch contrast of the
    four arms); both must hold (an intersection-union test: each at the 95% level, no Holm); both decisions gated."""
    df = ev.trials("structure")
    arms = [per_seed(df, g, m) for g in ("mnist1d", "mnist1d-shuffled") for m in ("cnn", "mlp")]
    est, ci, p = interaction(*arms)
    spread = float(sum(x.var(ddof=1) for x in arms))  # one seed per arm's share of the contrast's variance
    contrast = st.Comparison("original", "shuffled", len(arms[0]), len(arms[2]), math.nan, math.nan, est, ci, p,
                             "Welch contrast", math.nan, spread=spread)
    first = compare(df, "mnist1d", "cnn", "mlp")
    advantage = evd.judge_one(df, "mnist1d", "cnn", "mlp", first)
    checks = [evd.target_gate(df, "mnist1d-shuffled", "mlp"), evd.Gate("acted", None, "same models", st.NOT_EXERCISED),
              evd.chance_gate(df, "mnist1d-shuffled", ["cnn", "mlp"])]
    second = evd.gated(st.decide_better(contrast, LOCALITY_MARGIN), checks)
    number = (f"the CNN's advantage over the MLP shrinks by {st.fmt(est)} test_acc when locality is removed "
              f"({contrast.ci_label()} {st.fmt(contrast.ci[0])} to {st.fmt(contrast.ci[1])}; outcome "
              f"{st.decision(contrast, LOCALITY_MARGIN).value}; Welch contrast, {st.p_phrase(contrast.p)}) -> "
              f"{st.VERDICT_WORDS[second]} (margin {LOCALITY_MARGIN * 100:g} points; "
              f"{st.precision_words(contrast, LOCALITY_MARGIN)}); {evd.gate_words(checks)}")
    row = evd.comparison_row("cnn-over-mlp advantage", contrast,
                             "test_acc advantage of cnn over mlp", LOCALITY_MARGIN, second, checks,
                             mean_score(df, "mnist1d-shuffled", "mlp"), evd.spec_goal(df, "mnist1d-shuffled", "mlp"),
                             "superiority (contrast)")
    return Judgement(combine_all([advantage.verdict, second]), advantage.numbers + [number],
                     rows=advantage.rows + [row])


def accuracy_misleads(ev: Evidence) -> Judgement:
    """Per seed, how far the tuned CNN sits above the all-'rest' predictor in F1 and in accuracy; the claim
    holds when F1 separates them by at least 10 points more than accuracy does."""
    df = ev.trials("imbalanced")
    base = ev.baselines.get(IMBALANCED, {"test_acc": 0.9, "test_f1": 0.0})
    f1 = per_seed(df, IMBALANCED, "cnn", "test_f1") - base["test_f1"]
    acc = per_seed(df, IMBALANCED, "cnn", "test_acc") - base["test_acc"]
    c = compare_values(f1, acc, "F1 gain", "accuracy gain", True)
    # the model must be a trained one: it reaches the workload's goal and sits above chance
    checks = [evd.target_gate(df, IMBALANCED, "cnn"), evd.Gate("acted", None, "no intervention", st.NOT_EXERCISED),
              evd.chance_gate(df, IMBALANCED, ["cnn"])]
    verdict = evd.gated(st.decide_better(c, 0.10), checks)
    model = tb.final_scores(df)
    table = pd.DataFrame([{"predictor": "always 'rest'", "accuracy": f"{base['test_acc']:.3f}", "precision": "0 (undefined)",
                           "recall": "0.000", "F1": f"{base['test_f1']:.3f}"},
                          {"predictor": "tuned CNN (mean over seeds)",
                           **{k: st.fmt(model[m].mean(), 3) if m in model else "n/a" for k, m in
                              (("accuracy", "test_acc"), ("precision", "test_precision"), ("recall", "test_recall"),
                               ("F1", "test_f1"))}}])
    return Judgement(verdict, [f"the all-'rest' predictor scores accuracy {base['test_acc']:.3f} and F1 {base['test_f1']:.3f}",
                               f"the tuned CNN beats it by {st.fmt(c.mean_a)} in F1 but only {st.fmt(c.mean_b)} in "
                               f"accuracy: F1 separates them by {st.fmt(c.gain)} more (95% CI {st.fmt(c.ci[0])} to "
                               f"{st.fmt(c.ci[1])}; {c.test}, {st.p_phrase(c.p)}; {c.n_a} seeds) -> "
                               f"{st.VERDICT_WORDS[verdict]} (margin 10 points; {st.precision_words(c, 0.10)}); "
                               f"{evd.gate_words(checks)}"], table,
                     [evd.comparison_row(IMBALANCED, c, "test_f1 gain - test_acc gain", 0.10, verdict, checks,
                                         kind="superiority")])


def tested_gap(df: pd.DataFrame, epochs: pd.DataFrame) -> pd.Series:
    """train - validation accuracy of the weights that were tested: at the best epoch where early stopping restored
    it, else at the last epoch (by trial id)."""
    gap = last_epoch_gap(df, epochs)
    final = tb.final_scores(df)
    if "best_epoch" not in final or "early_stop" not in final:
        return gap
    acc = epochs[epochs["metric"] == "acc"].pivot_table(index=["trial_id", "epoch"], columns="split", values="value")
    for trial, best in final.loc[final["early_stop"] > 0, ["trial_id", "best_epoch"]].itertuples(index=False):
        if (trial, best) in acc.index:
            gap[trial] = acc.loc[(trial, best), "train"] - acc.loc[(trial, best), "val"]
    return gap


def reduces_gap(levels: Callable[[pd.DataFrame], tuple[str, str]]) -> Callable[[Evidence], Judgement]:
    """Claim "X reduces overfitting", judged on the gap and the held-out score together: the train-validation
    accuracy gap of X's setting (`levels(trials)`: the setting, chosen on validation data, and the baseline) is
    smaller than the baseline's (stats.decide_better on the gap, lower is better, margin 2 points) AND its test
    accuracy is not worse (non-inferiority within the practical margin). A setting that narrows the gap by learning
    less - lower training accuracy, lower held-out score - does not reduce overfitting: both must hold."""
    def judge(ev: Evidence) -> Judgement:
        df, epochs = ev.trials("overfitting"), ev.epochs("overfitting")
        setting, base = levels(df)
        gap = tested_gap(df, epochs)
        final = tb.final_scores(df).assign(gap=lambda d: d["trial_id"].map(gap))
        a = final[final["level"] == setting].set_index("seed")["gap"]
        b = final[final["level"] == base].set_index("seed")["gap"]
        c = compare_values(a, b, setting, base, higher_is_better=False)
        checks = evd.gates(df, "mlp", setting, base, reference=evd.overfit_gate(b, base))
        narrower = evd.gated(st.decide_better(c, 0.02), checks)
        held_out = evd.judge_one(df, "mlp", setting, base, compare(df, "mlp", setting, base), not_worse=True,
                                 reference=checks[0])
        verdict = combine_all([narrower, held_out.verdict])
        return Judgement(verdict, [f"train-validation accuracy gap: {st.verdict(c, 'gap', False, 0.02)} -> "
                                   f"{st.VERDICT_WORDS[narrower]} ({st.precision_words(c, 0.02)}); "
                                   f"{evd.gate_words(checks)}",
                                   f"held-out score, which must not fall: {held_out.numbers[0]}"],
                         rows=[evd.comparison_row("mlp", c, "gap", 0.02, narrower, checks, float(b.mean()),
                                                  kind="superiority",
                                                  key=evd.fingerprint(df, "mlp", setting, base, "gap")),
                               *held_out.rows])
    return judge


def validated(family: str) -> Callable[[pd.DataFrame], tuple[str, str]]:
    """The family's setting in the overfitting sweep to judge against the baseline: the largest training set for
    more data (the claim is about more of it), else the strength with the best mean validation objective (chosen on
    validation data, never on the test scores it is judged by)."""
    def pick(df: pd.DataFrame) -> tuple[str, str]:
        if family == "n_train":
            sizes = [lv for lv in tb.levels(df) if lv.startswith("n_train=")]
            return max(sizes, key=lambda lv: int(lv.split("=", 1)[1])), "baseline"
        _, values = OVERFIT_SETTINGS[family]
        levels = [f"{family}={v:g}" for v in values]
        return best_level(df, "mlp", among=levels) or levels[0], "baseline"
    return pick


def chosen_level(df: pd.DataFrame, group: str, family: str) -> str:
    """The ablation family's level with the best mean validation objective over its final seeds (its strength tuned
    on validation data, by the one rule of evd.best_level: a seed that diverged makes its level's mean the worst);
    the family's first level when none has a validation score."""
    return best_level(df, group, among=list(ABLATION[family])) or next(iter(ABLATION[family]))


def own_setting_gate(df: pd.DataFrame, epochs: pd.DataFrame, group: str, level: str = "baseline") -> evd.Gate:
    """The reference gate of an experiment that changes the data size on purpose (the ablation and the overfitting
    sweep train on a fraction of MNIST-1D): measured for that setting - the reference overfits there, the regime the
    changes are about (evd.overfit_gate) - never the full-data target, which no model on that fraction reaches."""
    part = evd.arm(df, group, level)
    gap = last_epoch_gap(part, epochs) if len(epochs) else pd.Series(dtype=float)
    return evd.overfit_gate(gap, level)


def ablation_gain(family: str) -> Callable[[Evidence], Judgement]:
    def judge(ev: Evidence) -> Judgement:
        df, epochs = ev.trials("ablation"), ev.epochs("ablation")
        pairs = [(w, chosen_level(df, w, family), "baseline") for w in (CNN, MLP)]
        j = judge_better(df, pairs, references={w: own_setting_gate(df, epochs, w) for w in (CNN, MLP)})
        picked = "; ".join(f"{w}: {lv} (best on validation)" for w, lv, _ in pairs if len(ABLATION[family]) > 1)
        return Judgement(j.verdict, j.numbers + ([f"strength chosen: {picked}"] if picked else []), j.table, j.rows)
    return judge


def more_data_helps(ev: Evidence) -> Judgement:
    b, df = ev.budget, ev.trials("overfitting")
    return judge_better(df, [("mlp", f"n_train={max(b.sizes)}", "baseline")],
                        references={"mlp": own_setting_gate(df, ev.epochs("overfitting"), "mlp")})


def study(name: str, key: str, context: str | None = None) -> Callable[[Evidence], Judgement]:
    """Judged by the study's claim row(s) whose stable key matches `key`."""
    return lambda ev: judge_study(ev.study(name), key, name, context)


# -- figures ------------------------------------------------------------------------------------------------------
def scores(exp: str) -> Callable[[Evidence], object]:
    return lambda ev: fg.score_distribution(ev.trials(exp))


def lr_curves(exp: str) -> Callable[[Evidence], object]:
    return lambda ev: fg.lr_sensitivity(ev.trials(exp))


def imbalance_bars(ev: Evidence) -> object:
    df = tb.final_scores(ev.trials("imbalanced"))
    base = ev.baselines.get(IMBALANCED, {"test_acc": 0.9, "test_f1": 0.0})
    rows = []
    for label, metric in (("accuracy", "test_acc"), ("precision", "test_precision"), ("recall", "test_recall"),
                          ("F1", "test_f1")):
        values = df[metric] if metric in df else pd.Series(dtype=float)
        lo, hi = st.mean_ci(values)
        rows.append({"panel": IMBALANCED, "x": label, "hue": "tuned CNN", "mean": values.mean(), "lo": lo, "hi": hi})
        ref = base.get(metric, 0.0)
        rows.append({"panel": IMBALANCED, "x": label, "hue": "always 'rest'", "mean": ref, "lo": ref, "hi": ref})
    return fg.estimate_bars(pd.DataFrame(rows), "Accuracy hides a useless predictor on imbalanced data",
                            "metric", "test score (0-1)")


def overfit_lines(ev: Evidence) -> object:
    df, epochs = ev.trials("overfitting"), ev.epochs("overfitting")
    final = tb.final_scores(df).assign(gap=lambda d: d["trial_id"].map(tested_gap(df, epochs)))
    base_n = ev.budget.sizes[len(ev.budget.sizes) // 2]
    rows = []
    for family, panel in FAMILIES.items():
        base_label = str(base_n) if family == "n_train" else ("off" if family == "early_stop" else "0")
        members = [("baseline", base_label)] + [(lv, lv.split("=", 1)[1]) for lv in tb.levels(final)
                                                 if lv.startswith(family + "=")]
        if family == "n_train":
            members.sort(key=lambda m: int(m[1]))
        for level, label in members:
            part = final[final["level"] == level]
            for hue, col in (("train - validation accuracy gap", "gap"), ("test accuracy", "score")):
                lo, hi = st.mean_ci(part[col])
                rows.append({"panel": panel, "x": label, "hue": hue, "mean": part[col].mean(), "lo": lo, "hi": hi})
    return fg.estimate_lines(pd.DataFrame(rows), "Overfitting of an MLP on MNIST-1D: gap and test accuracy per setting",
                             "accuracy (fraction)")


def ablation_bars(ev: Evidence) -> object:
    df = ev.trials("ablation")
    rows = []
    for w in (CNN, MLP):
        for family in ABLATION:
            change = chosen_level(df, w, family)
            c = compare(df, w, change, "baseline")
            rows.append({"panel": w, "x": change, "hue": "gain over baseline", "mean": c.gain, "lo": c.ci[0], "hi": c.ci[1]})
    return fg.estimate_bars(pd.DataFrame(rows), "Single changes to the baseline: gain in test accuracy (95% CI)",
                            "change", "test accuracy gain over baseline")


def ablation_findings(ev: Evidence) -> list[str]:
    """Per workload, the change that helped most, chosen on validation data (its test gain is then reported)."""
    df, out = ev.trials("ablation"), []
    for w in (CNN, MLP):
        top = best_level(df, w, among=[chosen_level(df, w, family) for family in ABLATION])
        if top is None:
            continue
        val = {lv: float(per_seed(df, w, lv, "objective").mean()) for lv in (top, "baseline")}
        gain = mean_score(df, w, top) - mean_score(df, w, "baseline")
        out.append(f"{w}: the change that helped most on validation data was '{top}' (validation objective "
                   f"{val[top]:.3f} vs the baseline's {val['baseline']:.3f}); its test accuracy gain: {gain * 100:+.1f} "
                   f"points on average (baseline {mean_score(df, w, 'baseline'):.3f})")
    return out


# -- the questions ------------------------------------------------------------------------------------------------
BETTER = ("margin {m}: supported if the interval of the gain (Holm-compatible where any one of several tests may carry "
          "the claim; a claim every test must support needs no correction) "
          "lies above 0 and not within +-margin; refuted if it lies below 0 or within +-margin (shown equivalent); "
          "otherwise inconclusive")
AS_GOOD = ("non-inferiority, margin {m}: supported if the 95% CI of its gain over {b} lies above -margin; refuted if it "
           "lies below -margin")
MARGIN = "at least 2 points (2 binomial SEs of the two arms' mean test score when larger)"
HELD_OUT = ("; and the held-out (test) accuracy must not fall (non-inferiority within the practical margin): a "
            "setting that narrows the gap by learning less does not reduce overfitting")
STUDY = ("checked by the {s} study: supported if every matching reproduction passes its own pre-set criterion, "
         "refuted if none does, untestable if a reproduction's gate failed (the reason is in its row)")


def study_claim(cid: str, text: str, name: str, key: str, context: str | None = None) -> Claim:
    """A claim judged by the `name` study's claim row with stable key `key` (see `study`)."""
    return Claim(cid, text, STUDY.format(s=name), study(name, rf"^{key}$", context))

QUESTIONS: tuple[Question, ...] = (
    Question(
        "8.1", "How to choose an optimizer (如何选择合适的优化器？)",
        "梯度下降是最基本的优化器，适用于简单的模型和任务。Adam 优化器是一种自适应优化器，可以适应不同的模型和任务。"
        "RMSprop 优化器是一种基于均方根的优化器，可以减轻梯度消失问题。",
        "Gradient descent is the most basic optimizer and suits simple models and tasks. Adam is an adaptive optimizer "
        "that adapts to different models and tasks. RMSprop, based on the root mean square, alleviates vanishing gradients.",
        "SGD, SGD with momentum, Adam and RMSprop, each tuned on the same LR grid (their other hyperparameters at the "
        "defaults: momentum 0.9, Adam's betas 0.9/0.999, RMSprop's squared-gradient decay alpha 0.99 - PyTorch's "
        "default; Tieleman & Hinton 2012 used 0.9), on an MLP (the simple model), a 1-D CNN "
        "and a tanh RNN over 40 steps (prone to vanishing gradients), all on MNIST-1D.",
        lambda b: [optimizers(b)],
        claims=(
            Claim("8.1a", "Plain SGD suits simple models: on the MLP it is about as good as the best optimizer.",
                  AS_GOOD.format(b="the best other optimizer", m=MARGIN), sgd_simple),
            Claim("8.1b", "Adam adapts to different models and tasks: on every workload it is about as good as the best "
                  "optimizer.", AS_GOOD.format(b="the best other optimizer on each workload", m=MARGIN) +
                  "; all three workloads must agree", adam_everywhere),
            Claim("8.1c", "RMSprop alleviates vanishing gradients: it trains the tanh RNN better than plain SGD (the "
                  "gradient mechanism itself is tested in 8.5d).", BETTER.format(m=MARGIN), rmsprop_rnn),
        ),
        figures=(FigureSpec("optimizers-scores", "Test accuracy of the re-run seeds per optimizer and workload.",
                            scores("optimizers")),
                 FigureSpec("optimizers-lr", "Validation accuracy against the learning rate in the tuning phase.",
                            lr_curves("optimizers"))),
        notes=("Every arm trains its workload's recipe (`bench list workloads`) and changes only the optimizer, under "
               "the same protocol as the flagship sweep `bench sweep optimizers` at the same budget (search_spaces/"
               "optimizers.yaml: at --quick an LR grid with refinement, 2 configs confirmed on a second seed, 3 fresh "
               "seeds). On mnist1d-cnn the two run the very same trials, so they cannot disagree; the sweep's "
               "leaderboard, with AdamW, Nesterov and Adagrad and the GRU: reports/examples/optimizers-quick/.",)),
    Question(
        "8.2", "How to choose a loss function (如何选择合适的损失函数？)",
        "均方误差适用于回归任务，交叉熵损失适用于分类任务。",
        "Mean squared error suits regression tasks; cross-entropy suits classification tasks.",
        "Softmax cross-entropy against squared error on one-hot targets, each LR-tuned, on two MNIST-1D classifiers; "
        "and a GRU on the adding problem trained with squared, absolute or Huber error, each LR-tuned, scored by test "
        "MSE (the constant predictor scores 1/6).",
        lambda b: [losses(b)],
        claims=(
            Claim("8.2a", "Cross-entropy, not MSE, is the loss for classification: it beats MSE on every classifier.",
                  BETTER.format(m=MARGIN) + "; both workloads must agree", ce_classification),
            Claim("8.2b", "MSE suits regression: on the adding problem a GRU trained with squared error is about as good "
                  "as one trained with the best other regression loss (absolute or Huber error).",
                  AS_GOOD.format(b="the best other regression loss (chosen on validation MSE)", m="10% of the MSE "
                                 "(the midpoint of the two arms')") + "; scored by test MSE", mse_regression),
        ),
        figures=(FigureSpec("losses-scores", "Test score per loss (accuracy for the classifiers, MSE for adding).",
                            scores("losses")),),
        notes=("Hui & Belkin (2021) found the square loss competitive with cross-entropy on classification.",)),
    Question(
        "8.3", "How to choose an activation function (如何选择合适的激活函数？)",
        "ReLU 是一种常用的激活函数，适用于各种模型和任务。Sigmoid 和 Tanh 是一种双曲正切函数，适用于二分类任务。",
        "ReLU is a common activation that suits all kinds of models and tasks. Sigmoid and tanh (\"hyperbolic "
        "tangent functions\", sic) suit binary classification.",
        "ReLU, tanh and sigmoid as the hidden activation of the 1-D CNN, each LR-tuned, on 10-class MNIST-1D (accuracy) "
        "and on its binary digit-0-vs-rest variant (F1); and, for the binary claims, the OUTPUT unit of the ReLU CNN "
        "on the binary task: sigmoid (binary cross-entropy), tanh (squared error against -1/+1) or linear (squared "
        "error against -1/+1), each LR-tuned.",
        lambda b: [activations(b), output_units(b)],
        claims=(
            Claim("8.3a", "ReLU suits most models and tasks: it is about as good as the best activation on both tasks.",
                  AS_GOOD.format(b="the best other activation", m=MARGIN) + "; both tasks must agree", relu_everywhere),
            Claim("8.3b", "Sigmoid suits binary classification: as the output unit on the binary task it is about as "
                  "good as the best other output unit.", AS_GOOD.format(b="the best other output unit", m=MARGIN),
                  as_good_as_best("output-units", "sigmoid", (IMBALANCED,))),
            Claim("8.3c", "Tanh suits binary classification: as the output unit on the binary task it is about as good "
                  "as the best other output unit.", AS_GOOD.format(b="the best other output unit", m=MARGIN),
                  as_good_as_best("output-units", "tanh", (IMBALANCED,))),
            Claim("8.3d", "Hidden-unit reading of 8.3b: sigmoid as the HIDDEN activation on the binary task is about as "
                  "good as the best other hidden activation.",
                  AS_GOOD.format(b="the best other hidden activation", m=MARGIN),
                  as_good_as_best("activations", "sigmoid", (IMBALANCED,))),
            Claim("8.3e", "Hidden-unit reading of 8.3c: tanh as the HIDDEN activation on the binary task is about as good "
                  "as the best other hidden activation.",
                  AS_GOOD.format(b="the best other hidden activation", m=MARGIN),
                  as_good_as_best("activations", "tanh", (IMBALANCED,))),
        ),
        figures=(FigureSpec("activations-scores", "Test score per hidden activation (accuracy; F1 for the binary task).",
                            scores("activations")),
                 FigureSpec("output-units-scores", "Test F1 per output unit on the binary task.", scores("output-units"))),
        notes=("The binary task is imbalanced (10% positives), so it is scored by F1.",)),
    Question(
        "8.4", "How to choose a learning rate (如何选择合适的学习率？)",
        "选择合适的学习率取决于模型的结构和任务的特点。……学习率衰减是根据训练轮数自动调整学习率的方法，适用于复杂的模型和任务。",
        "Choosing a suitable learning rate depends on the model's structure and the task. ... Learning-rate decay adjusts "
        "the learning rate with the number of epochs and suits complex models and tasks.",
        "Constant, step and cosine schedules for Adam, each LR-tuned, on the CNN and the MLP; the best LR per optimizer "
        "and workload from 8.1's grid (its LR-sensitivity figure is under 8.1); and Smith's LR range test against the "
        "grid search for SGD and Adam; and SGD-momentum's best LR against the batch size (MLP, batch 32 to 512, the same "
        "epochs, LR tuned per batch size).",
        lambda b: [schedules(b), optimizers(b), lr_finder(b), batch_sizes(b)],
        claims=(
            Claim("8.4a", "Learning-rate decay suits complex models: a decaying schedule beats a constant LR on the CNN.",
                  BETTER.format(m=MARGIN) + "; either decay schedule (step or cosine) may carry it, so Holm over both",
                  decay_helps),
            Claim("8.4b", "The right learning rate depends on the model and the task.",
                  "supported if at least half of the optimizers have best grid LRs a decade or more apart across the "
                  "workloads; refuted if none has; inconclusive otherwise; an optimizer's best LR on a workload counts "
                  "only where that arm reached the workload's target and sits above chance (untestable when fewer than "
                  "half of the optimizers have two such workloads)", lr_depends),
            Claim("8.4c", "An LR range test finds a learning rate as good as a grid search (a common practice, implied "
                  "by the FAQ's advice to pick the LR by the model and task).",
                  AS_GOOD.format(b="the grid-searched LR", m=MARGIN) + "; all four cases must agree",
                  finder_matches_search),
            Claim("8.4d", "The learning rate should be set by the batch size (the FAQ's \"分批学习率\", read as batch-size "
                  "LR scaling): SGD's best LR grows with the batch size.",
                  "the best LR per batch size is interpolated from its tuning grid (parabola in log LR through the best "
                  "point and its neighbours); supported if the 95% CI of the OLS slope of log best-LR on log batch size "
                  "lies above 0 and not within +-0.25, refuted if it lies within +-0.25 or below 0, inconclusive otherwise; "
                  "the CI is set against linear "
                  "(Goyal et al. 2017: slope 1) and square-root (slope 0.5) scaling", batch_scaling),
        ),
        figures=(FigureSpec("schedules-scores", "Test accuracy per schedule.", scores("schedules")),
                 FigureSpec("batch-size-lr", "Validation accuracy against the LR in the tuning phase, per batch size.",
                            lr_curves("batch-size"))),
        notes=("The FAQ's \"分批学习率\" (\"a batch learning rate adjusted to the training-set size\") is read as "
               "scaling the LR with the batch size, the testable rule closest to it; Goyal et al. (2017) scale it "
               "linearly with a warm-up, Krizhevsky (2014) and Hoffer et al. (2017) by the square root.",)),
    Question(
        "8.5", "How to fix vanishing gradients (如何解决梯度消失问题？)",
        "使用 ReLU 激活函数……使用批量正则化……使用残差连接……使用 RMSprop 优化器……",
        "Use ReLU activations (derivative 0 or 1); use batch normalization; use residual connections; use the RMSprop "
        "optimizer.", "The vanishing-gradient study (`bench study vanishing`): deep MLPs after Glorot & Bengio (2010) "
        "and He et al. (2015), with per-layer gradient probes; ReLU is compared with tanh and sigmoid each under its own "
        "init (He; Xavier with gain 5/3; Xavier), the shared-init comparison shown beside it as context; residual "
        "blocks are pre-activation with the branch scaled by 1/sqrt(depth) (He et al. 2016); every claim decided over "
        "5 seeds (pass: at least 4 meet its criterion, fail: at most 1, else inconclusive).",
        studies=("vanishing",),
        claims=(study_claim("8.5a", "ReLU mitigates vanishing gradients.", "vanishing", "faq-relu", r"^relu-shared-init$"),
                study_claim("8.5b", "Batch normalization mitigates vanishing gradients.", "vanishing", "faq-bn"),
                study_claim("8.5c", "Residual connections mitigate vanishing gradients.", "vanishing", "faq-residual"),
                study_claim("8.5d", "RMSprop alleviates vanishing gradients.", "vanishing", "faq-rmsprop", r"^rmsprop-"))),
    Question(
        "8.6", "How to fix exploding gradients (如何解决梯度爆炸问题？)",
        "使用 ReLU 激活函数……使用批量正则化……使用权重裁剪……使用 Adam 优化器……",
        "Use ReLU activations; use batch normalization; use weight clipping (it limits the range of the weights); use "
        "the Adam optimizer.", "The exploding-gradient study (`bench study exploding`): tanh RNNs with recurrent "
        "spectral radius above 1 after Pascanu et al. (2013). Each remedy - ReLU as Le et al.'s (2015) IRNN, weight "
        "clipping at thresholds that act (0.2, 0.1, 0.05), Adam, and batch norm on an unscaled residual MLP - is tried "
        "where the problem exists: at the smallest SGD learning rate at which the net without a remedy blows up (picked "
        "on a separate tuning seed; Adam and the weight-clip threshold picked there by validation loss); a remedy is "
        "judged only where the no-remedy arm blows up again on the judged seeds (else untestable), and must stay free of "
        "NaN and loss jumps while training no worse than gradient-norm clipping at the same setting; spikes counted "
        "after a warm-up; 5 seeds per claim (pass: at least 4 meet its criterion, fail: at most 1, else inconclusive).",
        studies=("exploding",),
        claims=(study_claim("8.6a", "ReLU mitigates exploding gradients.", "exploding", "faq-relu"),
                study_claim("8.6b", "Batch normalization mitigates exploding gradients.", "exploding", "faq-bn"),
                study_claim("8.6c", "Weight clipping mitigates exploding gradients.", "exploding", "faq-weight-clip"),
                study_claim("8.6d", "Adam mitigates exploding gradients.", "exploding", "faq-adam"),
                study_claim("8.6e", "For comparison (not in the FAQ): gradient-norm clipping mitigates exploding "
                            "gradients.", "exploding", "grad-norm-clip", r"^pascanu-clip"))),
    Question(
        "8.7", "How to choose a model structure (如何选择合适的模型结构？)",
        "卷积神经网络适用于图像和音频等空间结构数据，循环神经网络适用于序列数据，递归神经网络适用于树状数据。",
        "CNNs suit data with spatial structure such as images and audio; RNNs suit sequence data; recursive networks "
        "suit tree-structured data.",
        "A 1-D CNN, an MLP and a GRU, each LR-tuned, on MNIST-1D (40-step signals with local structure) and on the "
        "same data with its 40 positions permuted once (locality removed, order still fixed).",
        lambda b: [structure(b)],
        claims=(
            Claim("8.7a", "CNNs suit data with spatial structure: the CNN beats the MLP on MNIST-1D, and its advantage "
                  "shrinks when locality is removed.", BETTER.format(m=MARGIN) + " for the CNN over the MLP; and the "
                  "drop of that advantage on the shuffled data (Welch contrast; both tests must hold, so neither is "
                  "Holm-corrected) must be judged the same way with a 2-point margin", cnn_spatial),
            Claim("8.7b", "RNNs suit sequence data: on MNIST-1D read as a 40-step sequence the GRU is about as good as the "
                  "best model.", AS_GOOD.format(b="the best other model", m=MARGIN), rnn_sequences),
        ),
        figures=(FigureSpec("structure-scores", "Test accuracy per model on the original and the shuffled data.",
                            scores("structure")),),
        notes=("Recursive (tree) networks are out of scope: no workload here has tree structure.",)),
    Question(
        "8.8", "How to evaluate a model (如何评估模型性能？)",
        "常见的评估指标包括准确率、召回率、F1 分数等。……在实际应用中，可以根据任务的特点选择合适的评估指标来评估模型性能。",
        "Common metrics include accuracy, recall and the F1 score ... choose the metric that fits the task.",
        "The LR-tuned CNN on MNIST-1D digit 0 vs rest (10% positives) against the predictor that always says 'rest'.",
        lambda b: [imbalanced(b)],
        claims=(Claim("8.8a", "On imbalanced data accuracy misleads, and precision, recall and F1 show it: F1 separates a "
                      "trained model from a useless one far more than accuracy does.",
                      "per seed, the model's F1 gain and accuracy gain over the all-'rest' predictor are compared (paired "
                      "t-test): " + BETTER.format(m="10 points"), accuracy_misleads),),
        figures=(FigureSpec("imbalanced-metrics", "Accuracy, precision, recall and F1 of the tuned CNN (95% CI over "
                            "seeds) and of the all-'rest' predictor.", imbalance_bars),)),
    Question(
        "8.9", "How to avoid overfitting (如何避免过拟合？)",
        "增加训练数据……使用正则化……使用Dropout……使用早停法……",
        "Add training data; use regularization; use dropout; use early stopping: each makes the model generalize better "
        "and reduces overfitting.",
        "An MLP on part of MNIST-1D trained long enough to overfit, LR tuned once without regularization; then the "
        "training-set size, L2 weight decay, dropout and early-stopping patience varied at that LR. Overfitting is the "
        "gap between training and validation accuracy at the end of training (at the restored epoch for early stopping, which "
        "watches validation accuracy); a setting reduces it only if the held-out (test) accuracy does not fall, and each "
        "regularizer's strength is the one with the best validation accuracy.",
        lambda b: [overfitting(b)],
        claims=(Claim("8.9a", "More training data reduces overfitting.", BETTER.format(m="2 points") +
                      " on the gap (a smaller gap with the largest training set than with the baseline's, at the same "
                      "number of optimiser steps)" + HELD_OUT, reduces_gap(validated("n_train"))),
                Claim("8.9b", "Regularization (L2 weight decay) reduces overfitting.", BETTER.format(m="2 points") +
                      " on the gap (the decay chosen on validation accuracy against none)" + HELD_OUT,
                      reduces_gap(validated("l2"))),
                Claim("8.9c", "Dropout reduces overfitting.", BETTER.format(m="2 points") +
                      " on the gap (the rate chosen on validation accuracy against none)" + HELD_OUT,
                      reduces_gap(validated("dropout"))),
                Claim("8.9d", "Early stopping reduces overfitting.", BETTER.format(m="2 points") +
                      " on the gap (the patience chosen on validation accuracy against none; the gap of the restored "
                      "epoch)" + HELD_OUT, reduces_gap(validated("early_stop")))),
        figures=(FigureSpec("overfitting", "Train-validation accuracy gap and test accuracy (95% CI over seeds) per "
                            "setting; the leftmost point of each panel is the baseline.", overfit_lines),)),
    Question(
        "8.10", "How to improve model performance (如何优化模型性能？)",
        "增加训练数据……使用正则化……使用Dropout……使用早停法……使用优化器……使用学习率衰减……使用批量正则化……使用预训练模型……",
        "Add training data; use regularization; use dropout; use early stopping; use an optimizer; use learning-rate "
        "decay; use batch normalization; use pretrained models: each improves performance.",
        "An ablation on the CNN and the MLP in the regime where they overfit (the overfitting sweep's training-set size "
        "and long budget): one change at a time to an Adam, constant-LR, ReLU baseline; cosine decay and batch norm "
        "LR-tuned, dropout, decoupled weight decay (no decay on biases and norm parameters) and early stopping at the "
        "baseline's LR with their strength picked on validation data; more data from 8.9's training-set sweep at "
        "matched optimiser steps.",
        lambda b: [ablation(b), overfitting(b)],
        claims=(Claim("8.10a", "Learning-rate decay improves performance.", BETTER.format(m=MARGIN) +
                      "; both workloads must agree", ablation_gain("+cosine decay")),
                Claim("8.10b", "Batch normalization improves performance.", BETTER.format(m=MARGIN) +
                      "; both workloads must agree", ablation_gain("+batch norm")),
                Claim("8.10c", "Dropout improves performance.", BETTER.format(m=MARGIN) + "; both workloads must agree",
                      ablation_gain("+dropout")),
                Claim("8.10d", "Regularization (weight decay) improves performance.", BETTER.format(m=MARGIN) +
                      "; both workloads must agree (decoupled weight decay, strength picked on validation data)",
                      ablation_gain("+weight decay")),
                Claim("8.10e", "Early stopping improves performance.", BETTER.format(m=MARGIN) +
                      "; both workloads must agree (patience picked on validation data)", ablation_gain("+early stopping")),
                Claim("8.10f", "More training data improves performance.", BETTER.format(m=MARGIN) +
                      " (test accuracy with the largest training set against the baseline's, from 8.9, at the same number "
                      "of optimiser steps)", more_data_helps)),
        figures=(FigureSpec("ablation", "Gain of each single change over the baseline in test accuracy, with the 95% CI "
                            "of the comparison.", ablation_bars),),
        findings=ablation_findings,
        notes=("\"Use an optimizer\" is not a testable change (every model is trained by one); optimizers are compared in "
               "8.1.", "Pretrained models are out of scope: the workloads are trained from scratch, offline.")),
)
