"""Every registry entry is exercised: optimizers learn, schedules give known LRs, activations keep shapes."""
import math

import pytest
import torch

from bench.components.activations import ACTIVATIONS
from bench.components.inits import INITS, apply_init
from bench.components.losses import LOSSES, resolve_loss
from bench.components.optimizers import OPTIMIZERS, apply_decoupled_decay, build_optimizer
from bench.components.regularizers import REGULARIZERS, clip_gradients, clip_weights
from bench.components.schedules import SCHEDULES, build_schedule
from bench.config import ConfigError, TrialConfig
from bench.registry import lookup

LRS = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 0.05, "adamw": 0.05, "nadam": 0.05,
       "rmsprop": 0.01, "adagrad": 0.3}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_lowers_loss(name):
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
    model = torch.nn.Linear(5, 1)
    opt = build_optimizer(model.parameters(), TrialConfig(optimizer=name, lr=LRS[name]))
    loss = lambda: ((model(x).squeeze(-1) - y) ** 2).mean()
    before = loss().item()
    for _ in range(50):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.5 * before


def test_every_optimizer_tunes_lr():
    assert all(spec.hyperparams[0] == "lr" for spec in OPTIMIZERS.values())


def test_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match="unknown optimizer 'adamm'; choose one of: sgd, momentum"):
        lookup(OPTIMIZERS, "optimizer", "adamm")


def test_coupled_vs_decoupled_weight_decay():
    p = torch.nn.Parameter(torch.ones(3))
    cfg = TrialConfig(optimizer="sgd", lr=0.1, weight_decay=0.5, wd_mode="coupled")
    opt = build_optimizer([p], cfg)
    assert opt.param_groups[0]["weight_decay"] == 0.5
    cfg = cfg.replace(wd_mode="decoupled")
    opt = build_optimizer([p], cfg)
    assert opt.param_groups[0]["weight_decay"] == 0.0
    apply_decoupled_decay(opt, cfg)
    assert torch.allclose(p.data, torch.full((3,), 1 - 0.1 * 0.5))


# (schedule, {step: expected LR multiplier}) over 100 total steps, lr_gamma 0.1, step_frac 0.33, warmup 0.05
EXPECTED = {
    "constant": {0: 1.0, 50: 1.0, 99: 1.0},
    "step": {0: 1.0, 32: 1.0, 33: 0.1, 66: 0.01, 99: 0.001},
    "exponential": {0: 1.0, 50: 0.1 ** 0.5, 100: 0.1},
    "cosine": {0: 1.0, 50: 0.5, 100: 0.0},
    "warmup_cosine": {0: 0.2, 4: 1.0, 5: 1.0, 24: 0.9045, 100: 0.0},
    "onecycle": {0: 0.04, 4: 1.0, 99: 0.0},
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_lr_at_known_steps(name):
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = TrialConfig(optimizer="sgd", lr=1.0, schedule=name)
    opt = build_optimizer([p], cfg)
    sched = build_schedule(opt, cfg, 100)
    if name == "plateau":  # per-epoch on validation loss: cut after patience (2) epochs without progress
        lrs = []
        for val_loss in [1.0, 0.9, 0.9, 0.9, 0.9]:
            sched.step(val_loss)
            lrs.append(opt.param_groups[0]["lr"])
        assert lrs == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.1])
        return
    seen = {}
    for step in range(101):
        seen[step] = opt.param_groups[0]["lr"]
        opt.step()
        if step < 99 or name != "onecycle":  # OneCycleLR refuses steps past total_steps
            sched.step()
    for step, want in EXPECTED[name].items():
        assert seen[step] == pytest.approx(want, abs=1e-3), (name, step)


@pytest.mark.parametrize("name", ["warmup_cosine", "onecycle"])
def test_a_warm_up_given_in_steps_lasts_that_many_steps_whatever_the_training_length(name):
    """warmup_steps fixes the warm-up's length (the GRU recipe's 144 steps at 432 steps of the quick budget and at
    720 of the full one); warmup_frac is ignored then, and the peak comes after exactly that many steps."""
    for total in (432, 720):
        p = torch.nn.Parameter(torch.zeros(1))
        cfg = TrialConfig(optimizer="sgd", lr=1.0, schedule=name, warmup_steps=144, warmup_frac=0.5)
        opt = build_optimizer([p], cfg)
        sched = build_schedule(opt, cfg, total)
        lrs = []
        for _ in range(300):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        peak = max(range(300), key=lrs.__getitem__)
        assert peak in (143, 144), (name, total, peak)  # LambdaLR reaches 1 at step warm - 1, OneCycleLR at warm
        assert lrs[10] < 0.2 and lrs[200] < 1.0


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_keeps_shape_and_range(name):
    spec = ACTIVATIONS[name]
    x = torch.randn(4, 3, 7)
    y = spec.build()(x)
    assert y.shape == x.shape
    if spec.low is not None:
        assert float(y.min()) >= spec.low - 1e-6
    if spec.high is not None:
        assert float(y.max()) <= spec.high + 1e-6


@pytest.mark.parametrize("name", INITS)
def test_init_sets_expected_scale(name):
    torch.manual_seed(0)
    layer = torch.nn.Linear(400, 300)
    apply_init(layer, name, gain=2 ** 0.5)
    std = layer.weight.detach().std().item()
    expected = {"default": 1 / math.sqrt(3 * 400), "standard": 1 / math.sqrt(3 * 400),
                "xavier": 2 ** 0.5 * math.sqrt(2 / 700), "lecun": 1 / math.sqrt(400), "kaiming": math.sqrt(2 / 400),
                "orthogonal": 2 ** 0.5 / math.sqrt(400)}[name]
    assert std == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize("name", LOSSES)
def test_loss_zero_for_perfect_prediction_and_positive_otherwise(name):
    spec = LOSSES[name]
    if "classification" in spec.tasks:
        y = torch.tensor([0, 2, 1])
        good = torch.nn.functional.one_hot(y, 3).float() * (20.0 if name != "mse" else 1.0)
        good = good - (10.0 if name == "bce" else 0.0)
        bad = torch.roll(good, 1, dims=1)
        assert float(spec.fn(good, y, 3, 0.0)) < 1e-3 < float(spec.fn(bad, y, 3, 0.0))
    y = torch.tensor([1.0, 0.0])
    if "binary" in spec.tasks:
        good = {"bce": torch.tensor([[9.0], [-9.0]]), "tanh_mse": torch.tensor([[9.0], [-9.0]]),
                "linear_mse": torch.tensor([[1.0], [-1.0]])}.get(name, torch.tensor([[1.0], [0.0]]))
        assert float(spec.fn(good, y, 1, 0.0)) < 1e-3 < float(spec.fn(-good + 1, y, 1, 0.0))


@pytest.mark.parametrize("name", [n for n, s in LOSSES.items() if "classification" in s.tasks])
def test_classification_losses_take_per_step_targets(name):
    # Per-step tasks (copy-memory) give logits (N, C, T) and targets (N, T): the loss must equal the loss of the
    # same predictions flattened to one row per step.
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(4, 5, 7, generator=g), torch.randint(0, 5, (4, 7), generator=g)
    flat = LOSSES[name].fn(out.transpose(1, 2).reshape(-1, 5), y.reshape(-1), 5, 0.1)
    assert float(LOSSES[name].fn(out, y, 5, 0.1)) == pytest.approx(float(flat), rel=1e-5)


def test_loss_resolution():
    assert resolve_loss("auto", "classification").name == "ce"
    assert resolve_loss("auto", "binary").name == "bce"
    assert resolve_loss("auto", "regression").name == "mse"
    with pytest.raises(ConfigError, match="does not fit a regression task"):
        resolve_loss("ce", "regression")


def test_label_smoothing_changes_ce():
    out, y = torch.tensor([[5.0, 0.0]]), torch.tensor([0])
    assert float(LOSSES["ce"].fn(out, y, 2, 0.2)) > float(LOSSES["ce"].fn(out, y, 2, 0.0))


@pytest.mark.parametrize("name", REGULARIZERS)
def test_regularizer_settings_are_valid_config(name):
    cfg = TrialConfig().replace(**REGULARIZERS[name].settings)
    assert all(getattr(cfg, k) == v for k, v in REGULARIZERS[name].settings.items())


def test_gradient_and_weight_clipping():
    p = torch.nn.Parameter(torch.tensor([3.0, -4.0]))
    p.grad = torch.tensor([3.0, -4.0])
    norm = clip_gradients([p], TrialConfig(clip_norm=1.0))
    assert norm == pytest.approx(5.0) and float(p.grad.norm()) == pytest.approx(1.0)
    p.grad = torch.tensor([3.0, -4.0])
    clip_gradients([p], TrialConfig(clip_value=0.5))
    assert p.grad.tolist() == [0.5, -0.5]
    clip_weights([p], TrialConfig(weight_clip=1.0))
    assert p.data.tolist() == [1.0, -1.0]
