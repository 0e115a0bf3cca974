"""Statistics on hand-made samples with known answers: coverage, power, false-positive rate, Holm, verdicts."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats as sps

from bench.report import stats as st


def coverage(n: int, reps: int = 200, true_mean: float = 0.7, sd: float = 0.05) -> float:
    rng = np.random.default_rng(123)
    hits = 0
    for i in range(reps):
        lo, hi = st.mean_ci(rng.normal(true_mean, sd, n), seed=i)
        hits += lo <= true_mean <= hi
    return hits / reps


@pytest.mark.parametrize("n", [3, 5, 20])  # t-interval below BOOTSTRAP_MIN_N, bootstrap above
def test_mean_ci_covers_the_true_mean_about_95_percent_of_the_time(n):
    assert st.ci_method(n) == ("t" if n < st.BOOTSTRAP_MIN_N else "bootstrap")
    assert 0.90 <= coverage(n) <= 0.99


def test_with_five_seeds_bootstraps_undercover_which_is_why_mean_ci_uses_t():
    rng = np.random.default_rng(5)
    misses = {"plain": 0, "expanded": 0, "t": 0}
    for i in range(300):
        x = rng.normal(0.0, 1.0, 5)
        boots = x[np.random.default_rng(i).integers(0, 5, (4000, 5))].mean(1)
        intervals = {"plain": np.quantile(boots, [0.025, 0.975]), "expanded": st.bootstrap_ci(x, n_boot=4000, seed=i),
                     "t": st.mean_ci(x)}
        for name, (lo, hi) in intervals.items():
            misses[name] += not lo <= 0.0 <= hi
    assert misses["plain"] / 300 > 0.10
    assert misses["t"] / 300 < 0.08
    assert misses["plain"] > misses["expanded"] > misses["t"]


def test_bootstrap_ci_is_seeded_and_contains_the_sample_mean():
    x = np.array([0.91, 0.93, 0.90, 0.95, 0.92, 0.94, 0.89, 0.93, 0.92, 0.91, 0.96])
    assert st.bootstrap_ci(x, seed=3) == st.bootstrap_ci(x, seed=3)
    assert st.bootstrap_ci(x, seed=3) != st.bootstrap_ci(x, seed=4)
    lo, hi = st.bootstrap_ci(x, np.median)
    assert lo <= np.median(x) <= hi


def test_intervals_drop_non_finite_values_and_need_enough_of_them():
    assert all(math.isnan(v) for v in st.t_ci([0.5, math.nan, math.inf]))
    assert all(math.isnan(v) for v in st.bootstrap_ci([1.0, 2.0]))
    lo, hi = st.t_ci([1.0, 2.0, math.nan, 3.0])
    assert (lo, hi) == pytest.approx(sps.t.interval(0.95, 2, loc=2.0, scale=1.0 / math.sqrt(3)))


def test_welch_detects_a_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    assert st.welch_test(rng.normal(0.80, 0.01, 5), rng.normal(0.77, 0.01, 5)) < 0.01
    false_positives = sum(st.welch_test(rng.normal(0.8, 0.01, 5), rng.normal(0.8, 0.01, 5)) < 0.05 for _ in range(400))
    assert false_positives / 400 < 0.09


def test_paired_test_uses_the_pairing():
    # A large per-seed effect shared by both arms hides a small consistent gain from Welch, not from the paired test.
    rng = np.random.default_rng(1)
    seed_effect = rng.normal(0, 0.05, 6)
    a = 0.8 + seed_effect + 0.01 + rng.normal(0, 0.002, 6)
    b = 0.8 + seed_effect + rng.normal(0, 0.002, 6)
    assert st.paired_test(a, b) < 0.01
    assert st.welch_test(a, b) > 0.05
    assert st.paired_test(a, b) == pytest.approx(sps.ttest_rel(a, b).pvalue)


def test_constant_samples_give_a_certain_answer_instead_of_nan():
    assert st.welch_test([1.0, 1.0, 1.0], [0.5, 0.5, 0.5]) == 0.0
    assert st.welch_test([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert math.isnan(st.welch_test([1.0], [0.5, 0.6]))


def test_welch_ci_matches_scipy():
    a, b = [0.81, 0.85, 0.79, 0.83], [0.76, 0.78, 0.80, 0.74, 0.77]
    want = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert st.welch_ci(a, b) == pytest.approx((want.low, want.high))


def test_effect_sizes_on_known_samples():
    assert st.cohens_d([1, 2, 3], [3, 4, 5]) == pytest.approx(-2.0)
    assert st.hedges_g([1, 2, 3], [3, 4, 5]) == pytest.approx(-2.0 * (1 - 3 / 15))
    assert st.cohens_d([1, 1], [0, 0]) == math.inf


def test_holm_on_known_p_values():
    assert st.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = st.holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert st.holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])
    assert len(st.holm([])) == 0


def test_verdict_names_the_winner_for_max_and_min_metrics():
    rng = np.random.default_rng(2)
    hi, lo = rng.normal(0.9, 0.005, 5), rng.normal(0.8, 0.005, 5)
    text = st.verdict(st.compare(lo, hi, "sgd", "adam"), "test_acc")
    assert re.match(r"adam better than sgd by 0\.09\d* higher test_acc \(95% CI 0\.0\d+ to 0\.1\d*; Welch t, p < 0\.001", text)
    loss = st.compare(lo, hi, "sgd", "adam", higher_is_better=False)
    assert loss.gain > 0 and loss.ci[0] > 0
    assert st.verdict(loss, "test_loss", higher_is_better=False).startswith("sgd better than adam by 0.09")
    assert "lower test_loss" in st.verdict(loss, "test_loss", higher_is_better=False)


def test_verdict_says_no_detectable_difference_on_null_data():
    rng = np.random.default_rng(3)
    comps = st.with_holm([st.compare(rng.normal(0.8, 0.02, 5), rng.normal(0.8, 0.02, 5), "a", "b")])
    assert st.verdict(comps[0]).startswith("no detectable difference with 5 seeds")
    assert "Holm p" in st.verdict(comps[0])
    assert st.verdict(st.compare([0.8], [0.7, 0.75])).startswith("not testable")


def make(gain: float, ci: tuple[float, float], p: float) -> st.Comparison:
    return st.Comparison("a", "b", 5, 5, 0.0, 0.0, gain, ci, p, "Welch t", 1.0)


@pytest.mark.parametrize(("comp", "want"), [
    (make(0.05, (0.03, 0.07), 0.001), st.SUPPORTED),
    (make(0.01, (0.005, 0.015), 0.01), st.REFUTED),  # real but below the margin: the claimed benefit does not matter
    (make(-0.04, (-0.06, -0.02), 0.001), st.REFUTED),
    (make(0.03, (-0.01, 0.07), 0.2), st.INCONCLUSIVE),
])
def test_decide_better(comp, want):
    assert st.decide_better(comp, margin=0.02) == want


@pytest.mark.parametrize(("ci", "want"), [((-0.01, 0.03), st.SUPPORTED), ((-0.06, -0.03), st.REFUTED),
                                          ((-0.05, 0.01), st.INCONCLUSIVE)])
def test_decide_not_worse(ci, want):
    assert st.decide_not_worse(make(0.0, ci, 0.5), margin=0.02) == want


def test_practical_margin():
    assert st.practical_margin("test_acc", 0.9) == 0.02
    assert st.practical_margin("test_loss", 0.5) == pytest.approx(0.05)


@pytest.mark.parametrize("metric, bounds", [("test_acc", (0, 1)), ("val_f1", (0, 1)), ("test_loss", (0, math.inf)),
                                            ("test_mse", (0, math.inf)), ("score", (-math.inf, math.inf))])
def test_metric_bounds(metric, bounds):
    assert st.metric_bounds(metric) == bounds


def test_ci_of_accuracies_near_one_stays_within_0_and_1():
    raw = st.mean_ci([0.99, 1.0, 0.9])  # 3 seeds: a wide t-interval
    assert raw[1] > 1
    lo, hi = st.clip_ci(raw, st.metric_bounds("test_acc"))
    assert (lo, hi) == (raw[0], 1.0)
    assert all(math.isnan(v) for v in st.clip_ci((math.nan, math.nan), (0, 1)))
