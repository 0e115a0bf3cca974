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
    x = np.random.default_rng(n).normal(0.7, 0.05, n)
    assert st.mean_ci(x) == (st.t_ci(x) if n < st.BOOTSTRAP_MIN_N else st.bootstrap_ci(x))
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


def test_verdict_says_inconclusive_on_null_data_and_never_no_difference_beside_an_interval_without_zero():
    rng = np.random.default_rng(3)
    comps = st.with_holm([st.compare(rng.normal(0.8, 0.02, 5), rng.normal(0.8, 0.02, 5), "a", "b")])
    text = st.verdict(comps[0], "test_acc", margin=0.02)
    assert text.startswith("inconclusive with 5 seeds") and "includes 0" in text and "Holm p" in text
    assert st.verdict(st.compare([0.8], [0.7, 0.75])).startswith("not testable")
    for _ in range(200):  # whatever the data: the words match the interval printed beside them
        a, b = rng.normal(0.8, 0.03, 3), rng.normal(0.8 + rng.normal(0, 0.03), 0.03, 3)
        c = st.with_holm([st.compare(a, b, "a", "b", paired=True), st.compare(b, a[::-1], "b", "a")])[0]
        words = st.verdict(c, "test_acc", margin=0.02)
        assert ("better than" in words) == (c.ci[0] > 0 or c.ci[1] < 0) or "equivalent" in words


def make(gain: float, ci: tuple[float, float], p: float = 0.01) -> st.Comparison:
    return st.Comparison("a", "b", 5, 5, 0.0, 0.0, gain, ci, p, "Welch t", 1.0)


E = 1e-6  # either side of a threshold


@pytest.mark.parametrize(("ci", "want"), [
    ((-0.02 + E, 0.02 - E), st.Decision.EQUIVALENT),  # inside the margin on both sides
    ((-0.02 - E, 0.02 - E), st.Decision.INCONCLUSIVE),  # the lower end just outside
    ((-0.02 + E, 0.02 + E), st.Decision.INCONCLUSIVE),  # the upper end just outside
    ((E, 0.02 + E), st.Decision.BETTER), ((-E, 0.02 + E), st.Decision.INCONCLUSIVE),
    ((-0.02 - E, -E), st.Decision.WORSE), ((-0.02 - E, E), st.Decision.INCONCLUSIVE),
    ((0.001, 0.01), st.Decision.EQUIVALENT),  # significant but negligible: shown equivalent, not "better"
    ((-0.5, 0.5), st.Decision.INCONCLUSIVE), ((math.nan, math.nan), st.Decision.INCONCLUSIVE),
])
def test_outcome_on_both_sides_of_every_threshold(ci, want):
    assert st.decision(make(0.0, ci), 0.02) is want


@pytest.mark.parametrize(("comp", "want"), [
    (make(0.05, (0.03, 0.07)), st.SUPPORTED),
    (make(0.015, (0.005, 0.025)), st.SUPPORTED),  # better (superiority), though not by the whole margin
    (make(0.01, (0.005, 0.015)), st.REFUTED),  # shown equivalent: the benefit is too small to matter
    (make(-0.04, (-0.06, -0.02)), st.REFUTED),  # worse
    (make(0.03, (-0.01, 0.07), 0.2), st.INCONCLUSIVE),
    (make(0.0, (-0.3, 0.3), 1.0), st.INCONCLUSIVE),  # a wide interval never refutes
])
def test_decide_better(comp, want):
    assert st.decide_better(comp, margin=0.02) == want


@pytest.mark.parametrize(("ci", "want"), [((-0.01, 0.03), st.SUPPORTED), ((-0.02 + E, 0.5), st.SUPPORTED),
                                          ((-0.02 - E, 0.5), st.INCONCLUSIVE), ((-0.06, -0.02 - E), st.REFUTED),
                                          ((-0.06, -0.02 + E), st.INCONCLUSIVE), ((-0.05, 0.01), st.INCONCLUSIVE)])
def test_decide_not_worse(ci, want):
    assert st.decide_not_worse(make(0.0, ci, 0.5), margin=0.02) == want


def test_holm_compatible_interval_matches_scipy_and_excludes_zero_exactly_when_holm_rejects():
    rng = np.random.default_rng(7)
    for _ in range(100):
        pairs = [(rng.normal(0.8 + rng.normal(0, 0.02), 0.02, 4), rng.normal(0.8, 0.02, 4)) for _ in range(3)]
        comps = st.with_holm([st.compare(a, b, paired=True) for a, b in pairs])
        for (a, b), c in zip(pairs, comps, strict=True):
            want = sps.ttest_rel(a, b).confidence_interval(c.level)
            assert c.ci == pytest.approx((want.low, want.high))
            assert c.level == pytest.approx(1 - 0.05 * c.p / c.p_holm) and c.family == 3
            assert (c.ci[0] > 0 or c.ci[1] < 0) == (c.p_holm < 0.05)
    assert st.holm_level(0.01, 0.03) == pytest.approx(1 - 0.05 / 3)


def test_welch_interval_after_holm_matches_scipy_at_the_adjusted_level():
    a, b = [0.81, 0.85, 0.79, 0.83], [0.76, 0.78, 0.80, 0.74, 0.77]
    c = st.with_holm([st.compare(a, b), st.compare(b, a, higher_is_better=False)])[0]
    want = sps.ttest_ind(a, b, equal_var=False).confidence_interval(c.level)
    assert c.level > 0.95 and c.ci == pytest.approx((want.low, want.high))
    loss = st.with_holm([st.compare(a, b, higher_is_better=False)])[0]  # signed like the gain
    plain = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert loss.level == 0.95 and loss.ci == pytest.approx((-plain.high, -plain.low)) and loss.ci[1] < 0


def test_practical_margin_grows_with_the_test_sets_binomial_noise():
    assert st.practical_margin("test_acc", 0.9) == 0.02
    assert st.practical_margin("test_acc", 0.9, 1000) == 0.02  # 2 SE = 0.019 < 2 points
    assert st.practical_margin("test_acc", 0.5, 1000) == pytest.approx(2 * math.sqrt(0.25 / 1000))  # 0.0316
    assert st.practical_margin("test_f1", 0.9, 100) == pytest.approx(0.06)  # ~100 positives
    assert st.practical_margin("test_loss", 0.5, 1000) == pytest.approx(0.05)


def test_seeds_needed_is_the_smallest_n_whose_t_interval_fits_the_margin():
    a, b = np.array([0.80, 0.84, 0.78]), np.array([0.79, 0.80, 0.80])
    c = st.compare(a, b, paired=True)
    n = st.seeds_needed(c, 0.02)
    sd = np.std(a - b, ddof=1)
    half = lambda k: sps.t.ppf(0.975, k - 1) * sd / math.sqrt(k)
    assert half(n) < 0.02 <= half(n - 1)
    assert c.half_width == pytest.approx(half(3))
    assert "half-width" in st.precision_words(c, 0.02) and f"about {n} seeds" in st.precision_words(c, 0.02)
    assert st.seeds_needed(c, 1e-6) is None  # beyond the cap


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


def test_a_gain_interval_never_reaches_past_the_metrics_range():
    """Three seeds of 0.98/0.99/0.97 against 0.0/0.9/0.1 accuracy: the t-interval of the gain reaches past 1, which
    no accuracy gain can; the interval printed (and its Holm-compatible version) is clipped to [-1, 1], and the
    decision is the same."""
    import pandas as pd

    from bench.report import tables as tb

    final = pd.DataFrame({"level": ["a"] * 3 + ["b"] * 3, "seed": [1, 2, 3] * 2,
                          "score": [0.98, 0.99, 0.97, 0.0, 0.9, 0.1], "target_metric": "test_acc",
                          "target_mode": "max", "status": "ok", "phase": "final"})
    c = tb.compare_levels(final, "a", "b", "max")
    raw = st.compare([0.98, 0.99, 0.97], [0.0, 0.9, 0.1], paired=True)
    assert raw.ci[1] > 1 and c.ci == (raw.ci[0], 1.0)
    (h,) = st.with_holm([c])
    assert h.ci[1] <= 1.0
    assert st.compare([0.5, 0.6], [0.4, 0.45], paired=True).span == math.inf  # losses and unknown metrics: unclipped
