"""The states a trial ends in, the phases of a comparison and the outcome of a study's claim: enums, compared and
stored as their plain values ("ok", "tune"), so that result tables, JSON parts and Parquet files hold ordinary
strings."""
from __future__ import annotations

from enum import StrEnum


class TrialStatus(StrEnum):
    OK = "ok"  # trained to the end (or to early stopping)
    DIVERGED = "diverged"  # the loss went NaN/inf or exploded (bench.train.EXPLODED)
    STOPPED = "stopped"  # ended early by a scheduler (ASHA): a valid but partial result
    ERROR = "error"  # raised, or its worker died

    def is_failure(self) -> bool:
        """Diverged and errored trials are failures; a stopped one is not (it was stopped on purpose)."""
        return self in (TrialStatus.DIVERGED, TrialStatus.ERROR)

    @classmethod
    def failures(cls) -> tuple[TrialStatus, ...]:
        return tuple(s for s in cls if s.is_failure())


# The first words of the error of a trial whose worker or storage failed (a killed worker, a node lost, a part that
# could not be written) on every try: no result of the trial's own, so a resume runs it again instead of counting it.
INFRASTRUCTURE = "infrastructure failure"
INFRA_RETRIES = 2  # re-runs of such a trial, with its recorded config and seed, before it is recorded


def is_infrastructure(status: str, error: str) -> bool:
    return status == TrialStatus.ERROR and error.startswith(INFRASTRUCTURE)


class Phase(StrEnum):
    TUNE = "tune"  # a level's search for its own hyperparameters, judged on validation data
    CONFIRM = "confirm"  # the search's top configs re-run on a second seed: the choice rests on two seeds
    FINAL = "final"  # the chosen config re-run with fresh seeds, compared on test data

    def is_tuning(self) -> bool:
        """Tune and confirm trials choose a config (on validation data); final trials are compared."""
        return self is not Phase.FINAL

    @classmethod
    def tuning(cls) -> tuple[Phase, ...]:
        return tuple(p for p in cls if p.is_tuning())


class ClaimOutcome(StrEnum):
    """What a gradient study's claim came to over its seeds (bench.studies.common.decide); the FAQ reads it back."""
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    UNTESTABLE = "untestable"  # a gate failed: the measurement cannot decide the claim here (the reason is in the row)
