import numpy as np
import pytest

from bench.config import ConfigError, TrialConfig


def test_round_trip():
    cfg = TrialConfig(lr=0.01, optimizer="sgd", batch_norm=True)
    assert TrialConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_named():
    with pytest.raises(ConfigError, match="unknown config key 'lrr'"):
        TrialConfig.from_dict({"lrr": 0.1})


@pytest.mark.parametrize("key,value", [("lr", "fast"), ("epochs", 2.5), ("batch_norm", "yes"), ("epochs", True)])
def test_wrong_type_named(key, value):
    with pytest.raises(ConfigError, match=f"config key '{key}' must be"):
        TrialConfig.from_dict({key: value})


def test_accepts_ints_for_floats_and_numpy_scalars():
    cfg = TrialConfig.from_dict({"lr": 1, "epochs": np.int64(3), "momentum": np.float32(0.5)})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.epochs == 3 and isinstance(cfg.epochs, int)


@pytest.mark.parametrize("kw,msg", [({"lr": 0.0}, "lr must be > 0"), ({"lr": -1.0}, "lr must be > 0"),
                                    ({"epochs": 0}, "epochs must be >= 1"), ({"dropout": 1.0}, "dropout"),
                                    ({"wd_mode": "both"}, "wd_mode"), ({"clip_norm": -1.0}, "clip_norm")])
def test_invalid_values(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        TrialConfig(**kw)


def test_replace_is_strict():
    with pytest.raises(ConfigError):
        TrialConfig().replace(nonsense=1)
    assert TrialConfig().replace(lr=0.5).lr == 0.5
