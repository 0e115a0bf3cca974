"""Each registry entry builds what its name says: the optimizer class and which config field feeds each of its
hyperparameters, activation gains against torch.nn.init.calculate_gain, init scales, loss targets (label
smoothing included) and per-class accuracy, checked against torch's own definitions."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.components.activations import ACTIVATIONS
from bench.components.inits import INITS
from bench.components.losses import LOSSES
from bench.components.optimizers import OPTIMIZERS, build_optimizer
from bench.components.schedules import SCHEDULES, build_schedule
from bench.config import TrialConfig
from bench.data.base import DataBundle, Split
from bench.metrics import score

# Distinct values, so that a hyperparameter fed from the wrong field shows up.
FIELDS = dict(lr=0.0123, momentum=0.77, beta1=0.81, beta2=0.97, alpha=0.93, eps=3e-7, weight_decay=0.011,
              wd_mode="coupled")

# name -> (class, the optimizer's own defaults as built from FIELDS)
EXPECTED = {
    "sgd": (torch.optim.SGD, {"lr": 0.0123, "momentum": 0.0, "nesterov": False, "weight_decay": 0.011}),
    "momentum": (torch.optim.SGD, {"lr": 0.0123, "momentum": 0.77, "nesterov": False, "weight_decay": 0.011}),
    "nesterov": (torch.optim.SGD, {"lr": 0.0123, "momentum": 0.77, "nesterov": True, "weight_decay": 0.011}),
    "adam": (torch.optim.Adam, {"lr": 0.0123, "betas": (0.81, 0.97), "eps": 3e-7, "weight_decay": 0.011}),
    "adamw": (torch.optim.AdamW, {"lr": 0.0123, "betas": (0.81, 0.97), "eps": 3e-7, "weight_decay": 0.011}),
    "nadam": (torch.optim.NAdam, {"lr": 0.0123, "betas": (0.81, 0.97), "eps": 3e-7, "weight_decay": 0.011}),
    "rmsprop": (torch.optim.RMSprop, {"lr": 0.0123, "alpha": 0.93, "eps": 3e-7, "weight_decay": 0.011, "momentum": 0}),
    "adagrad": (torch.optim.Adagrad, {"lr": 0.0123, "eps": 3e-7, "weight_decay": 0.011}),
}


def built(name: str, **over) -> torch.optim.Optimizer:
    return build_optimizer([nn.Parameter(torch.zeros(3))], TrialConfig(optimizer=name, **{**FIELDS, **over}))


def test_every_optimizer_has_an_expectation():
    assert set(OPTIMIZERS) == set(EXPECTED), "add the new optimizer's class and hyperparameters to EXPECTED"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_builds_its_class_from_the_right_fields(name):
    cls, settings = EXPECTED[name]
    opt = built(name)
    assert type(opt) is cls
    group = opt.param_groups[0]
    for key, value in settings.items():
        assert group[key] == pytest.approx(value), f"{name}.{key}"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_tuned_hyperparameters_are_the_ones_the_optimizer_reads(name):
    """Changing a field the spec says it tunes must change the built optimizer, and no other field may."""
    spec = OPTIMIZERS[name]
    base = built(name).param_groups[0]
    readable = ("lr", "momentum", "beta1", "beta2", "alpha", "eps", "weight_decay")
    for field in readable:
        changed = built(name, **{field: FIELDS[field] * 0.5}).param_groups[0]
        differs = any(changed[k] != base[k] for k in base if k != "params")
        if field in spec.hyperparams:
            assert differs, f"{name} tunes {field} but ignores it"
        elif field != "weight_decay":  # coupled weight decay is read by every optimizer without being tuned
            assert not differs, f"{name} reads {field} without tuning it"


def test_decoupled_mode_keeps_weight_decay_out_of_the_gradient():
    assert built("adam", wd_mode="decoupled").param_groups[0]["weight_decay"] == 0.0
    assert built("adamw", wd_mode="decoupled").param_groups[0]["weight_decay"] == 0.011


TORCH_GAINS = {"relu": ("relu", None), "leaky_relu": ("leaky_relu", 0.01), "tanh": ("tanh", None),
               "sigmoid": ("sigmoid", None)}


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if n in TORCH_GAINS])
def test_activation_gain_equals_torch_calculate_gain(name):
    assert ACTIVATIONS[name].gain == pytest.approx(nn.init.calculate_gain(*TORCH_GAINS[name]), rel=1e-12)


def test_torch_defines_a_gain_for_exactly_these_activations():
    """Every registry activation torch knows a gain for is checked above; the others state theirs explicitly."""
    defined = {n for n in ACTIVATIONS if n in ("relu", "leaky_relu", "tanh", "sigmoid", "selu", "linear")}
    assert defined == set(TORCH_GAINS) & set(ACTIVATIONS)


ACT_CLASSES = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU,
               "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softsign": nn.Softsign}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_builds_its_module(name):
    assert type(ACTIVATIONS[name].build()) is ACT_CLASSES[name]
    spec = ACTIVATIONS[name]
    x = torch.cat([torch.linspace(-30, 30, 601), torch.tensor([-1e4, 1e4])])
    y = spec.build()(x)
    if spec.low is not None:
        assert y.min().item() == pytest.approx(spec.low, abs=1e-3 if spec.saturating else 0.1)
    if spec.high is not None:
        assert y.max().item() == pytest.approx(spec.high, abs=0.1)


# init name -> expected std of the weights of a (fan_out, fan_in) = (400, 300) layer with gain g
INIT_STD = {
    "standard": lambda g: (1 / math.sqrt(300)) / math.sqrt(3),
    "xavier": lambda g: g * math.sqrt(2 / (300 + 400)),
    "lecun": lambda g: 1 / math.sqrt(300),
    "kaiming": lambda g: g / math.sqrt(300),
    "orthogonal": lambda g: g / math.sqrt(400),
}


@pytest.mark.parametrize("name", INIT_STD)
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_init_weight_scale(name, gain):
    torch.manual_seed(0)
    w = torch.empty(400, 300)
    INITS[name].fn(w, gain)
    assert w.std().item() == pytest.approx(INIT_STD[name](gain), rel=0.02)


def test_every_init_has_a_scale_check():
    assert set(INITS) == set(INIT_STD) | {"default"}


def test_bce_binary_label_smoothing_moves_targets_toward_one_half():
    out, y = torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([1.0, 0.0, 1.0])
    for s in (0.0, 0.2):
        want = F.binary_cross_entropy_with_logits(out.squeeze(-1), torch.tensor([1 - s / 2, s / 2, 1 - s / 2]))
        assert LOSSES["bce"].fn(out, y, 1, s).item() == pytest.approx(want.item(), rel=1e-6)


def test_one_hot_losses_smooth_toward_the_uniform_distribution():
    out, y = torch.tensor([[2.0, 0.0, -1.0, 0.5]]), torch.tensor([2])
    target = torch.tensor([[0.025, 0.025, 0.925, 0.025]])  # smoothing 0.1 over 4 classes
    assert LOSSES["mse"].fn(out, y, 4, 0.1).item() == pytest.approx(F.mse_loss(out, target).item(), rel=1e-6)
    assert LOSSES["bce"].fn(out, y, 4, 0.1).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(out, target).item(), rel=1e-6)
    assert LOSSES["ce"].fn(out, y, 4, 0.1).item() == pytest.approx(
        -(target * out.log_softmax(1)).sum().item(), rel=1e-6)


def test_per_class_accuracy_divides_by_the_true_class_counts():
    """Planted predictions: class 0 has 4 samples of which 3 are right; class 1 has 1 sample, right; class 2 has
    2 samples, none right (both predicted as 0, so class 0 is predicted 5 times)."""
    truth = torch.tensor([0, 0, 0, 0, 1, 2, 2])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 0])
    out = F.one_hot(pred, 3).float()
    data = DataBundle(Split(out, truth), Split(out, truth), Split(out, truth), "classification", 3,
                      class_names=("a", "b", "c"))
    m = score(out, truth, data, binary=False, per_class=True)
    assert (m["acc_a"], m["acc_b"], m["acc_c"]) == pytest.approx((0.75, 1.0, 0.0))
    assert m["acc"] == pytest.approx(4 / 7)


def test_binary_precision_recall_f1_on_planted_predictions():
    truth = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    logits = torch.tensor([3.0, 2.0, -1.0, 1.0, -2.0, -3.0, -1.0, -0.5]).unsqueeze(-1)  # tp 2, fp 1, fn 1
    data = DataBundle(Split(logits, truth), Split(logits, truth), Split(logits, truth), "binary", 1)
    m = score(logits, truth, data, binary=True, per_class=False)
    assert (m["precision"], m["recall"], m["f1"], m["acc"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 6 / 8))


# workload -> (model family, recurrent cell class): what the workload's name promises
WORKLOAD_MODELS = {
    "mnist1d-cnn": ("cnn", None), "mnist1d-gru": ("rnn", nn.GRU), "mnist1d-lstm": ("rnn", nn.LSTM),
    "mnist1d-rnn": ("rnn", nn.RNN), "mnist1d-mlp": ("mlp", None), "mnist1d-shuffled-cnn": ("cnn", None),
    "mnist1d-shuffled-mlp": ("mlp", None), "mnist1d-shuffled-gru": ("rnn", nn.GRU),
    "mnist1d-imbalanced-cnn": ("cnn", None), "digits-cnn": ("cnn", None), "cifar10-cnn": ("cnn", None),
    "imdb-rnn": ("rnn", nn.RNN), "text-synthetic-rnn": ("rnn", nn.RNN), "adding": ("rnn", nn.GRU),
    "temporal-order": ("rnn", nn.GRU), "copy-memory": ("rnn", nn.GRU),
}


def test_every_workload_has_a_model_expectation():
    from bench.workloads import WORKLOADS

    assert set(WORKLOADS) == set(WORKLOAD_MODELS), "add the new workload's model to WORKLOAD_MODELS"


@pytest.mark.parametrize("name", [n for n, (family, _) in WORKLOAD_MODELS.items() if family == "rnn"])
def test_recurrent_workloads_build_the_cell_their_name_says(name):
    from bench.models import build_model
    from bench.models.rnn import RNNModel
    from bench.workloads import WORKLOADS

    spec = WORKLOADS[name]
    data = DataBundle(*(Split(torch.zeros(4, 6, 1), torch.zeros(4, dtype=torch.long)) for _ in range(3)),
                      "classification", 4)
    model = build_model(spec.model, TrialConfig(workload=name, width=8, depth=1, fc_width=8), data, spec.cell)
    assert spec.model == "rnn" and type(model) is RNNModel
    assert type(model.rnn) is WORKLOAD_MODELS[name][1]
    if type(model.rnn) is nn.RNN:
        assert model.rnn.nonlinearity == "tanh"


@pytest.mark.parametrize("name", [n for n, (family, _) in WORKLOAD_MODELS.items() if family != "rnn"])
def test_other_workloads_name_their_model_family(name):
    from bench.workloads import WORKLOADS

    assert WORKLOADS[name].model == WORKLOAD_MODELS[name][0] and WORKLOADS[name].cell == ""


def lr_trajectory(name: str, **fields) -> list[float]:
    """The LR over 49 steps of a 50-step run (plateau: stepped on a validation loss that never improves)."""
    p = nn.Parameter(torch.zeros(1))
    cfg = TrialConfig(optimizer="sgd", lr=1.0, schedule=name, **{"lr_gamma": 0.1, "step_frac": 0.3,
                                                                  "warmup_frac": 0.1, **fields})
    opt = build_optimizer([p], cfg)
    sched = build_schedule(opt, cfg, 50)
    seen = []
    for _ in range(49):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if SCHEDULES[name].per_epoch:
            sched.step(1.0)
        else:
            sched.step()
    return seen


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_reads_exactly_the_hyperparameters_it_tunes(name):
    """Each schedule's trajectory changes with every field it declares and with no other schedule field."""
    base = lr_trajectory(name)
    for field, other in (("lr_gamma", 0.5), ("step_frac", 0.6), ("warmup_frac", 0.3)):
        changed = lr_trajectory(name, **{field: other}) != base
        assert changed == (field in SCHEDULES[name].hyperparams), (name, field)


def test_plateau_is_torchs_reduce_on_plateau_with_factor_lr_gamma():
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    cfg = TrialConfig(optimizer="sgd", lr=1.0, schedule="plateau", lr_gamma=0.3)
    sched = build_schedule(build_optimizer([nn.Parameter(torch.zeros(1))], cfg), cfg, 100)
    assert type(sched) is ReduceLROnPlateau and (sched.factor, sched.patience, sched.mode) == (0.3, 2, "min")
