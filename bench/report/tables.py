"""Summary tables from the tidy result tables: leaderboard, pairwise comparisons, LR ranges, importance.

Input is a trials table in the sweep schema (one row per trial: tags phase/compare/level/group/tuned/
target_metric/target_mode/objective/score, the flattened TrialConfig, status, error, final metrics) and,
where needed, the epochs table (trial_id, epoch, split, metric, value). `prepare` fills the tags that
tables from single runs lack, so every function here can rely on them. Levels are compared within a `group`:
a sweep's workload, or a FAQ comparison group that may span workloads (a CNN and a GRU on the same data); the
`workload` column is always the one the trial trained on. Pure functions: nothing trains.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd

from bench.report import stats as st
from bench.report.flags import FAILED, group_flags
from bench.scores import tuning_metric
from bench.status import Phase, TrialStatus

TUNE, CONFIRM, FINAL = Phase.TUNE, Phase.CONFIRM, Phase.FINAL
TARGET_FRACTION = 0.95  # without a workload goal: reach 95% of the best level's final validation score (min: best / 0.95)
FALLBACK_TARGETS = ("test_acc", "test_f1", "test_mse", "test_loss")
TARGET_RULE = (f"target: the workload's goal (`bench list workloads`) on the validation metric, as the trials recorded it; "
               f"for trials without one, {TARGET_FRACTION:.0%} of the best level's mean final validation score "
               f"(lower-is-better metrics: that score / {TARGET_FRACTION})")
IMPORTANCE_MIN_TRIALS = 8
# fANOVA's cost grows exponentially with a categorical's size (10 levels: 8 CPU-s, 16: over 10 CPU-min). Beyond this
# many levels the level enters as a number instead: its rank by mean tuning objective (target encoding), which the
# forest splits like any number; and at most this many tuning trials per group are read (a seeded sample).
IMPORTANCE_MAX_CATEGORIES = 8
IMPORTANCE_MAX_TRIALS = 2000


def higher_is_better(mode: str) -> bool:
    return mode == "max"


def default_mode(metric: str) -> str:
    return "max" if metric.split("_")[-1] in st.RATE_METRICS else "min"


def prepare(trials: pd.DataFrame, compare: str | None = None) -> pd.DataFrame:
    """A copy of the trials table with every tag the report relies on. Runs without sweep tags (e.g. from
    `bench run`) become final-phase trials whose level is `compare`'s value, or else the run's name. Trials
    without a `group` tag (single runs, sweeps written before sweeps tagged one) are compared per workload."""
    df = trials.copy().reset_index(drop=True)
    if compare is not None:
        if compare not in df:
            raise KeyError(compare)
        df["compare"], df["level"] = compare, df[compare]
    elif "level" not in df:
        df["compare"], df["level"] = "run", df["run"] if "run" in df else "all"
    df["compare"] = df["compare"] if "compare" in df else "level"
    df["level"] = df["level"].astype(str)
    df["group"] = df.get("group", df["workload"]).fillna(df["workload"]).astype(str)
    df["phase"] = df["phase"].where(df["phase"].isin(list(Phase)), FINAL) if "phase" in df else FINAL
    if "target_metric" not in df:
        df["target_metric"] = next((m for m in FALLBACK_TARGETS if m in df), "test_loss")
    if "target_mode" not in df:
        df["target_mode"] = df["target_metric"].map(default_mode)
    if "score" not in df:
        df["score"] = [row.get(row["target_metric"], math.nan) for _, row in df.iterrows()]
    df["score"] = pd.to_numeric(df["score"], errors="coerce").where(df["status"] == TrialStatus.OK)
    if "objective" in df:  # a failed trial's objective is the worst value (+-inf) for the search; NaN for means
        df["objective"] = tuning_values(df)
    return df


def groups(df: pd.DataFrame) -> list[str]:
    """The groups levels are compared within, in the order of the table."""
    return list(dict.fromkeys(df["group"]))


def groups_span_workloads(df: pd.DataFrame) -> bool:
    """Whether some group is not simply the workload its trials trained on (FAQ groups; never a sweep's)."""
    return "workload" in df and not df["group"].equals(df["workload"].astype(str))


def levels(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["level"]))


def metric_of(df: pd.DataFrame) -> tuple[str, str]:
    """(target metric, mode) of a one-group slice."""
    return str(df["target_metric"].iloc[0]), str(df["target_mode"].iloc[0])


SMALL_BUDGET = ("each level tuned its learning rate only, every other hyperparameter at its optimizer's published "
                "default: the small-budget protocol of Schmidt, Schneider & Hennig (2021)")
WIDE_SEARCH = ("each level tuned its learning rate and its own hyperparameters ({params}), with the same number of "
               "trials: the wider search of Choi et al. (2019), which a larger budget affords")


def protocol(df: pd.DataFrame) -> str:
    """What each level's search tuned, as one sentence for the leaderboard: the learning rate alone (a small
    budget), or the learning rate and the levels' own hyperparameters; empty without tuned levels."""
    if "tuned" not in df:
        return ""
    tuned = {str(t) for t in df["tuned"].dropna() if str(t)}
    params = sorted({p for t in tuned for p in t.split(",")} - {"lr"})
    if not tuned:
        return ""
    if params:
        return f"Protocol: {WIDE_SEARCH.format(params=', '.join(params))}."
    tune = df[(df["phase"] == TUNE) & (df["tuned"].fillna("").astype(str) != "")] if {"phase", "lr"} <= set(df) \
        else df.iloc[:0]
    grid = shared_lr_grid(tune)
    refined = bool((~tune["lr"].round(12).isin(grid)).any()) if grid else False  # a grid search's refinement points
    how = (f", on the same LR grid ({', '.join(f'{lr:g}' for lr in grid)}"
           f"{', then the two half-way points around its best' if refined else ''})") if grid else ""
    return f"Protocol: {SMALL_BUDGET}{how}."


def shared_lr_grid(tune: pd.DataFrame) -> list[float]:
    """The LRs every tuned level's tuning trials (`tune`) trained at, at least two: the grid a grid search shares
    between levels; [] for a TPE search, whose sampled LRs differ from level to level."""
    if tune.empty:
        return []
    sets = [set(part["lr"].round(12)) for _, part in tune.groupby(["group", "level"] if "group" in tune else "level")]
    common = sorted(set.intersection(*sets))
    return common if len(common) >= 2 else []


def tuned_params(df: pd.DataFrame) -> list[str]:
    """Hyperparameters tuned for a (group, level) slice: the sweep's `tuned` tag, else the numeric config
    columns that vary across its tuning trials."""
    if "tuned" in df and df["tuned"].notna().any():
        return [k for k in str(df["tuned"].dropna().iloc[0]).split(",") if k and k in df]
    tune = df[df["phase"] == TUNE]
    skip = {"seed", "objective", "score", "epochs_run", "steps", "wall_time"}
    return [c for c in tune.select_dtypes("number").columns
            if c not in skip and not c.startswith(("test_", "val_", "train_")) and tune[c].nunique() > 1]


def param_text(v: float) -> str:
    """A hyperparameter in 3 significant digits, except a decay rate just below 1 (beta2 0.9997, alpha 0.9999),
    which keeps two significant digits of 1 - v: at 3 digits it would read "1", a different optimizer."""
    if 0.9 < v < 1:
        return f"{v:.{math.ceil(-math.log10(1 - v)) + 1}g}"
    return f"{v:.3g}"


def describe_params(row: pd.Series, params: list[str]) -> str:
    return ", ".join(f"{k}={param_text(row[k])}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in params)


def chosen_on(row: pd.Series) -> str:
    """What a final-phase config was chosen on, from the sweep's tags: its tuning objective (validation), a mean
    over the tuning and the confirm seed when the search confirmed its top configs; '' for tables without them."""
    value, seeds = row.get("chosen_objective", math.nan), row.get("chosen_seeds", 0)
    if not (isinstance(value, float) and math.isfinite(value)) or not seeds:
        return ""
    metric = tuning_metric(str(row.get("target_metric")))
    return f" (chosen on {metric} {value:.3g}" + (f", mean of {int(seeds)} seeds)" if seeds > 1 else ")")


def final_scores(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["phase"] == FINAL]


def time_to_target(df: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Per final-phase trial: wall-clock seconds and epochs until the validation counterpart of the target
    metric first reached the target (`_target`: the workload's goal, else TARGET_FRACTION of the best level's
    mean final value); NaN if never. Columns: trial_id, target, seconds, epochs."""
    rows = []
    final = final_scores(df)
    if epochs is None or epochs.empty or final.empty:
        return pd.DataFrame(columns=["trial_id", "target", "seconds", "epochs"])
    for _, part in final.groupby("group", sort=False):
        metric, mode = metric_of(part)
        curves = _val_curves(epochs, part["trial_id"], metric.partition("_")[2])
        if curves.empty:
            continue
        target = _target(part, curves, mode)
        hit = curves["value"] >= target if higher_is_better(mode) else curves["value"] <= target
        first = curves[hit].groupby("trial_id").first()
        for tid in part["trial_id"]:
            reached = tid in first.index
            rows.append({"trial_id": tid, "target": target, "seconds": first.at[tid, "time"] if reached else math.nan,
                         "epochs": first.at[tid, "epoch"] if reached else math.nan})
    return pd.DataFrame(rows, columns=["trial_id", "target", "seconds", "epochs"])


def _target(part: pd.DataFrame, curves: pd.DataFrame, mode: str) -> float:
    """The workload's goal when the trials recorded one (AlgoPerf-style, absolute), else TARGET_FRACTION of the
    best level's mean final validation value."""
    goals = pd.to_numeric(part["goal"], errors="coerce").dropna() if "goal" in part else pd.Series(dtype=float)
    if len(goals):
        return float(goals.iloc[0])
    last = curves.groupby("trial_id")["value"].last()
    per_level = last.groupby(part.set_index("trial_id")["level"]).mean()
    best = per_level.max() if higher_is_better(mode) else per_level.min()
    return best * TARGET_FRACTION if higher_is_better(mode) else best / TARGET_FRACTION


def _val_curves(epochs: pd.DataFrame, trial_ids: pd.Series, metric: str) -> pd.DataFrame:
    """trial_id, epoch, value (validation metric), time (cumulative training seconds), sorted by epoch."""
    mine = epochs[epochs["trial_id"].isin(set(trial_ids))]
    val = mine[(mine["split"] == "val") & (mine["metric"] == metric)][["trial_id", "epoch", "value"]]
    time = mine[mine["metric"] == "time"][["trial_id", "epoch", "value"]].rename(columns={"value": "time"})
    return val.merge(time, on=["trial_id", "epoch"], how="left").sort_values(["trial_id", "epoch"])


def lr_ranges(df: pd.DataFrame) -> pd.DataFrame:
    """Per (group, level), from the tuning trials that finished: the best LR by the tuning objective
    (validation) and the span of sampled LRs whose objective lies within the practical margin of the best
    (stats.practical_margin), in decades. A wide span means the level forgives a mistuned LR."""
    rows = []
    tune = df[(df["phase"] == TUNE) & (df["status"] == TrialStatus.OK)]
    for (group, level), part in tune.groupby(["group", "level"], sort=False):
        metric, mode = metric_of(part)
        values = tuning_values(part)
        ok = values.notna() & part["lr"].notna()
        if not ok.any():
            continue
        vals, lrs = values[ok], part.loc[ok, "lr"]
        best = vals.max() if higher_is_better(mode) else vals.min()
        margin = st.practical_margin(metric, best)
        good = lrs[(vals >= best - margin) if higher_is_better(mode) else (vals <= best + margin)]
        rows.append({"group": group, "level": level, "best_lr": float(lrs[vals.idxmax() if higher_is_better(mode)
                                                                          else vals.idxmin()]),
                     "good_lr_low": float(good.min()), "good_lr_high": float(good.max()),
                     "decades": float(np.log10(good.max() / good.min())), "trials": int(ok.sum())})
    return pd.DataFrame(rows, columns=["group", "level", "best_lr", "good_lr_low", "good_lr_high", "decades", "trials"])


def tuning_values(df: pd.DataFrame) -> pd.Series:
    """What a tuning trial was judged on: the sweep's `objective` (validation metric; +-inf for failed
    trials becomes NaN), else the score."""
    col = df["objective"] if "objective" in df else df["score"]
    return pd.to_numeric(col, errors="coerce").replace([np.inf, -np.inf], np.nan)


def no_final_reason(part: pd.DataFrame) -> str:
    """Why a level shows no tuned configuration: nothing to tune, every tuning trial failed, or no final-phase
    trial has finished yet (a sweep still running or interrupted: the level is ranked last for that reason only)."""
    tune = part[part["phase"] == TUNE]
    if (part["phase"] == FINAL).any() or tune.empty:
        return "(not tuned)"
    if tune["status"].isin(FAILED).all():
        return "(every tuning trial failed)"
    return "(unfinished: no final-phase seed yet)"


def leaderboard(df: pd.DataFrame, epochs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per group, levels ranked best first by the mean final-phase score over seeds, with its 95% CI
    (stats.mean_ci), the tuned hyperparameters of the re-run configuration, failures, the good-LR span
    from tuning, and the median time to target."""
    ttt = time_to_target(df, epochs).set_index("trial_id") if epochs is not None else pd.DataFrame()
    spans = lr_ranges(df).set_index(["group", "level"])
    rows = []
    for (group, level), part in df.groupby(["group", "level"], sort=False):
        final = final_scores(part)
        scores = st.finite(final["score"])
        lo, hi = st.clip_ci(st.mean_ci(scores), st.metric_bounds(metric_of(part)[0]))
        params = tuned_params(part)
        seconds = ttt["seconds"].reindex(final["trial_id"]) if "seconds" in ttt else pd.Series(dtype=float)
        flagged = group_flags(part) if "phase" in part else {"failed_tune": 0, "flag": ""}
        rows.append({
            "group": group, "level": level, "metric": metric_of(part)[0], "mode": metric_of(part)[1],
            "seeds": len(scores), "failed": int(final["status"].isin(FAILED).sum()),
            "mean": scores.mean() if len(scores) else math.nan, "ci_low": lo, "ci_high": hi,
            "std": scores.std(ddof=1) if len(scores) > 1 else math.nan,
            "best_params": describe_params(final.iloc[0], params) + chosen_on(final.iloc[0]) if len(final) and params
            else no_final_reason(part),
            "good_lr_decades": spans["decades"].get((group, level), math.nan),
            "time_to_target_s": float(seconds.median()) if seconds.notna().any() else math.nan,
            "reached_target": f"{int(seconds.notna().sum())}/{len(final)}" if len(seconds) else "-",
            "failed_tune": flagged["failed_tune"], "flag": flagged["flag"],
        })
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    key = np.where(board["mode"] == "max", -1.0, 1.0) * board["mean"].astype(float)
    # A level whose search failed (report/flags.py) is shown below the ranked ones, without a rank.
    order = board.assign(_w=board["group"].map({g: i for i, g in enumerate(groups(df))}), _k=key,
                         _f=board["flag"] != "")
    order = order.sort_values(["_w", "_f", "_k"], kind="stable", na_position="last")
    order["rank"] = (order.groupby("group").cumcount() + 1).astype("Int64").where(~order["_f"])
    return order.drop(columns=["_w", "_k", "_f"]).reset_index(drop=True)


def level_samples(final: pd.DataFrame, level: str) -> pd.DataFrame:
    """seed -> score of one level's final-phase trials (NaN for diverged or failed seeds)."""
    part = final[final["level"] == level]
    return part.set_index("seed")["score"] if "seed" in part else part["score"].reset_index(drop=True)


PAIR_COLUMNS = ["group", "a", "b", "metric", "n_a", "n_b", "test", "gain", "ci_low", "ci_high", "ci_level", "p",
                "p_holm", "hedges_g", "margin", "outcome", "half_width", "verdict"]


def pairwise(df: pd.DataFrame) -> pd.DataFrame:
    """All pairs of levels within each group, better mean first: a paired t-test when both levels ran the
    same seeds, else Welch's; Hedges' g; Holm correction over the pairs of that group, with the
    Holm-compatible interval the outcome is read from (stats.decision, margin stats.practical_margin of B's
    mean); the verdict in the words of stats.verdict, the same rule the FAQ uses."""
    rows = []
    for group in groups(df):
        final = final_scores(df[df["group"] == group])
        if final.empty:
            continue
        metric, mode = metric_of(final)
        means = final.groupby("level", sort=False)["score"].mean()
        ranked = list(means.sort_values(ascending=not higher_is_better(mode), na_position="last").index)
        comps = [compare_levels(final, a, b, mode) for a, b in combinations(ranked, 2)]
        for c in st.with_holm(comps):
            margin = st.practical_margin(metric, c.mean_b)
            rows.append({"group": group, "a": c.a, "b": c.b, "metric": metric, "n_a": c.n_a, "n_b": c.n_b,
                         "test": c.test, "gain": c.gain, "ci_low": c.ci[0], "ci_high": c.ci[1], "ci_level": c.level,
                         "p": c.p, "p_holm": c.p_holm, "hedges_g": c.g, "margin": margin,
                         "outcome": st.decision(c, margin).value, "half_width": c.half_width,
                         "verdict": st.verdict(c, metric, higher_is_better(mode), margin)})
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def compare_levels(final: pd.DataFrame, a: str, b: str, mode: str) -> st.Comparison:
    sa, sb = level_samples(final, a), level_samples(final, b)
    paired = "seed" in final and len(sa) >= 2 and set(sa.index) == set(sb.index) and sa.index.is_unique
    if paired:
        sb = sb.reindex(sa.index)
    low, high = st.metric_bounds(metric_of(final)[0])
    return st.compare(sa.to_numpy(float), sb.to_numpy(float), a, b, higher_is_better(mode), paired=paired,
                      span=high - low)


def failures(df: pd.DataFrame) -> pd.DataFrame:
    """Diverged and failed trials with the settings that tell them apart and their error message; the group
    column only where some group is not simply its workload (a sweep's groups are)."""
    bad = df[df["status"].isin(FAILED)]
    shown = ["group"] if groups_span_workloads(df) else []
    cols = ["trial_id", *shown, "workload", "level", "phase", "status", "seed", "lr", "epochs_run", "error"]
    out = bad[[c for c in cols if c in bad]].copy()
    if "error" in out:
        out["error"] = [failure_reason(row) for _, row in bad.iterrows()]
    if "lr" in out:
        out["lr"] = out["lr"].map(lambda v: f"{v:.3g}")
    out["settings"] = [describe_params(row, tuned_params(df[(df["group"] == row["group"]) &
                                                             (df["level"] == row["level"])]))
                       for _, row in bad.iterrows()]
    return out.reset_index(drop=True)


def failure_reason(row: pd.Series) -> str:
    """The trial's error message; for a divergence (which carries none) where it happened."""
    error = row.get("error")
    if isinstance(error, str) and error:
        return error
    if row.get("status") != TrialStatus.DIVERGED:
        return "no message recorded"
    epochs = row.get("epochs_run")
    where = f" in epoch {int(epochs) + 1}" if pd.notna(epochs) else ""
    steps = row.get("steps")
    where += f" (after {int(steps)} steps)" if pd.notna(steps) else ""
    return f"training loss became NaN/inf or grew over 1000x its first value{where}"


def param_importance(df: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per group, fANOVA importance (Hutter et al. 2014, Optuna's FanovaImportanceEvaluator) of the
    hyperparameters every level tuned, plus the compared level itself, for the tuning objective.
    Groups with fewer than IMPORTANCE_MIN_TRIALS finished tuning trials are skipped."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for group in groups(df):
        study = _importance_study(df[(df["group"] == group) & (df["phase"] == TUNE)])
        if study is None:
            continue
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        for param, value in optuna.importance.get_param_importances(study, evaluator=evaluator).items():
            rows.append({"group": group, "param": param, "importance": float(value)})
    return pd.DataFrame(rows, columns=["group", "param", "importance"])


def _importance_study(tune: pd.DataFrame):
    """An Optuna study holding the finished tuning trials, or None when there is too little to learn from."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    values = tuning_values(tune)
    tune = tune[values.notna() & (tune["status"] == TrialStatus.OK)]
    if len(tune) < IMPORTANCE_MIN_TRIALS:
        return None
    if len(tune) > IMPORTANCE_MAX_TRIALS:
        tune = tune.sample(IMPORTANCE_MAX_TRIALS, random_state=0).sort_index()
    shared = set.intersection(*(set(tuned_params(p)) for _, p in tune.groupby("level")))
    dists = {}
    for p in sorted(shared):
        lo, hi = float(tune[p].min()), float(tune[p].max())
        if lo < hi:
            dists[p] = FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)
    levels = level_encoding(tune)
    if len(levels) > 1:
        dists["level"] = CategoricalDistribution(sorted(levels)) if len(levels) <= IMPORTANCE_MAX_CATEGORIES \
            else FloatDistribution(0, len(levels) - 1)
    if not dists:
        return None
    study = optuna.create_study(direction="maximize" if higher_is_better(metric_of(tune)[1]) else "minimize")
    numeric = len(levels) > IMPORTANCE_MAX_CATEGORIES
    for (_, row), value in zip(tune.iterrows(), tuning_values(tune), strict=True):
        params = {p: (float(levels[row[p]]) if numeric else row[p]) if p == "level" else float(row[p]) for p in dists}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(value)))
    return study


def level_encoding(tune: pd.DataFrame) -> dict:
    """Each level -> its rank by mean tuning objective (0 = the lowest): the level as a number for fANOVA."""
    means = tuning_values(tune).groupby(tune["level"]).mean().sort_values(kind="stable")
    return {level: rank for rank, level in enumerate(means.index)}
