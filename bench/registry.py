"""Lookup shared by every registry: one error message format for unknown names."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from bench.config import ConfigError

T = TypeVar("T")


def lookup(registry: Mapping[str, T], kind: str, name: str) -> T:
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(registry)}") from None
