"""The one table of registries, and the lookup every registry shares (one message format for unknown names).

`bench list`, the CLI's up-front name checks and the search-space validator all read REGISTRIES; a new kind of
component is one row here. Each registry's module is imported only when it is asked for, so that `bench --help`
and `bench list config` do not import torch.
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.config import ConfigError, TrialConfig

T = TypeVar("T")


def lookup(registry: Mapping[str, T], kind: str, name: str) -> T:
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(registry)}"
                          + did_you_mean(name, list(registry))) from None


def did_you_mean(name: object, choices: list[str]) -> str:
    """' (did you mean 'adam'?)' for a name close to one of the choices ('Adam', 'adamm'), else ''."""
    text = str(name)
    exact = [c for c in choices if str(c).lower() == text.lower()]
    close = exact or difflib.get_close_matches(text.lower(), [str(c).lower() for c in choices], n=1, cutoff=0.6)
    match = next((c for c in choices if str(c).lower() == close[0].lower()), None) if close else None
    return f" (did you mean {match!r}?)" if match is not None else ""


@dataclass(frozen=True)
class Registry:
    kind: str  # as `bench list` names it
    module: str
    attr: str
    field: str | None = None  # the TrialConfig field whose value names an entry
    also: tuple[str, ...] = ()  # values that field takes besides the names ("auto": the workload's own)
    listed: bool = True  # shown by `bench list` (its entries are specs with descriptions)

    def entries(self) -> Mapping[str, Any]:
        return getattr(importlib.import_module(self.module), self.attr)

    def names(self) -> dict[str, Any]:
        """Every value `field` accepts, mapped to its spec (None for the extras)."""
        return {**dict.fromkeys(self.also), **self.entries()}


REGISTRIES: dict[str, Registry] = {r.kind: r for r in (
    Registry("workloads", "bench.workloads", "WORKLOADS", "workload"),
    Registry("optimizers", "bench.components.optimizers", "OPTIMIZERS", "optimizer"),
    Registry("schedules", "bench.components.schedules", "SCHEDULES", "schedule"),
    Registry("activations", "bench.components.activations", "ACTIVATIONS", "activation"),
    Registry("losses", "bench.components.losses", "LOSSES", "loss", also=("auto",)),
    Registry("regularizers", "bench.components.regularizers", "REGULARIZERS"),
    Registry("inits", "bench.components.inits", "INITS", "init"),
    Registry("models", "bench.models", "MODELS"),
    Registry("cells", "bench.models", "CELLS", "rnn_cell", also=("auto",), listed=False),
)}


def by_field() -> dict[str, Registry]:
    """The registries that back a TrialConfig field, by that field."""
    return {r.field: r for r in REGISTRIES.values() if r.field}


def check_names(cfg: TrialConfig) -> None:
    """Fail fast, before any data are loaded, on a config naming an unknown component."""
    for field, reg in by_field().items():
        lookup(reg.names(), field.replace("_", " "), getattr(cfg, field))
