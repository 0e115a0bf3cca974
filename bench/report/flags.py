"""Failed searches: the (group, level) searches of a sweep whose scores must be shown but not ranked.

A search is flagged when every one of its tuning trials failed, when none of its final seeds finished, when its
score sits at chance or some of its final seeds do while others learned (the chosen config is unstable), or when
its best learning rate sits at the edge of the searched range (the optimum may lie outside it, so the level's
score says more about the range than about the level). Pure functions of the trials table; the chance and range
checks need the sweep's tags `chance`, `lr_min` and `lr_max` and are skipped for tables without them.
"""
from __future__ import annotations

import math

import pandas as pd

from bench.scores import CHANCE_POINTS, CHANCE_SHARE, at_chance
from bench.status import Phase, TrialStatus

FAILED = TrialStatus.failures()
EDGE_FRACTION = 0.1  # best lr within this share of the range's width (on its log scale) from a bound: at the edge
FLAG_RULE = (f"flagged: every tuning trial failed; no final seed finished; mean score within {CHANCE_POINTS:g} of "
               f"chance (other metrics than rates: within {CHANCE_SHARE:.0%} of the chance value), or some final seeds "
               f"at chance while others learned (unstable); or the chosen lr within "
               f"{EDGE_FRACTION:.0%} of the searched log-range from one of its bounds")


def _failures(part: pd.DataFrame) -> tuple[int, int]:
    """(trials that failed, of which diverged)."""
    status = part["status"]
    return int(status.isin(FAILED).sum()), int((status == TrialStatus.DIVERGED).sum())


def _finite(row: pd.Series, key: str) -> float:
    value = row.get(key, math.nan)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def at_edge(lr: float, low: float, high: float) -> str:
    """'low' or 'high' when lr sits within EDGE_FRACTION of the log range from that bound, else ''."""
    if not all(math.isfinite(v) and v > 0 for v in (lr, low, high)) or high <= low:
        return ""
    where = (math.log(lr) - math.log(low)) / (math.log(high) - math.log(low))
    return "low" if where <= EDGE_FRACTION else "high" if where >= 1 - EDGE_FRACTION else ""


def group_flags(part: pd.DataFrame) -> dict[str, object]:
    """Failure counts and the flag text of one (group, level) slice of a sweep's trials table. Confirm trials
    (the top tuning configs on a second seed) count with the tuning trials: they serve the choice, not the score."""
    tune = part[part["phase"].isin(Phase.tuning())]
    final = part[part["phase"] == Phase.FINAL]
    tune_failed, tune_diverged = _failures(tune)
    final_failed, final_diverged = _failures(final)
    reasons = []
    if len(tune) and tune_failed == len(tune):
        reasons.append(f"every tuning trial failed ({tune_diverged} of {len(tune)} diverged)")
    ok = final[final["status"] == TrialStatus.OK]
    if (len(tune) or len(final)) and ok.empty:
        reasons.append("no final seed finished" + (f" ({final_failed} of {len(final)} failed)" if len(final) else ""))
    row = part.iloc[0]
    mode, metric = str(row.get("target_mode", "max")), str(row.get("target_metric", ""))
    mean = float(ok["score"].mean()) if len(ok) and "score" in ok else math.nan
    chance = _finite(row, "chance")
    if at_chance(mean, chance, metric, mode):
        reasons.append(f"at chance ({mean:.4f}; chance {chance:.4f})")
    elif len(ok) > 1 and "seed" in ok:
        stuck = [f"seed {int(r.seed)}: {r.score:.4f}" for r in ok.itertuples() if at_chance(r.score, chance, metric, mode)]
        if stuck:  # the chosen config trains on some seeds and not on others: it sits at the edge of stability
            reasons.append(f"unstable: {', '.join(stuck)} at chance while the others learned")
    chosen = final.iloc[0] if len(final) else None
    tuned = str(row.get("tuned", "") or "").split(",")
    if chosen is not None and "lr" in tuned:
        side = at_edge(_finite(chosen, "lr"), _finite(row, "lr_min"), _finite(row, "lr_max"))
        if side:
            bound = _finite(row, f"lr_{'min' if side == 'low' else 'max'}")
            reasons.append(f"best lr {_finite(chosen, 'lr'):.3g} at the {side} edge of its range ({bound:g})")
    return {"failed_tune": tune_failed, "diverged_tune": tune_diverged, "failed_final": final_failed,
            "diverged_final": final_diverged, "flag": "; ".join(reasons)}


def search_flags(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (group, level): failure counts of each phase and the flag text ('' when the search held)."""
    rows = [{"group": g, "level": lv, **group_flags(part)}
            for (g, lv), part in trials.groupby(["group", "level"], sort=False)]
    return pd.DataFrame(rows, columns=["group", "level", "failed_tune", "diverged_tune", "failed_final",
                                       "diverged_final", "flag"])
