"""What the claims are judged on: the FAQ experiments' tables, the gradient studies' claims, and the helpers
that turn them into comparisons and verdicts with the fixed decision rules of bench.report.stats.

Every comparison passes three sanity gates, read from the result tables, before a decision is made; a failed
gate is the verdict, printed beside the numbers:
- target: the reference arm (B) reaches its workload's target (bench.workloads: `goal`), else "untestable at this
  budget" (a comparison against an undertrained reference says nothing about trained models);
- acted: the intervention that tells A from B took effect (early stopping stopped before the last epoch in most
  seeds, norm clipping changed some gradients, a regularizer or schedule is on in the table), else "not exercised";
- chance: no compared arm sits at its workload's chance score, else "untestable" (two arms at chance tie for
  a reason that has nothing to do with the claim).
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report import stats as st
from bench.report import tables as tb
from bench.results import read_run
from bench.scores import at_chance, best_mean
from bench.search.protocol import Budget
from bench.status import ClaimOutcome


@dataclass
class Judgement:
    verdict: str  # supported | refuted | inconclusive | untestable | not exercised (stats.VERDICT_WORDS)
    numbers: list[str]  # the measurements behind the verdict, one sentence each
    table: pd.DataFrame | None = None
    rows: list[dict] = field(default_factory=list)  # one per comparison: the columns of verdicts.csv
    sources: list[str] = field(default_factory=list)  # folders of the tables it read (Evidence.judged)


@dataclass(frozen=True)
class Gate:
    """One sanity gate of one comparison: passed True/False, or None when it does not apply."""
    name: str  # "target" | "acted" | "chance"
    passed: bool | None
    detail: str
    fails_as: str  # the verdict when it fails

    def words(self) -> str:
        state = "n/a" if self.passed is None else "pass" if self.passed else "FAIL"
        return f"{self.name} {state} ({self.detail})"


GATES = ("target", "acted", "chance")
OVERFIT_MIN = 0.04  # a reference with a train-validation gap below 4 points has no overfitting to reduce


@dataclass
class Evidence:
    """Prepared tables per experiment (levels compared within `group`; `workload` the one a trial trained on),
    the gradient studies' claim tables, and the data baselines (e.g. the all-negative F1)."""
    budget: Budget
    tables: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    studies: dict[str, pd.DataFrame] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)  # experiment or study -> the folder its tables came from
    read: set[str] = field(default_factory=set)  # experiments and studies read since the last `judged`

    def add_run(self, name: str, folder) -> None:
        run = read_run(folder)
        trials = with_test_sizes(tb.prepare(run["trials"]))
        self.tables[name] = {"trials": trials, "epochs": run["epochs"], "gradients": run["gradients"]}
        self.folders[name] = Path(folder)

    def add_study(self, name: str, claims: pd.DataFrame | None, folder) -> None:
        self.studies[name] = claims
        self.folders[name] = Path(folder)

    def trials(self, name: str) -> pd.DataFrame:
        self.read.add(name)
        return self.tables[name]["trials"]

    def epochs(self, name: str) -> pd.DataFrame:
        self.read.add(name)
        return self.tables[name]["epochs"]

    def study(self, name: str) -> pd.DataFrame | None:
        self.read.add(name)
        return self.studies.get(name)

    def judged(self, judge: Callable[[Evidence], Judgement]) -> Judgement:
        """judge(self), with the folders of the tables it read as the judgement's sources (linked from the page)."""
        self.read = set()
        j = judge(self)
        j.sources = [str(self.folders[n]) for n in sorted(self.read) if n in self.folders]
        return j


def final(df: pd.DataFrame, group: str) -> pd.DataFrame:
    return tb.final_scores(df[df["group"] == group])


def arm(df: pd.DataFrame, group: str, level: str) -> pd.DataFrame:
    part = final(df, group)
    return part[part["level"] == level]


def mean_score(df: pd.DataFrame, group: str, level: str) -> float:
    return float(arm(df, group, level)["score"].mean())


def with_test_sizes(df: pd.DataFrame) -> pd.DataFrame:
    """Adds n_test: how many test samples the score is a rate over (all of them for accuracy; the positives for
    precision, recall and F1), for the binomial part of the practical margin."""
    from bench.search.experiment import test_split

    names = df["workload"]
    lens = df["seq_len"] if "seq_len" in df else pd.Series(0, index=df.index)
    sizes = {}
    for (name, seq_len), _ in df.groupby([names, lens]):
        try:
            test = test_split(str(name), int(seq_len))
        except Exception:  # noqa: BLE001 - a workload that cannot load here keeps the fixed margin
            continue
        sizes[(name, seq_len)] = (len(test), int((test.y > 0.5).sum()) if test.y.dim() == 1 else len(test))
    keys = zip(names, lens, df["target_metric"], strict=True)
    df["n_test"] = [sizes.get((d, s), (0, 0))[1 if m.split("_")[-1] in ("f1", "precision", "recall") else 0]
                    or math.nan for d, s, m in keys]
    return df


def best_level(df: pd.DataFrame, group: str, exclude: str | None = None, among: list[str] | None = None) -> str | None:
    """The level (optionally other than `exclude`, or one of `among`) with the best mean validation objective of
    its final seeds in a group: comparators are chosen on validation data, never on the test scores they are
    judged by. None when no level has a validation score."""
    part = final(df, group)
    part = part[(part["level"] != exclude) & (part["level"].isin(among) if among is not None else True)]
    if part.empty:
        return None
    mode = str(part["tune_mode"].iloc[0]) if "tune_mode" in part else tb.metric_of(part)[1]
    values = pd.to_numeric(part["objective"], errors="coerce").groupby(part["level"])
    chosen = best_mean(((level, v.dropna().tolist()) for level, v in values),
                       "max" if tb.higher_is_better(mode) else "min")
    return str(chosen[0]) if chosen else None


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


GATE_VERDICTS = (st.UNTESTABLE, st.NOT_EXERCISED)


def combine_all(verdicts: list[str]) -> str:
    """A claim about every case: supported if all cases support it, refuted if any refutes it; else untestable
    or not exercised if a case's gates failed; else inconclusive."""
    if verdicts and all(v == st.SUPPORTED for v in verdicts):
        return st.SUPPORTED
    if st.REFUTED in verdicts:
        return st.REFUTED
    return next((g for g in GATE_VERDICTS if g in verdicts), st.INCONCLUSIVE)


def combine_any(verdicts: list[str]) -> str:
    """A claim that some case works: supported if any case supports it, refuted if all refute it; else
    untestable or not exercised if a case's gates failed; else inconclusive."""
    if st.SUPPORTED in verdicts:
        return st.SUPPORTED
    if verdicts and all(v == st.REFUTED for v in verdicts):
        return st.REFUTED
    return next((g for g in GATE_VERDICTS if g in verdicts), st.INCONCLUSIVE)


def margin_words(metric: str, margin: float) -> str:
    return f"{margin * 100:.3g} points" if metric.split("_")[-1] in st.RATE_METRICS else f"{margin:.3g}"


# -- sanity gates ---------------------------------------------------------------------------------------------
def spec_of(part: pd.DataFrame):
    """The workload spec of an arm's trials (None when the table names no known workload)."""
    from bench.search.experiment import workload_spec

    name = part["workload"].iloc[0] if "workload" in part and len(part) else None
    return workload_spec(str(name)) if name is not None else None


def reached(value: float, goal: float, mode: str) -> bool:
    return value >= goal if tb.higher_is_better(mode) else value <= goal


def target_gate(df: pd.DataFrame, group: str, level: str) -> Gate:
    """The reference arm's mean score reaches its workload's target."""
    part = arm(df, group, level)
    spec = spec_of(part)
    metric, mode = tb.metric_of(part) if len(part) else ("", "max")
    if spec is None or spec.target != metric or not math.isfinite(spec.goal):
        return Gate("target", None, f"no target known for {level}", st.UNTESTABLE)
    mean = float(part["score"].mean())
    ok = reached(mean, spec.goal, mode)
    return Gate("target", ok, f"reference {level} {st.fmt(mean)} {'reaches' if ok else 'misses'} the {spec.name} "
                f"target {spec.goal:g}", st.UNTESTABLE)


def chance_gate(df: pd.DataFrame, group: str, levels: list[str]) -> Gate:
    """No compared arm's mean score sits at (or below) its workload's chance score."""
    stuck, known = [], False
    for level in levels:
        part = arm(df, group, level)
        spec = spec_of(part)
        if spec is None or not len(part) or spec.target != tb.metric_of(part)[0] or not math.isfinite(spec.chance):
            continue
        known = True
        mean = float(part["score"].mean())
        if math.isnan(mean) or at_chance(mean, spec.chance, spec.target, spec.mode):
            stuck.append(f"{level} {st.fmt(mean)}")
    if not known:
        return Gate("chance", None, "no chance score known", st.UNTESTABLE)
    detail = f"at chance: {', '.join(stuck)}" if stuck else "every arm above chance"
    return Gate("chance", not stuck, detail, st.UNTESTABLE)


def _value(part: pd.DataFrame, key: str):
    return part[key].iloc[0] if key in part and len(part) else None


def _acted(key: str, on: pd.DataFrame, off: pd.DataFrame) -> tuple[bool | None, str]:
    """Did the intervention `key`, on in `on` and off (or weaker) in `off`, take effect in the `on` arm's trials?"""
    value = _value(on, key)
    if key == "early_stop":
        fired = int((pd.to_numeric(on["epochs_run"]) < pd.to_numeric(on["epochs"])).sum()) if "epochs_run" in on else 0
        return 2 * fired >= len(on) and fired > 0, f"early stopping fired in {fired}/{len(on)} seeds"
    if key == "clip_norm":
        if "clip_fraction" not in on:
            return None, "clip fraction not recorded"
        share = float(pd.to_numeric(on["clip_fraction"]).mean())
        return share > 0, f"clipping changed {share:.0%} of the gradients"
    if key == "n_train":
        more = float(value or 0) == 0 or float(value) > float(_value(off, key) or math.inf)
        return more, f"n_train {value} vs {_value(off, key)}"
    return True, f"{key}={value} in the table"


INTERVENTIONS = ("early_stop", "clip_norm", "dropout", "weight_decay", "batch_norm", "schedule", "n_train")
OFF = {"schedule": "constant"}


def is_off(key: str, value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return value == OFF[key] if key in OFF else key != "n_train" and not value


def acted_gate(df: pd.DataFrame, group: str, a: str, b: str) -> Gate:
    """Every intervention that differs between arms a and b took effect in the arm that has it on."""
    pa, pb = arm(df, group, a), arm(df, group, b)
    checks = []
    for key in INTERVENTIONS:
        va, vb = _value(pa, key), _value(pb, key)
        if va is None or vb is None or va == vb:
            continue
        on, off = (pb, pa) if is_off(key, va) or (key == "n_train" and float(vb or 0) > float(va or 0)) else (pa, pb)
        checks.append(_acted(key, on, off))
    known = [ok for ok, _ in checks if ok is not None]
    if not known:
        return Gate("acted", None, "; ".join(w for _, w in checks) or "no intervention to check", st.NOT_EXERCISED)
    return Gate("acted", all(known), "; ".join(w for _, w in checks), st.NOT_EXERCISED)


def overfit_gate(gap: pd.Series, level: str) -> Gate:
    """For claims that something reduces overfitting: the reference arm overfits in the first place."""
    mean = float(gap.mean()) if len(gap) else math.nan
    ok = math.isfinite(mean) and mean >= OVERFIT_MIN
    return Gate("target", ok, f"reference {level} train-validation gap {st.fmt(mean)} "
                f"{'>=' if ok else '<'} {OVERFIT_MIN:g}", st.UNTESTABLE)


def gates(df: pd.DataFrame, group: str, a: str, b: str, reference: Gate | None = None) -> list[Gate]:
    """The three gates of comparing a against reference b (in GATES order)."""
    return [reference or target_gate(df, group, b), acted_gate(df, group, a, b), chance_gate(df, group, [a, b])]


def gated(decision: str, checks: list[Gate]) -> str:
    """The decision, unless a gate failed: then the first failed gate's verdict."""
    return next((g.fails_as for g in checks if g.passed is False), decision)


def gate_words(checks: list[Gate]) -> str:
    return "gates: " + "; ".join(g.words() for g in checks)


def fingerprint(df: pd.DataFrame, group: str, a: str, b: str, metric: str) -> str:
    """Identifies a comparison by what was trained (the two arms' trial configurations, seeds included) and the
    metric, in either order: identical configurations in two experiments are the same trials (the runner's cache)."""
    from dataclasses import fields

    from bench.config import TrialConfig
    from bench.search.trial import UNTRACKED

    keys = [f.name for f in fields(TrialConfig) if f.name not in UNTRACKED]
    arms = []
    for level in (a, b):
        part = arm(df, group, level)
        arms.append(repr(sorted(part.reindex(columns=keys).astype(str).itertuples(index=False, name=None))))
    return hashlib.sha1(f"{metric}|{min(arms)}|{max(arms)}".encode()).hexdigest()[:12]


def seeds_for(c: st.Comparison, margin: float) -> int | str:
    """verdicts.csv's seeds_for_margin: the seeds per arm that would bring the half-width below the margin, '>100'
    beyond the power analysis' cap, '' when the spread per seed is unknown."""
    return st.seeds_needed(c, margin) or (">100" if math.isfinite(st.seed_variance(c)) else "")


def comparison_row(group: str, c: st.Comparison, metric: str, margin: float, verdict: str, checks: list[Gate],
                   reference: float = math.nan, goal: float = math.nan, kind: str = "", key: str = "") -> dict:
    """One line of verdicts.csv (the claim id and claim-level verdict are added by the caller); `key` identifies
    the comparison (fingerprint) so that claims sharing it can say so."""
    row = {"comparison": f"{group}: {c.a} vs {c.b}", "metric": metric, "rule": kind,
           "comparison_verdict": verdict, "outcome": st.decision(c, margin).value, "margin": margin,
           "estimate": c.gain, "ci_low": c.ci[0], "ci_high": c.ci[1], "ci_level": c.level, "half_width": c.half_width,
           "seeds_for_margin": seeds_for(c, margin), "test": c.test, "p": c.p, "p_holm": c.p_holm,
           "seeds_a": c.n_a, "seeds_b": c.n_b, "reference_score": reference, "target": goal,
           "key": key}
    row.update({f"gate_{g.name}": "not applicable" if g.passed is None else "pass" if g.passed else "fail"
                for g in checks})
    return row


def spec_goal(df: pd.DataFrame, group: str, level: str) -> float:
    """The goal of the workload an arm's trials ran on (NaN when unknown)."""
    spec = spec_of(arm(df, group, level))
    return spec.goal if spec is not None else math.nan


def both_arms(first: Gate, second: Gate) -> Gate:
    """One gate from the same gate checked on two tables (e.g. two experiments' arms)."""
    known = [g.passed for g in (first, second) if g.passed is not None]
    return Gate(first.name, all(known) if known else None, f"{first.detail}; {second.detail}", first.fails_as)


def margin_for(df: pd.DataFrame, group: str, a: str, b: str, metric: str) -> float:
    """The practical margin for comparing arms a and b: stats.pair_margin (at the midpoint of their mean scores,
    whichever is the reference) with the number of test samples the score is a rate over."""
    return st.pair_margin(metric, mean_score(df, group, a), mean_score(df, group, b), test_size(df, group, b))


def test_size(df: pd.DataFrame, group: str, level: str) -> int | None:
    """How many test samples an arm's score is a rate over (None when unknown)."""
    part = arm(df, group, level)
    n = part["n_test"].iloc[0] if "n_test" in part and len(part) else math.nan
    return int(n) if math.isfinite(n) else None


def judge_better(df: pd.DataFrame, pairs: list[tuple[str, str, str]], combine=combine_all,
                 references: dict[str, Gate] | None = None) -> Judgement:
    """Claims "a beats b" on (group, a, b) pairs: sanity gates (`references`: group -> the reference gate measured
    for that setting, instead of the workload's target), then stats.decide_better with the practical margin, then
    combined. Holm over the pairs (with Holm-compatible intervals) only where any one of them may carry the claim
    (combine_any): a claim that needs every pair (combine_all, an intersection-union test) is at its level without it."""
    comps = [compare(df, g, a, b) for g, a, b in pairs]
    comps = st.with_holm(comps) if combine is combine_any and len(comps) > 1 else comps
    return joined([judge_one(df, group, a, b, c, reference=(references or {}).get(group))
                   for (group, a, b), c in zip(pairs, comps, strict=True)], combine)


def judge_not_worse(df: pd.DataFrame, cases: list[tuple[str, str, str]]) -> Judgement:
    """Claims "a is as good as b" (non-inferiority within the practical margin) on (group, a, b) cases, b being
    chosen on validation data (best_level); sanity gates first."""
    return joined([judge_one(df, group, a, b, compare(df, group, a, b), not_worse=True) if b is not None else
                   Judgement(st.UNTESTABLE, [f"{group}: untestable: no other level has a validation score to be "
                                             "chosen by"])
                   for group, a, b in cases], combine_all)


def joined(judged: list[Judgement], combine) -> Judgement:
    """One claim's judgement from those of its comparisons: combined verdict, every sentence and row."""
    return Judgement(combine([j.verdict for j in judged]), [n for j in judged for n in j.numbers],
                     rows=[r for j in judged for r in j.rows])


def judge_one(df: pd.DataFrame, group: str, a: str, b: str, c: st.Comparison, not_worse: bool = False,
              reference: Gate | None = None) -> Judgement:
    """One comparison c of a against b (its interval already at the level the decision uses): gates (`reference`:
    the reference gate, default the workload's target), the decision (a beats b, or with not_worse a is as good as
    b within the margin), its sentence and its verdicts.csv row."""
    metric, hib = metric_name(df, group)
    margin = margin_for(df, group, a, b, metric)
    checks = gates(df, group, a, b, reference)
    verdict = gated((st.decide_not_worse if not_worse else st.decide_better)(c, margin), checks)
    if not_worse:
        number = (f"{group}: {a} vs {b} (the best other level on validation): gain of {a} {st.fmt(c.gain)} {metric} "
                  f"({c.ci_label()} {st.fmt(c.ci[0])} to {st.fmt(c.ci[1])}; outcome {st.decision(c, margin).value}; "
                  f"{c.n_a} vs {c.n_b} seeds) -> {st.VERDICT_WORDS[verdict]} (non-inferiority margin ")
    else:
        number = f"{group}: {st.verdict(c, metric, hib, margin)} -> {st.VERDICT_WORDS[verdict]} (margin "
    number += f"{margin_words(metric, margin)}; {st.precision_words(c, margin)}); {gate_words(checks)}"
    row = comparison_row(group, c, metric, margin, verdict, checks, mean_score(df, group, b), spec_goal(df, group, b),
                         "non-inferiority" if not_worse else "superiority", fingerprint(df, group, a, b, metric))
    return Judgement(verdict, [number], rows=[row])


def interaction(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray,
                level: float = st.LEVEL) -> tuple[float, tuple[float, float], float]:
    """(mean a1 - mean b1) - (mean a2 - mean b2) of four independent samples: estimate, CI at `level` and
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
    half = sps.t.ppf(0.5 + level / 2, df) * se
    return est, (est - half, est + half), float(2 * sps.t.sf(abs(est / se), df))


def per_seed(df: pd.DataFrame, group: str, level: str, column: str = "score") -> pd.Series:
    return arm(df, group, level).set_index("seed")[column].astype(float)


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
    criterion, refuted if none did, untestable if a reproduction's gate failed (its reason is in its row),
    inconclusive if they disagree or none matches. Rows matching `context` (e.g. the mechanism behind the claim)
    are shown beside it without deciding it."""
    rows = study_rows(claims, pattern)
    if rows.empty:
        return Judgement(st.INCONCLUSIVE, [f"the {study} study reported no claim matching /{pattern}/"])
    outcome = rows["outcome"]
    verdict = (st.SUPPORTED if outcome.eq(ClaimOutcome.PASS).all() else st.REFUTED if outcome.eq(ClaimOutcome.FAIL).all()
               else st.UNTESTABLE if outcome.eq(ClaimOutcome.UNTESTABLE).any()  # a gate failed: the measurement cannot decide
               else st.INCONCLUSIVE)  # too few seeds meeting, or reproductions that disagree, decide nothing
    shown = pd.concat([rows, study_rows(claims, context)]) if context else rows
    numbers = [f"{r['claim']}: measured {r['measured']}; criterion {r['criterion']} -> {word}"
               + (f" ({r['seeds_met']} seeds met it)" if "seeds_met" in r else "")
               + ("" if i < len(rows) else " (context, not part of the verdict)")
               for i, ((_, r), word) in enumerate(zip(shown.iterrows(), shown["outcome"], strict=True))]
    cols = [c for c in ("claim", "source", "criterion", "measured", "seeds_met", "outcome") if c in shown]
    return Judgement(verdict, numbers, shown[cols].reset_index(drop=True))
