"""Numbers as people read them: durations in minutes and seconds, rates with their units, rounded. Imports
nothing heavy, so the command line can use it without loading pandas or matplotlib."""
from __future__ import annotations

import math
from collections.abc import Callable

RATES = ("acc", "f1", "precision", "recall", "fraction")  # shares in [0, 1], shown as percentages


def shown(value: object) -> str:
    """One format for every number a page or the terminal shows: floats to 3 significant digits, a missing value
    (None, NaN) as n/a; anything else as its text."""
    if value is None:
        return "n/a"
    if isinstance(value, float) or type(value).__name__.startswith("float"):  # numpy's floats too
        number = float(value)  # type: ignore[arg-type]
        if math.isnan(number):
            return "n/a"
        return ("inf" if number > 0 else "-inf") if math.isinf(number) else f"{number:.3g}"
    return str(value)


def duration(seconds: float) -> str:
    """215.468 -> '3 min 35 s'; 4000 -> '1 h 6 min'; 2.5 -> '2.5 s'."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def si(value: float, unit: str) -> str:
    """191276858060.8 FLOP/s -> '191 GFLOP/s'; three significant digits with a metric prefix."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


# The final metrics of a trial by key: how each is shown (keys not listed: 4 significant digits).
FORMATS: dict[str, Callable[[float], str]] = {
    "wall_time": duration,
    "samples_per_sec": lambda v: f"{v:,.0f} samples/s",
    "flops_per_sec": lambda v: si(v, "FLOP/s"),
    "peak_flops_per_sec": lambda v: si(v, "FLOP/s"),
    "flops_per_sample": lambda v: si(v, "FLOP"),
    "peak_fraction": lambda v: f"{v:.1%}",
    "grad_growth": lambda v: f"{v:.3g}x",
}


def metric_value(key: str, value: object) -> str:
    """One final metric for the terminal: units, sensible rounding, 'n/a' for a value that was not measured."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "n/a (not measured)"
    if key in FORMATS:
        return FORMATS[key](float(value))
    if isinstance(value, int) or float(value).is_integer() and key.endswith(("epoch", "epochs_run", "steps")):
        return f"{int(value):,}"
    if key.rsplit("_", 1)[-1] in RATES:
        return f"{value:.1%}"
    return f"{value:.4g}"
