"""What a score means, for the engine and the report alike (both import this, it imports neither): the validation
metric a search steers by instead of the test metric it reports."""
from __future__ import annotations

from bench.config import ConfigError


def tuning_metric(target: str) -> str:
    """Search on the validation counterpart of the test metric, so the test set never steers the choice."""
    split, _, metric = target.partition("_")
    if split != "test" or not metric:
        raise ConfigError(f"workload target {target!r} must be a test metric such as test_acc")
    return f"val_{metric}"
