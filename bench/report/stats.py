"""Statistics for comparing training runs over seeds: confidence intervals, tests, effect sizes, Holm, verdicts.

Pure functions on arrays (NaN and inf entries, e.g. diverged trials, are dropped before any statistic).
Confidence intervals of a mean use Student's t below BOOTSTRAP_MIN_N values and a seeded, expanded
percentile bootstrap (Hesterberg 2015) from there on: with 3-5 seeds a percentile bootstrap cannot
reach beyond the observed range (3 samples: 75% coverage at best), while the t-interval is exact
under normality. Every interval agrees with the test it is reported beside.

One rule turns a comparison into words, for sweep reports and the FAQ alike (`outcome`, `verdict`): with the
interval the decision used (after Holm, the compatible interval: it excludes 0 exactly when the Holm-adjusted
test rejects) and a practical margin m, A is "equivalent" to B when the whole interval lies within (-m, m) (two
one-sided tests), else "better" when it lies above 0, "worse" when below 0, and "inconclusive" otherwise.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
from scipy import stats as sps

from bench.scores import RATE_METRICS

ALPHA = 0.05
LEVEL = 0.95
BOOTSTRAP_MIN_N = 10
N_BOOT = 10_000


ArrayLike = Sequence[float] | np.ndarray
Stat = Callable[..., np.ndarray]  # stat(samples, axis=1) -> one value per bootstrap row
NAN_CI = (math.nan, math.nan)


def finite(x: ArrayLike) -> np.ndarray:
    """The finite values of x as a float array (diverged runs carry NaN scores)."""
    arr = np.asarray(x, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def t_ci(x: ArrayLike, level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval for the mean; NaN with fewer than 2 values."""
    x = finite(x)
    if len(x) < 2:
        return NAN_CI
    half = sps.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def bootstrap_ci(x: ArrayLike, stat: Stat = np.mean, level: float = LEVEL, n_boot: int = N_BOOT,
                 seed: int = 0) -> tuple[float, float]:
    """Expanded percentile bootstrap CI of stat(x): the percentile levels are widened by sqrt(n/(n-1)) * t
    (Hesterberg 2015) so that small samples are not over-confident. NaN with fewer than 3 values."""
    x = finite(x)
    n = len(x)
    if n < 3:
        return NAN_CI
    rng = np.random.default_rng(seed)
    boots = stat(x[rng.integers(0, n, size=(n_boot, n))], axis=1)
    tail = sps.norm.cdf(-math.sqrt(n / (n - 1)) * sps.t.ppf(0.5 + level / 2, n - 1))
    lo, hi = np.quantile(boots, [tail, 1 - tail])
    return float(lo), float(hi)


def mean_ci(x: ArrayLike, level: float = LEVEL, seed: int = 0) -> tuple[float, float]:
    """CI of the mean over seeds: t-interval for small samples, bootstrap once it is reliable."""
    x = finite(x)
    return t_ci(x, level) if len(x) < BOOTSTRAP_MIN_N else bootstrap_ci(x, np.mean, level, seed=seed)


NON_NEGATIVE = ("loss", "mse")


def metric_bounds(metric: str) -> tuple[float, float]:
    """The range a metric (e.g. "test_acc", "val_loss") can take, to clip confidence intervals to: a t-interval
    over 3 seeds near 100% accuracy would otherwise reach past 1."""
    name = metric.rsplit("_", 1)[-1]
    if name in RATE_METRICS:
        return 0.0, 1.0
    return (0.0, math.inf) if name in NON_NEGATIVE else (-math.inf, math.inf)


def clip_ci(ci: tuple[float, float], bounds: tuple[float, float]) -> tuple[float, float]:
    """A CI clipped to the range the statistic can take (NaN stays NaN)."""
    lo, hi = ci
    return (lo if math.isnan(lo) else max(lo, bounds[0]), hi if math.isnan(hi) else min(hi, bounds[1]))


def cohens_d(a: ArrayLike, b: ArrayLike) -> float:
    """(mean a - mean b) / pooled standard deviation; +-inf when both samples are constant but differ."""
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    diff = a.mean() - b.mean()
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return float(diff / pooled)


def hedges_g(a: ArrayLike, b: ArrayLike) -> float:
    """Cohen's d with the small-sample bias correction J = 1 - 3 / (4 (n_a + n_b) - 9)."""
    n = len(finite(a)) + len(finite(b))
    return cohens_d(a, b) * (1 - 3 / (4 * n - 9)) if n > 3 else math.nan


def _degenerate_p(diff: float, spread: float) -> float | None:
    """scipy returns NaN when there is no variance; a constant, nonzero difference is then certain."""
    if spread > 0:
        return None
    return 1.0 if diff == 0 else 0.0


def welch_test(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided Welch t-test p-value (unequal variances)."""
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    p = _degenerate_p(a.mean() - b.mean(), a.var(ddof=1) + b.var(ddof=1))
    with _quiet():
        return p if p is not None else float(sps.ttest_ind(a, b, equal_var=False).pvalue)


@contextmanager
def _quiet() -> Iterator[None]:
    """scipy warns of precision loss when seeds give near-identical values; the p-value is still right."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
        yield


def paired_test(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided paired t-test p-value on the pairs where both values are finite."""
    d = _paired_diffs(a, b)
    if len(d) < 2:
        return math.nan
    p = _degenerate_p(d.mean(), d.var(ddof=1))
    with _quiet():
        return p if p is not None else float(sps.ttest_1samp(d, 0.0).pvalue)


def _paired_diffs(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    return finite(a - b)


def welch_ci(a: ArrayLike, b: ArrayLike, level: float = LEVEL) -> tuple[float, float]:
    """CI of mean(a) - mean(b) with Welch-Satterthwaite degrees of freedom (the interval of the Welch test)."""
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2:
        return NAN_CI
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = a.mean() - b.mean()
    if va + vb == 0:
        return float(diff), float(diff)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = sps.t.ppf(0.5 + level / 2, df) * math.sqrt(va + vb)
    return float(diff - half), float(diff + half)


def diff_ci(a: ArrayLike, b: ArrayLike, paired: bool = False, level: float = LEVEL, seed: int = 0) -> tuple[float, float]:
    """CI of mean(a) - mean(b): of the paired differences, or Welch's; bootstrap once samples are large."""
    if paired:
        return mean_ci(_paired_diffs(a, b), level, seed)
    a, b = finite(a), finite(b)
    if min(len(a), len(b)) < BOOTSTRAP_MIN_N:
        return welch_ci(a, b, level)
    rng = np.random.default_rng(seed)
    boots = (a[rng.integers(0, len(a), (N_BOOT, len(a)))].mean(1) - b[rng.integers(0, len(b), (N_BOOT, len(b)))].mean(1))
    lo, hi = np.quantile(boots, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN entries stay NaN and do
    not count towards the family size."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else np.array([])
    out[order] = np.minimum(adjusted, 1.0)
    return out


@dataclass(frozen=True)
class Comparison:
    """A against B on one metric. `gain` is the mean advantage of A in the better direction (higher for
    max metrics, lower for min metrics); `ci` is its interval and `g` Hedges' g, both signed like gain."""
    a: str
    b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    gain: float
    ci: tuple[float, float]
    p: float
    test: str
    g: float
    p_holm: float = math.nan
    level: float = LEVEL  # confidence level of `ci`
    family: int = 1  # number of tests in its Holm family
    samples: tuple = field(default=(), repr=False, compare=False)  # (a, b, paired, sign, seed): to redo the CI
    spread: float = math.nan  # without samples: the variance of one seed's contribution (seed_variance)
    span: float = math.inf  # the widest a gain can be (1 for accuracy or F1): intervals are clipped to +-span

    @property
    def p_used(self) -> float:
        return self.p if math.isnan(self.p_holm) else self.p_holm

    @property
    def half_width(self) -> float:
        return (self.ci[1] - self.ci[0]) / 2

    def ci_label(self) -> str:
        """'95% CI' or '97.5% CI (Holm-compatible, 2 tests)': the interval's level in words."""
        label = f"{self.level * 100:.3g}% CI"
        return label + (f" (Holm-compatible, {self.family} tests)" if self.family > 1 else "")


def compare(a: ArrayLike, b: ArrayLike, name_a: str = "A", name_b: str = "B", higher_is_better: bool = True,
            paired: bool = False, level: float = LEVEL, seed: int = 0, span: float = math.inf) -> Comparison:
    """Compare two samples (one value per seed): paired t-test when the seeds pair up, else Welch. `span`: the
    range of the metric (1 for accuracy): a t-interval over 3 seeds may reach past it, which no gain can."""
    sign = 1.0 if higher_is_better else -1.0
    fa, fb = finite(a), finite(b)
    samples = (np.asarray(a, dtype=float), np.asarray(b, dtype=float), paired, sign, seed)
    p = paired_test(a, b) if paired else welch_test(a, b)
    mean_a = float(fa.mean()) if len(fa) else math.nan
    mean_b = float(fb.mean()) if len(fb) else math.nan
    return Comparison(name_a, name_b, len(fa), len(fb), mean_a, mean_b, sign * (mean_a - mean_b),
                      _signed_ci(samples, level, span), p, "paired t" if paired else "Welch t", sign * hedges_g(a, b),
                      level=level, samples=samples, span=span)


def _signed_ci(samples: tuple, level: float, span: float = math.inf) -> tuple[float, float]:
    """CI of A's gain (signed like the gain) at the given level, from the samples `compare` kept, clipped to
    [-span, span] (clipping never moves an end across 0 or the margin, so no decision changes)."""
    a, b, paired, sign, seed = samples
    lo, hi = diff_ci(a, b, paired, level, seed)
    return clip_ci((lo, hi) if sign > 0 else (-hi, -lo), (-span, span))


def holm_level(p: float, p_holm: float, alpha: float = ALPHA) -> float:
    """The confidence level whose interval excludes 0 exactly when the Holm-adjusted test rejects at alpha:
    1 - alpha * p / p_holm (a test rejected at Holm's step j was compared with alpha / (m - j + 1))."""
    if not (math.isfinite(p) and math.isfinite(p_holm)) or p_holm <= 0:
        return 1 - alpha
    return 1 - alpha * p / p_holm


def with_holm(comparisons: list[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm over the list as one family of tests: attaches the adjusted p-values and replaces each interval by
    its Holm-compatible one (`holm_level`), so that the interval printed is the one the decision uses."""
    adjusted = holm([c.p for c in comparisons])
    out = []
    for c, p in zip(comparisons, adjusted, strict=True):
        level = holm_level(c.p, float(p), alpha)
        ci = _signed_ci(c.samples, level, c.span) if c.samples else c.ci
        out.append(replace(c, p_holm=float(p), level=level, family=len(comparisons), ci=ci))
    return out


def fmt(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def fmt_p(p: float) -> str:
    """'0.034', '< 0.001' or 'n/a'."""
    return "n/a" if math.isnan(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def p_phrase(p: float, label: str = "p") -> str:
    """'p = 0.034', 'Holm p < 0.001'."""
    text = fmt_p(p)
    return f"{label} {text}" if text[0] in "<n" else f"{label} = {text}"


OUTCOME_RULE = (
    "Decision of a comparison, read from one interval of A's gain: \"equivalent\" when the whole interval lies within "
    "plus or minus the practical margin (two one-sided tests), else \"better\" when it lies above 0, \"worse\" when "
    "below 0, otherwise \"inconclusive\". Over several tests the interval is Holm-compatible: its level is "
    f"1 - {ALPHA} x p / (Holm p), so it excludes 0 exactly when the Holm-corrected test rejects; the interval printed "
    "is that one, with its level.")


class Decision(StrEnum):
    """What a comparison of A against B shows, given a practical margin (module docstring)."""
    BETTER = "better"
    EQUIVALENT = "equivalent"
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"


def decision(c: Comparison, margin: float) -> Decision:
    """Equivalent when the whole interval of A's gain lies within (-margin, margin) (two one-sided tests at
    (1 - level) / 2 each); else better when it lies above 0, worse when below 0; else inconclusive."""
    lo, hi = c.ci
    if math.isnan(lo) or math.isnan(hi):
        return Decision.INCONCLUSIVE
    if math.isfinite(margin) and -margin < lo and hi < margin:
        return Decision.EQUIVALENT
    if lo > 0:
        return Decision.BETTER
    return Decision.WORSE if hi < 0 else Decision.INCONCLUSIVE


def seed_variance(c: Comparison) -> float:
    """Variance of one seed's contribution to the gain (the squared standard error times the seeds per arm): of
    the per-seed differences when paired, else the sum of both arms' variances; `c.spread` when the comparison
    has no samples (e.g. a contrast of four arms); NaN when unknown."""
    if not c.samples:
        return c.spread
    a, b, paired, _, _ = c.samples
    if paired:
        diffs = finite(a - b)
        return float(diffs.var(ddof=1)) if len(diffs) > 1 else math.nan
    fa, fb = finite(a), finite(b)
    return float(fa.var(ddof=1) + fb.var(ddof=1)) if min(len(fa), len(fb)) > 1 else math.nan


def seeds_needed(c: Comparison, margin: float, cap: int = 100) -> int | None:
    """Power analysis for precision: the fewest seeds per arm whose interval (at c's level, with the observed
    spread) would have a half-width below the margin; None when the spread is unknown or more than `cap`."""
    var = seed_variance(c)
    if not math.isfinite(var) or not math.isfinite(margin) or margin <= 0:
        return None
    for n in range(2, cap + 1):
        if sps.t.ppf(0.5 + c.level / 2, n - 1) * math.sqrt(var / n) < margin:
            return n
    return None


def precision_words(c: Comparison, margin: float) -> str:
    """The achieved precision against the margin: 'half-width 0.031 >= margin 0.02; about 7 seeds per arm would
    bring it below' (or '< margin 0.02'; no seed count where the spread per seed is unknown)."""
    if math.isnan(c.half_width) or not math.isfinite(margin):
        return f"half-width {fmt(c.half_width)}"
    if c.half_width < margin:
        return f"half-width {fmt(c.half_width)} < margin {fmt(margin)}"
    words = f"half-width {fmt(c.half_width)} >= margin {fmt(margin)}"
    if not math.isfinite(seed_variance(c)):
        return words
    n = seeds_needed(c, margin)
    more = f"about {n} seeds per arm would bring it below" if n else "more than 100 seeds per arm would be needed"
    return f"{words}; {more}"


def verdict(c: Comparison, metric: str = "score", higher_is_better: bool = True, margin: float = math.nan) -> str:
    """The comparison in words (`outcome`), with the interval the outcome was read from."""
    word = "higher" if higher_is_better else "lower"
    corrected = "Holm p" if not math.isnan(c.p_holm) else "p"
    if min(c.n_a, c.n_b) < 2 or math.isnan(c.p_used):
        return f"not testable: {c.n_a} vs {c.n_b} finished seeds (need at least 2 each)"
    test = f"{c.test}, {p_phrase(c.p_used, corrected)}"
    kind = decision(c, margin)
    if kind in (Decision.BETTER, Decision.WORSE):
        win, lose, gain, ci = (c.a, c.b, c.gain, c.ci) if kind is Decision.BETTER else \
            (c.b, c.a, -c.gain, (-c.ci[1], -c.ci[0]))
        return (f"{win} better than {lose} by {fmt(gain)} {word} {metric} ({c.ci_label()} {fmt(ci[0])} to "
                f"{fmt(ci[1])}; {test}; Hedges' g = {fmt(abs(c.g), 2)})")
    seeds = f"{c.n_a} seeds" if c.n_a == c.n_b else f"{c.n_a} vs {c.n_b} seeds"
    interval = f"{c.ci_label()} {fmt(c.ci[0])} to {fmt(c.ci[1])}"
    if kind is Decision.EQUIVALENT:
        return (f"{c.a} equivalent to {c.b} within +-{fmt(margin)} {metric} (gain of {c.a} {fmt(c.gain)}, {word} is "
                f"better; {interval}, inside the margin; {test})")
    reach = f" and reaches beyond +-{fmt(margin)}" if math.isfinite(margin) else ""
    return (f"inconclusive with {seeds} (gain of {c.a} over {c.b}: {fmt(c.gain)} {metric}, {word} is better; "
            f"{interval} includes 0{reach}; {test})")


# Decision rules for claims. A claim is tested as one Comparison of the claimed-better (or claimed-adequate)
# side A against B; `margin` is the smallest gain that matters in practice, in units of the metric. Verdicts
# UNTESTABLE and NOT_EXERCISED come from sanity gates checked before any decision (bench.faq.evidence).
SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
UNTESTABLE, NOT_EXERCISED = "untestable", "not exercised"
VERDICT_WORDS = {SUPPORTED: "supported", REFUTED: "refuted", INCONCLUSIVE: "inconclusive",
                 UNTESTABLE: "untestable at this budget", NOT_EXERCISED: "not exercised"}


def decide_better(c: Comparison, margin: float) -> str:
    """Claim "A is better than B" (A helps): supported when A is better (`outcome`), refuted only when A is
    worse or shown equivalent within the margin, never because the interval was wide; else inconclusive."""
    kind = decision(c, margin)
    if kind is Decision.BETTER:
        return SUPPORTED
    return REFUTED if kind in (Decision.WORSE, Decision.EQUIVALENT) else INCONCLUSIVE


def decide_not_worse(c: Comparison, margin: float) -> str:
    """Claim "A is about as good as B" (non-inferiority): supported when the interval of A's gain lies above
    -margin (A better, equivalent, or at most a negligible loss); refuted when it lies entirely below -margin;
    else inconclusive."""
    lo, hi = c.ci
    if math.isnan(lo):
        return INCONCLUSIVE
    if lo > -margin:
        return SUPPORTED
    return REFUTED if hi < -margin else INCONCLUSIVE


FIXED_MARGIN = 0.02  # 2 points: the smallest difference in a rate (accuracy, F1, ...) that matters in practice
BINOMIAL_K = 2  # a rate differing by less than 2 binomial standard errors of the test set is within its noise


def binomial_se(rate: float, n: int) -> float:
    """Standard error of a rate measured on n test samples (or positives, for precision, recall and F1)."""
    if not n or not math.isfinite(rate):
        return math.nan
    r = min(max(rate, 0.0), 1.0)
    return math.sqrt(r * (1 - r) / n)


def practical_margin(metric: str, reference: float, n_test: int | None = None) -> float:
    """Smallest difference that matters: for rate metrics (accuracy, F1, ...) 2 points, or BINOMIAL_K binomial
    standard errors of the reference score on the n_test samples it was measured on, whichever is larger;
    else 10% of the reference level's mean (losses, MSE, times)."""
    if metric.split("_")[-1] in RATE_METRICS:
        se = binomial_se(reference, n_test) if n_test else math.nan
        return max(FIXED_MARGIN, BINOMIAL_K * se) if math.isfinite(se) else FIXED_MARGIN
    return 0.1 * abs(reference) if math.isfinite(reference) else math.nan


def pair_margin(metric: str, mean_a: float, mean_b: float, n_test: int | None = None) -> float:
    """The practical margin of comparing two arms, read at the midpoint of their mean scores: it does not depend on
    which arm is the reference, so A against B and B against A (e.g. in two claims) are judged with one margin."""
    means = [m for m in (mean_a, mean_b) if math.isfinite(m)]
    return practical_margin(metric, float(np.mean(means)) if means else math.nan, n_test)
