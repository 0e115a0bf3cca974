"""Trial statuses and phases: enums whose values are what the result tables store."""
from __future__ import annotations

import json

import pytest

from bench.results import read_part
from bench.status import Phase, TrialStatus


def test_failures_are_diverged_and_error_not_stopped():
    assert TrialStatus.failures() == (TrialStatus.DIVERGED, TrialStatus.ERROR)
    assert [s.is_failure() for s in TrialStatus] == [False, True, False, True]


def test_values_are_the_stored_strings():
    assert [str(s) for s in TrialStatus] == ["ok", "diverged", "stopped", "error"]
    assert [str(p) for p in Phase] == ["tune", "confirm", "final"] and Phase.TUNE == "tune"
    assert Phase.tuning() == (Phase.TUNE, Phase.CONFIRM)  # confirm trials serve the choice, not the score
    assert json.dumps({"status": TrialStatus.OK}) == '{"status": "ok"}'


PART = {"trial_id": "t", "tags": {}, "config": {}, "final": {}, "epochs": [], "gradients": [], "error": ""}


def test_a_part_read_back_carries_the_enum(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**PART, "status": "diverged"}))
    assert read_part(path).status is TrialStatus.DIVERGED


def test_a_part_with_an_unknown_status_is_unreadable(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**PART, "status": "finished"}))
    with pytest.raises(ValueError, match="status 'finished' is none of ok, diverged, stopped, error"):
        read_part(path)
