"""run_trial: learns, is deterministic, reports per epoch, probes gradients, and treats NaN as a result."""
import math

import pytest
import torch

from bench import train
from bench.components.losses import LOSSES
from bench.config import ConfigError
from bench.metrics import evaluate
from bench.models import build_model
from bench.train import run_trial
from bench.workloads import WORKLOADS
from tests.helpers import fast_cfg, tiny_bundle


def test_learns_and_reports_every_epoch():
    rows = []
    result = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=8, lr=0.03, width=32), report=rows.append,
                       data=tiny_bundle(512))
    assert result.status == "ok"
    assert [r["epoch"] for r in rows] == list(range(1, 9)) == [r["epoch"] for r in result.epochs]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time", "samples_per_sec", "time"):
        assert key in rows[0]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert result.final["test_acc"] > 0.6  # 4 classes: chance is 0.25


def test_same_seed_same_numbers_other_seed_differs():
    data = tiny_bundle(256)
    a = run_trial(fast_cfg(workload="mnist1d-cnn", seed=3), data=data)
    b = run_trial(fast_cfg(workload="mnist1d-cnn", seed=3), data=data)
    c = run_trial(fast_cfg(workload="mnist1d-cnn", seed=4), data=data)
    timing = ("epoch_time", "samples_per_sec", "time", "flops_per_sec", "peak_fraction")
    strip = lambda r: [{k: v for k, v in e.items() if k not in timing} for e in r.epochs]
    assert strip(a) == strip(b)
    assert a.final["test_loss"] == b.final["test_loss"]
    assert strip(a) != strip(c)


def test_nan_gives_diverged_status():
    result = run_trial(fast_cfg(workload="mnist1d-mlp", optimizer="sgd", lr=1e9, epochs=3), data=tiny_bundle(256))
    assert result.status == "diverged"
    assert "test_acc" not in result.final and result.final["steps"] >= 1


def test_a_finite_but_exploded_loss_is_diverged(monkeypatch):
    # SGD at lr 10 on this MLP: the loss grows ~100x per epoch but stays finite for several epochs.
    cfg, data = fast_cfg(workload="mnist1d-mlp", optimizer="sgd", lr=10.0, epochs=3), tiny_bundle(256)
    assert run_trial(cfg, data=data).status == "diverged"
    monkeypatch.setattr(train, "EXPLODED", math.inf)  # without the rule, the same trial would pass as "ok"
    result = run_trial(cfg, data=data)
    assert result.status == "ok" and result.epochs[-1]["train_loss"] > 1e3


def test_probe_interval_and_layers():
    result = run_trial(fast_cfg(workload="mnist1d-mlp", probe_every=3, epochs=1), data=tiny_bundle(256))
    steps = sorted({g["step"] for g in result.gradients})
    assert steps == list(range(3, result.final["steps"] + 1, 3))
    layers = {g["layer"] for g in result.gradients}
    assert {"hidden.0.linear", "out"} <= layers
    assert all(math.isfinite(g["grad_norm"]) and g["grad_norm"] > 0 for g in result.gradients)


def test_early_stopping_stops_on_val_loss():
    # An LR of 1e-30 moves no float32 weight: the validation loss repeats exactly, so epoch 1 stays the best and
    # patience 2 stops the run after epoch 3.
    result = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=30, early_stop=2, lr=1e-30, optimizer="sgd",
                                early_stop_on="loss"),
                       data=tiny_bundle(256))
    assert result.status == "ok" and result.final["epochs_run"] == 3
    assert len({row["val_loss"] for row in result.epochs}) == 1


def test_clip_fraction_counts_the_steps_where_norm_clipping_acted():
    data = tiny_bundle(256)
    always = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=2, clip_norm=1e-6), data=data)
    never = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=2, clip_norm=1e6), data=data)
    assert always.final["clip_fraction"] == 1.0 and never.final["clip_fraction"] == 0.0
    assert "clip_fraction" not in run_trial(fast_cfg(workload="mnist1d-mlp", epochs=2), data=data).final


def test_the_workloads_goal_is_recorded_with_the_result():
    result = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=1), data=tiny_bundle(256))
    assert result.final["goal"] == WORKLOADS["mnist1d-mlp"].goal


def test_max_steps_caps_training():
    result = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=5, max_steps=7), data=tiny_bundle(256))
    assert result.final["steps"] == 7


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_other_tasks(task):
    result = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=3, lr=0.01), data=tiny_bundle(256, task=task))
    assert result.status == "ok"
    assert ("test_f1" in result.final) if task == "binary" else ("test_mse" in result.final)


@pytest.mark.parametrize("loss", [n for n, spec in LOSSES.items() if {"classification", "binary"} & set(spec.tasks)])
def test_every_loss_trains_a_classifier(loss):
    binary = "classification" not in LOSSES[loss].tasks  # e.g. the tanh output unit: binary targets only
    data = tiny_bundle(512, task="binary" if binary else "classification")
    result = run_trial(fast_cfg(workload="mnist1d-mlp", loss=loss, epochs=6, lr=0.03, width=32), data=data)
    assert result.status == "ok" and result.final["test_acc"] > (0.8 if binary else 0.4)  # chance 0.5 / 0.25


@pytest.mark.parametrize("loss", [n for n, spec in LOSSES.items() if "regression" in spec.tasks])
def test_every_regression_loss_trains_a_regressor(loss):
    data = tiny_bundle(512, task="regression")  # y = 2 x0 + x1: a constant predictor's MSE is var(y), about 5
    result = run_trial(fast_cfg(workload="mnist1d-mlp", loss=loss, epochs=6, lr=0.01, width=32), data=data)
    assert result.status == "ok" and result.final["test_mse"] < 0.2 * float(data.test.y.var())


def test_augment_without_augmentation_is_a_user_error():
    with pytest.raises(ConfigError, match="has no data augmentation"):
        run_trial(fast_cfg(workload="mnist1d-mlp", augment=True), data=tiny_bundle(64))


@pytest.mark.slow
def test_mnist1d_cnn_real_workload_learns():
    result = run_trial(fast_cfg(workload="mnist1d-cnn", width=16, depth=2, fc_width=64, epochs=3, lr=1e-2))
    assert result.final["test_acc"] > 0.5  # 10 classes: chance is 0.1


def test_early_stopping_restores_the_best_epochs_weights_and_tests_them():
    # Adam at a high LR on 150 samples overfits within a few epochs: validation loss turns up, patience runs out.
    cfg = fast_cfg(workload="mnist1d-mlp", epochs=40, early_stop=3, lr=0.05, width=64, early_stop_on="loss")
    data = tiny_bundle(256)
    train.seed_everything(cfg.seed)
    model = build_model("mlp", cfg, data)
    snapshots = {}
    hook = lambda row: snapshots.__setitem__(row["epoch"], {k: v.clone() for k, v in model.state_dict().items()})
    trainer = train.Trainer(cfg, data, model, torch.device("cpu"), hook)
    status, final = trainer.fit()
    val = [row["val_loss"] for row in trainer.epochs]
    best = 1 + min(range(len(val)), key=val.__getitem__)
    assert status == "ok" and final["best_epoch"] == best < final["epochs_run"] == len(val) < 40
    assert all(torch.equal(v, snapshots[best][k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, snapshots[len(val)][k]) for k, v in model.state_dict().items())
    test = evaluate(model, data.test, trainer.loss, data, trainer.forward, "test")
    assert final["test_loss"] == test["test_loss"] and final["best_val_loss"] == min(val)



@pytest.mark.parametrize("optimizer, wd_mode", [("sgd", "coupled"), ("adam", "decoupled"), ("adamw", "decoupled")])
def test_weight_decay_spares_biases_and_norm_parameters_unless_asked(optimizer, wd_mode):
    data = tiny_bundle(64)
    for decay_all in (False, True):
        cfg = fast_cfg(workload="mnist1d-mlp", optimizer=optimizer, wd_mode=wd_mode, weight_decay=0.5, lr=0.1,
                       batch_norm=True, decay_bias_norm=decay_all)
        train.seed_everything(0)
        model = build_model("mlp", cfg, data)
        trainer = train.Trainer(cfg, data, model, torch.device("cpu"))
        for p in model.parameters():
            p.data.fill_(1.0)
            p.grad = torch.zeros_like(p)  # no gradient: only weight decay moves a parameter
        train.apply_decoupled_decay(trainer.opt, cfg)
        trainer.opt.step()
        moved = {name: not torch.equal(p, torch.ones_like(p)) for name, p in model.named_parameters()}
        assert moved["hidden.0.linear.weight"] and moved["out.weight"]
        assert moved["hidden.0.linear.bias"] == moved["hidden.0.bn.weight"] == moved["hidden.0.bn.bias"] == decay_all
