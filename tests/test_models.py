"""Exact parameter counts and shapes for every model family; the seed tutorial's bugs stay fixed."""
import math

import pytest
import torch

from bench.components.activations import ACTIVATIONS
from bench.components.inits import apply_init
from bench.config import TrialConfig
from bench.models import MODELS, build_model
from bench.models.cnn import CNN
from bench.models.mlp import MLP
from bench.models.rnn import CELLS, RNNModel
from bench.train import run_trial
from tests.helpers import fast_cfg, tiny_bundle


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_seed_cnn_on_cifar_shape_computes_flatten_size():
    # seed: conv(3->32) pool conv(32->64) pool, fc 64*8*8 -> 128 -> 10 (the tutorial wrote 64*6*6)
    model = CNN((3, 32, 32), 10, width=32, depth=2, fc_width=128, activation="relu")
    assert model.head[2].in_features == 64 * 8 * 8
    assert n_params(model) == (3 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (4096 * 128 + 128) + (128 * 10 + 10)
    assert model(torch.zeros(5, 3, 32, 32)).shape == (5, 10)


def test_mnist1d_cnn_parameter_count():
    model = CNN((1, 40), 10, width=32, depth=2, fc_width=128, activation="relu")
    assert n_params(model) == 128 + 6208 + (640 * 128 + 128) + 1290


def test_cnn_options_add_expected_parameters():
    plain = CNN((1, 40), 10, 8, 2, 16, "relu")
    bn = CNN((1, 40), 10, 8, 2, 16, "relu", batch_norm=True)
    # BN drops the conv bias (8+16) and adds gamma+beta (2*(8+16))
    assert n_params(bn) - n_params(plain) == 2 * (8 + 16) - (8 + 16)
    res = CNN((1, 40), 10, 8, 2, 16, "relu", residual=True)
    assert n_params(res) - n_params(plain) == (8 * 8 * 3 + 8) + (16 * 16 * 3 + 16)


def test_gru_parameter_count():
    model = RNNModel(1, 10, "gru", hidden=32, layers=2, fc_width=128, activation="relu")
    assert n_params(model) == 3 * (32 + 1024 + 64) + 3 * (1024 + 1024 + 64) + (32 * 128 + 128) + 1290


def test_mlp_parameter_count():
    assert n_params(MLP(40, 10, 32, 2, "relu")) == (40 * 32 + 32) + (32 * 32 + 32) + (32 * 10 + 10)


@pytest.mark.parametrize("cell", CELLS)
def test_rnn_one_output_per_sequence_and_no_log_softmax(cell):
    # The seed applied the linear layer to every step and a LogSoftmax over one output (always 0).
    model = RNNModel(3, 1, cell, hidden=8, layers=1, fc_width=8, activation="relu")
    out = model(torch.randn(4, 9, 3))
    assert out.shape == (4, 1)
    assert not torch.allclose(out, torch.zeros_like(out))


def test_padding_does_not_change_prediction():
    torch.manual_seed(0)
    model = RNNModel(6, 1, "lstm", hidden=8, layers=1, fc_width=8, activation="relu", vocab_size=20).eval()
    seq = torch.tensor([[5, 7, 9, 2]])
    padded = torch.tensor([[5, 7, 9, 2, 0, 0, 0]])
    a = model(seq, torch.tensor([4]))
    b = model(padded, torch.tensor([4]))
    assert torch.allclose(a, b, atol=1e-6)


def test_irnn_identity_and_lstm_forget_bias_and_radius():
    irnn = RNNModel(2, 1, "irnn", 4, 1, 4, "relu")
    assert torch.equal(irnn.rnn.weight_hh_l0.data, torch.eye(4))
    lstm = RNNModel(2, 1, "lstm", 4, 1, 4, "relu", forget_bias=1.0)
    assert torch.all(lstm.rnn.bias_ih_l0.data[4:8] == 1.0) and torch.all(lstm.rnn.bias_hh_l0.data[4:8] == 0.0)
    rnn = RNNModel(2, 1, "rnn", 16, 1, 4, "relu", radius=1.5)
    assert float(torch.linalg.eigvals(rnn.rnn.weight_hh_l0.data).abs().max()) == pytest.approx(1.5, rel=1e-4)


@pytest.mark.parametrize("family", MODELS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_family_builds_with_every_activation(family, activation):
    shape = (16, 1) if family == "rnn" else (1, 16)
    data = tiny_bundle(32, shape=shape)
    model = build_model(family, TrialConfig(width=8, depth=2, fc_width=8, activation=activation), data)
    assert model(data.train.x).shape == (len(data.train), 4)


def stream_std_ratio(model: MLP, x: torch.Tensor) -> float:
    """std of the last hidden block's output / that of the first (the residual stream's growth with depth)."""
    stds = []
    hooks = [layer.register_forward_hook(lambda m, a, out: stds.append(float(out.detach().std()))) for layer in model.hidden]
    model(x)
    for h in hooks:
        h.remove()
    return stds[-1] / stds[0]


def deep_mlp(residual: bool, scale: float = 0.0, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    model = MLP(16, 4, 64, 30, "relu", residual=residual, residual_scale=scale)
    apply_init(model, "lecun", 1.0)  # He et al.'s std sqrt(1/n): the init that stalls the plain 30-layer net
    return model


def test_residual_block_is_pre_activation_with_a_scaled_branch():
    block = deep_mlp(True).hidden[1]
    x = torch.randn(8, 64)
    expected = x + block.linear(torch.relu(x)) / math.sqrt(30)
    assert torch.allclose(block(x), expected, atol=1e-6)
    assert n_params(deep_mlp(True)) == n_params(deep_mlp(False))  # the skips add no parameters


def test_scaled_residual_stream_keeps_its_scale_at_init_and_unscaled_explodes():
    x = torch.randn(256, 16)
    assert 0.5 < stream_std_ratio(deep_mlp(True), x) < 3
    assert stream_std_ratio(deep_mlp(True, scale=1.0), x) > 100  # x + W relu(x): variance x1.5 per block


def test_30_layer_residual_mlp_trains_where_the_plain_one_stalls():
    data = tiny_bundle(512)
    wins = 0
    for seed in range(5):
        cfg = dict(workload="mnist1d-mlp", depth=30, width=32, init="lecun", optimizer="momentum", lr=0.01,
                   max_steps=100, epochs=100, seed=seed)
        plain = run_trial(fast_cfg(**cfg), data=data)
        residual = run_trial(fast_cfg(**cfg, residual=True), data=data)
        wins += residual.status == "ok" and residual.epochs[-1]["train_loss"] < plain.epochs[-1]["train_loss"]
    assert wins >= 4
