"""What the claims are judged on: the FAQ experiments' tables, the gradient studies' claims, and the helpers
that turn them into comparisons and verdicts with the fixed decision rules of bench.report.stats."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.faq.runner import Budget
from bench.report import stats as st
from bench.report import tables as tb
from bench.results import read_run


@dataclass
class Judgement:
    verdict: str  # supported | refuted | inconclusive
    numbers: list[str]  # the measurements behind the verdict, one sentence each
    table: pd.DataFrame | None = None


@dataclass
class Evidence:
    """Prepared tables per experiment (the comparison group in the `workload` column, the real workload in
    `dataset`), the gradient studies' claim tables, and the data baselines (e.g. the all-negative F1)."""
    budget: Budget
    tables: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    studies: dict[str, pd.DataFrame] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)

    def add_run(self, name: str, folder) -> None:
        run = read_run(folder)
        trials = tb.prepare(run["trials"])  # the group becomes the `workload` compared within
        self.tables[name] = {"trials": trials, "epochs": run["epochs"], "gradients": run["gradients"]}

    def trials(self, name: str) -> pd.DataFrame:
        return self.tables[name]["trials"]

    def epochs(self, name: str) -> pd.DataFrame:
        return self.tables[name]["epochs"]


def final(df: pd.DataFrame, group: str) -> pd.DataFrame:
    return tb.final_scores(df[df["workload"] == group])


def mean_score(df: pd.DataFrame, group: str, level: str) -> float:
    scores = final(df, group)
    return float(scores.loc[scores["level"] == level, "score"].mean())


def best_level(df: pd.DataFrame, group: str, exclude: str | None = None) -> str | None:
    """The level with the best mean final score in a group (optionally other than `exclude`)."""
    part = final(df, group)
    part = part[part["level"] != exclude]
    means = part.groupby("level")["score"].mean().dropna()
    if means.empty:
        return None
    return str(means.idxmax() if tb.higher_is_better(tb.metric_of(part)[1]) else means.idxmin())


def compare(df: pd.DataFrame, group: str, a: str, b: str) -> st.Comparison:
    """Level a against level b on the group's final scores (paired by seed where possible)."""
    part = final(df, group)
    return tb.compare_levels(part, a, b, tb.metric_of(part)[1])


def compare_values(a: pd.Series, b: pd.Series, name_a: str, name_b: str, higher_is_better: bool) -> st.Comparison:
    """Two per-seed series (index = seed): paired when the seeds match."""
    paired = len(a) >= 2 and set(a.index) == set(b.index) and a.index.is_unique
    b = b.reindex(a.index) if paired else b
    return st.compare(a.to_numpy(float), b.to_numpy(float), name_a, name_b, higher_is_better, paired=paired)


def metric_name(df: pd.DataFrame, group: str) -> tuple[str, bool]:
    metric, mode = tb.metric_of(final(df, group))
    return metric, tb.higher_is_better(mode)


def combine_all(verdicts: list[str]) -> str:
    """A claim about every case: supported if all cases support it, refuted if any refutes it."""
    if verdicts and all(v == st.SUPPORTED for v in verdicts):
        return st.SUPPORTED
    return st.REFUTED if st.REFUTED in verdicts else st.INCONCLUSIVE


def combine_any(verdicts: list[str]) -> str:
    """A claim that some case works: supported if any case supports it, refuted if all refute it."""
    if st.SUPPORTED in verdicts:
        return st.SUPPORTED
    return st.REFUTED if verdicts and all(v == st.REFUTED for v in verdicts) else st.INCONCLUSIVE


def margin_words(metric: str, margin: float) -> str:
    return f"{margin * 100:.0f} points" if metric.split("_")[-1] in st.RATE_METRICS else f"{margin:.3g}"


def judge_better(df: pd.DataFrame, pairs: list[tuple[str, str, str]], combine=combine_all) -> Judgement:
    """Claims "a beats b" on (group, a, b) pairs: Holm over the pairs, stats.decide_better with the metric's
    practical margin, then combined."""
    comps = st.with_holm([compare(df, g, a, b) for g, a, b in pairs])
    verdicts, numbers = [], []
    for (group, _, b), c in zip(pairs, comps, strict=True):
        metric, hib = metric_name(df, group)
        margin = st.practical_margin(metric, mean_score(df, group, b))
        verdicts.append(st.decide_better(c, margin))
        numbers.append(f"{group}: {st.verdict(c, metric, hib)} -> {verdicts[-1]} (margin {margin_words(metric, margin)})")
    return Judgement(combine(verdicts), numbers)


def judge_not_worse(df: pd.DataFrame, cases: list[tuple[str, str, str]]) -> Judgement:
    """Claims "a is as good as b" (non-inferiority within the practical margin) on (group, a, b) cases."""
    verdicts, numbers = [], []
    for group, a, b in cases:
        if b is None:
            verdicts.append(st.INCONCLUSIVE)
            numbers.append(f"{group}: no other level finished")
            continue
        c = compare(df, group, a, b)
        metric, hib = metric_name(df, group)
        margin = st.practical_margin(metric, mean_score(df, group, b))
        verdicts.append(st.decide_not_worse(c, margin))
        numbers.append(f"{group}: {a} vs {b}: gain of {a} {st.fmt(c.gain)} {metric} (95% CI {st.fmt(c.ci[0])} to "
                       f"{st.fmt(c.ci[1])}; {c.n_a} vs {c.n_b} seeds) -> {verdicts[-1]} "
                       f"(non-inferiority margin {margin_words(metric, margin)})")
    return Judgement(combine_all(verdicts), numbers)


def interaction(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> tuple[float, tuple[float, float], float]:
    """(mean a1 - mean b1) - (mean a2 - mean b2) of four independent samples: estimate, 95% CI and
    two-sided p, with Welch-Satterthwaite degrees of freedom."""
    from scipy import stats as sps

    groups = [st.finite(x) for x in (a1, b1, a2, b2)]
    if min(len(g) for g in groups) < 2:
        return math.nan, st.NAN_CI, math.nan
    est = groups[0].mean() - groups[1].mean() - groups[2].mean() + groups[3].mean()
    parts = [g.var(ddof=1) / len(g) for g in groups]
    se = math.sqrt(sum(parts))
    if se == 0:
        return est, (est, est), 0.0 if est else 1.0
    df = se ** 4 / sum(p ** 2 / (len(g) - 1) for p, g in zip(parts, groups, strict=True))
    half = sps.t.ppf(0.975, df) * se
    return est, (est - half, est + half), float(2 * sps.t.sf(abs(est / se), df))


def per_seed(df: pd.DataFrame, group: str, level: str, column: str = "score") -> pd.Series:
    part = final(df, group)
    return part[part["level"] == level].set_index("seed")[column].astype(float)


def last_epoch_gap(df: pd.DataFrame, epochs: pd.DataFrame) -> pd.Series:
    """train accuracy - validation accuracy at each final-phase trial's last epoch, by trial id."""
    last = epochs[epochs["trial_id"].isin(tb.final_scores(df)["trial_id"]) & (epochs["metric"] == "acc")]
    last = last[last["epoch"] == last.groupby("trial_id")["epoch"].transform("max")]
    wide = last.pivot_table(index="trial_id", columns="split", values="value")
    if not {"train", "val"} <= set(wide.columns):
        return pd.Series(dtype=float)
    return wide["train"] - wide["val"]


def study_rows(claims: pd.DataFrame | None, pattern: str) -> pd.DataFrame:
    """Rows of a study's claims table whose stable key (else claim text) matches the pattern (case-insensitive)."""
    if claims is None or claims.empty:
        return pd.DataFrame()
    column = claims["key"] if "key" in claims else claims["claim"]
    return claims[column.astype(str).str.contains(pattern, flags=re.IGNORECASE, regex=True)]


def judge_study(claims: pd.DataFrame | None, pattern: str, study: str, context: str | None = None) -> Judgement:
    """A FAQ claim checked by a gradient study: supported if every matching reproduction passed its own
    criterion, refuted if none did, inconclusive if they disagree or none matches. Rows matching `context`
    (e.g. the mechanism behind the claim) are shown beside it without deciding it."""
    rows = study_rows(claims, pattern)
    if rows.empty:
        return Judgement(st.INCONCLUSIVE, [f"the {study} study reported no claim matching /{pattern}/"])
    outcome = rows["outcome"] if "outcome" in rows else rows["passed"].astype(str).str.lower().map(
        lambda v: "pass" if v in ("true", "1", "pass", "passed", "yes") else "fail")
    verdict = (st.SUPPORTED if outcome.eq("pass").all() else st.REFUTED if outcome.eq("fail").all()
               else st.INCONCLUSIVE)  # an inconclusive reproduction (too few seeds meeting, a gate) decides nothing
    shown = pd.concat([rows, study_rows(claims, context)]) if context else rows
    numbers = [f"{r['claim']}: measured {r['measured']}; criterion {r['criterion']} -> "
               f"{r['outcome'] if 'outcome' in r else 'pass' if str(r['passed']).lower() in ('true', '1') else 'fail'}"
               + (f" ({r['seeds_met']} seeds met it)" if "seeds_met" in r else "")
               + ("" if i < len(rows) else " (context, not part of the verdict)")
               for i, (_, r) in enumerate(shown.iterrows())]
    cols = [c for c in ("claim", "source", "criterion", "measured", "seeds_met", "outcome") if c in shown]
    return Judgement(verdict, numbers, shown[cols].reset_index(drop=True))
