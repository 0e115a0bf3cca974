"""Gradient studies (`bench study NAME`): reproductions of the vanishing/exploding-gradient literature, claim by claim.

Each study module exposes `run(quick, seeds, out, progress) -> claims DataFrame` and writes its report folder.
"""
from __future__ import annotations

STUDIES = ("vanishing", "exploding")
