"""Gradient studies (`bench study NAME`): reproductions of the vanishing/exploding-gradient literature, claim by claim.

Each study module exposes `run(quick, seeds, out, progress, size, runner, resume) -> claims DataFrame` and writes its
report folder. Its trials are plans of the engine's protocol (bench.search), run on the runner the command chose.
"""
from __future__ import annotations

STUDIES = ("vanishing", "exploding")
