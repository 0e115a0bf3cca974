"""bench's one selection rule (scores.best_mean), pinned on planted values, and its three users choosing with it."""
import math

import pandas as pd
import pytest

from bench.scores import best_mean


@pytest.mark.parametrize(("mode", "expected"), [("max", ("b", 0.8)), ("min", ("a", 0.3))])
def test_best_mean_picks_the_best_mean_in_either_direction(mode, expected):
    chosen, mean = best_mean([("a", [0.2, 0.4]), ("b", [0.9, 0.7]), ("c", [0.5, 0.5])], mode)
    assert (chosen, pytest.approx(mean)) == expected


def test_ties_go_to_the_earlier_candidate_and_one_lucky_seed_does_not_win():
    assert best_mean([("first", [0.5, 0.5]), ("second", [0.6, 0.4])], "max") == ("first", 0.5)
    assert best_mean([("lucky", [0.99, 0.1]), ("steady", [0.8, 0.8])], "max")[0] == "steady"


def test_a_failed_run_ranks_worst_but_can_still_be_the_only_choice():
    assert best_mean([("diverged", [0.9, -math.inf]), ("ok", [0.3, 0.3])], "max")[0] == "ok"
    assert best_mean([("diverged", [math.inf, 0.1]), ("ok", [0.5, 0.5])], "min")[0] == "ok"
    assert best_mean([("only", [-math.inf, -math.inf]), ("worse", [-math.inf, -math.inf])], "max") == ("only", -math.inf)


def test_candidates_without_values_are_skipped_and_none_left_is_none():
    assert best_mean([("empty", []), ("nan", [math.nan]), ("x", [0.1])], "max") == ("x", 0.1)
    assert best_mean([("empty", []), ("nan", [math.nan, 0.2])], "max") is None


def test_the_faq_and_the_studies_choose_with_it():
    from bench.faq.evidence import best_level
    from bench.studies.common import chosen_point
    from bench.train import TrialResult

    df = pd.DataFrame({"group": "g", "phase": "final", "tune_mode": "max", "level": ["a", "a", "b", "b"],
                       "objective": [0.9, 0.1, 0.6, 0.6], "seed": [1, 2, 1, 2]})
    assert best_level(df, "g") == "b"  # mean 0.6 beats a's 0.5 although a has the single best seed
    run = lambda acc, loss=1.0: TrialResult({"workload": "mnist1d-mlp"}, "ok", {},
                                            [{"epoch": 1, "val_acc": acc, "val_loss": loss}], [])
    assert chosen_point([("lr 0.1", [run(0.9), run(0.1)]), ("lr 0.01", [run(0.6), run(0.6)])]) == "lr 0.01"
    # on the workload's validation metric, not its loss: a collapsed net (constant prediction: loss ln 10, chance
    # accuracy) loses to an accurate one whose loss climbed above ln 10 as it overfit (the full vanishing study's RMSprop)
    dead, overfit = run(0.085, 2.303), run(0.45, 3.9)
    assert chosen_point([("lr 1e-3", [dead, dead]), ("lr 1e-4", [overfit, overfit])]) == "lr 1e-4"
    mse = lambda value: TrialResult({"workload": "adding"}, "ok", {}, [{"epoch": 1, "val_mse": value}], [])
    assert chosen_point([("clip 0.2", [mse(0.1), mse(0.1)]), ("clip 0.1", [mse(0.01), mse(0.02)])]) == "clip 0.1"
