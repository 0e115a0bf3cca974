"""What a score means, for the engine, the FAQ and the report alike (all import this, it imports none of them): the
validation metric a search steers by instead of the test metric it reports, which metrics are rates, when a score
sits at its workload's chance score, and the one selection rule (`best_mean`)."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeVar

from bench.config import ConfigError

K = TypeVar("K")


def tuning_metric(target: str) -> str:
    """Search on the validation counterpart of the test metric, so the test set never steers the choice."""
    split, _, metric = target.partition("_")
    if split != "test" or not metric:
        raise ConfigError(f"workload target {target!r} must be a test metric such as test_acc")
    return f"val_{metric}"


RATE_METRICS = ("acc", "f1", "precision", "recall")  # bounded in [0, 1], higher is better
# "At chance", for the sweep's flags and the FAQ's chance gate alike: a rate within 5 points of the workload's chance
# score, any other metric within 10% of it. On the workloads here (1,000-4,000 test examples, chance 0.1-0.5) one
# seed's accuracy has a binomial standard error of 0.5-1.6 points, so 5 points is 3-10 errors above chance: a run
# that close has learnt nothing usable, while a 2-point band (the flags' former one) let 0.13 on a 10-class task,
# which is no better than guessing in practice, count as learnt. The same band everywhere keeps a sweep's "at chance"
# flag and the FAQ's "untestable" gate from disagreeing about one run.
CHANCE_POINTS, CHANCE_SHARE = 0.05, 0.1


def is_rate(metric: str) -> bool:
    return metric.split("_")[-1] in RATE_METRICS


def at_chance(score: float, chance: float, metric: str, mode: str) -> bool:
    """Whether `score` on `metric` sits at (or beyond) the chance score, within the band above; False when either
    is unknown."""
    if not (math.isfinite(score) and math.isfinite(chance)):
        return False
    tol = CHANCE_POINTS if is_rate(metric) else CHANCE_SHARE * abs(chance)
    return score <= chance + tol if mode == "max" else score >= chance - tol


def best_mean(candidates: Iterable[tuple[K, Sequence[float]]], mode: str) -> tuple[K, float] | None:
    """bench's one selection rule: of (candidate, its validation values over seeds), the candidate of best mean
    ("max" or "min" mode) with that mean; ties go to the earlier candidate. A failed run counts as the worst value
    (-inf for max, +inf for min), so its candidate ranks worst but can still be the only one left; a candidate
    without any value (NaN mean) is skipped, and None is returned when none is left. The protocol's confirm step,
    the FAQ's choice of a comparator level and the studies' choice of a grid point all choose with it, always on
    validation data or on tuning seeds that are not judged."""
    chosen: tuple[K, float] | None = None
    for candidate, values in candidates:
        mean = sum(values) / len(values) if len(values) else math.nan  # inf and -inf together: NaN, skipped
        if math.isnan(mean):
            continue
        if chosen is None or (mean > chosen[1] if mode == "max" else mean < chosen[1]):
            chosen = (candidate, mean)
    return chosen
