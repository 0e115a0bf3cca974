"""Search-space ranges keep their scale: a log range (integer or float) is sampled on a log scale, which puts
as many trials in [1, 8] as in [8, 64]; a linear one is not."""
import numpy as np
import optuna
from optuna.distributions import FloatDistribution, IntDistribution

from bench.search.space import load_space

SPACE = {"name": "s", "compare": "regularizer", "levels": ["early_stopping"], "workloads": ["mnist1d-cnn"],
         "fixed": {"optimizer": "sgd"}, "budget": {"trials_per_level": 2, "epochs": 2, "seeds": 1}}


def space(early_stop: dict, lr: dict):
    return load_space({**SPACE, "tune": {"lr": lr, "early_stop": early_stop}})


def test_log_integer_range_is_a_log_int_distribution():
    dists = space({"min": 1, "max": 64, "scaling": "log"}, {"min": 1.0e-4, "max": 1.0, "scaling": "log"}) \
        .distributions("early_stopping")
    assert dists == {"lr": FloatDistribution(1e-4, 1.0, log=True), "early_stop": IntDistribution(1, 64, log=True)}


def test_linear_ranges_stay_linear():
    dists = space({"min": 1, "max": 64}, {"min": 0.01, "max": 0.5, "scaling": "linear"}).distributions("early_stopping")
    assert dists == {"lr": FloatDistribution(0.01, 0.5, log=False), "early_stop": IntDistribution(1, 64, log=False)}


def test_random_samples_of_a_log_integer_range_spread_over_the_decades():
    dist = space({"min": 1, "max": 64, "scaling": "log"}, {"min": 1.0e-4, "max": 1.0, "scaling": "log"}) \
        .distributions("early_stopping")["early_stop"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    values = np.array([study.ask({"k": dist}).params["k"] for _ in range(400)])
    assert 0.35 < np.mean(values <= 8) < 0.65  # linear sampling would put ~11% there
