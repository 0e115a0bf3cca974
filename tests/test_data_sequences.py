"""Synthetic sequence tasks: structure, memoryless baselines measured on the generated data, per-step outputs."""
import math

import pytest
import torch
import torch.nn.functional as F

from bench.config import ConfigError, TrialConfig
from bench.data import sequences
from bench.data.sequences import TASKS
from bench.models import build_model


@pytest.fixture(scope="module")
def bundles():
    return {name: sequences.load(name) for name in TASKS}


def test_sizes_and_default_lengths(bundles):
    for name, data in bundles.items():
        assert (len(data.train), len(data.val), len(data.test)) == (10_000, 1_000, 1_000), name
    assert bundles["adding"].train.x.shape[1:] == (50, 2)
    assert bundles["temporal-order"].train.x.shape[1:] == (50, 6)
    assert bundles["copy-memory"].train.x.shape[1:] == (20 + 20, 10)


@pytest.mark.parametrize("name", TASKS)
def test_seq_len_sets_T_and_data_ignore_the_trial_seed(name):
    torch.manual_seed(1)
    a = sequences.load(name, seq_len=30)
    torch.manual_seed(2)
    b = sequences.load(name, seq_len=30)
    assert a.train.x.shape[1] == (30 + 20 if name == "copy-memory" else 30)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)


@pytest.mark.parametrize("name,too_short", [("adding", 1), ("temporal-order", 9)])
def test_too_short_sequences_are_config_errors(name, too_short):
    with pytest.raises(ConfigError, match=f"{name} needs seq_len >= {too_short + 1}"):
        sequences.load(name, seq_len=too_short)


def test_adding_targets_are_the_sum_of_one_marked_value_per_half(bundles):
    x, y = bundles["adding"].train.x, bundles["adding"].train.y
    marks = x[..., 1]
    assert torch.equal(marks[:, :25].sum(1), torch.ones(len(x))) and torch.equal(marks[:, 25:].sum(1), torch.ones(len(x)))
    assert torch.allclose((x[..., 0] * marks).sum(1), y)
    assert x[..., 0].min() >= 0 and x[..., 0].max() <= 1


def test_adding_constant_predictor_scores_one_sixth(bundles):
    data = bundles["adding"]
    assert data.baseline == {"test_mse": pytest.approx(1 / 6)}
    assert float(((data.train.y - 1.0) ** 2).mean()) == pytest.approx(1 / 6, abs=0.01)  # 10k sums: sd 0.002
    assert float(((data.test.y - 1.0) ** 2).mean()) == pytest.approx(1 / 6, abs=0.02)


def test_temporal_order_class_is_the_order_of_the_two_relevant_symbols(bundles):
    x, y = bundles["temporal-order"].train.x, bundles["temporal-order"].train.y
    symbols = x.argmax(-1)
    relevant = symbols < 2  # A=0, B=1; distractors 2..5
    assert torch.equal(relevant.sum(1), torch.full((len(x),), 2))
    where = relevant.nonzero()[:, 1].view(-1, 2)
    assert where[:, 0].min() >= 5 and where[:, 0].max() < 10 and where[:, 1].min() >= 20 and where[:, 1].max() < 25
    rows = torch.arange(len(x))
    assert torch.equal(y, 2 * symbols[rows, where[:, 0]] + symbols[rows, where[:, 1]])
    shares = torch.bincount(y, minlength=4).float() / len(y)
    assert shares.max() - shares.min() < 0.03  # balanced: any constant guess scores ~0.25
    assert bundles["temporal-order"].baseline["test_acc"] == 0.25


def test_copy_memory_layout_and_memoryless_baseline(bundles):
    data, T = bundles["copy-memory"], 20
    symbols, target = data.test.x.argmax(-1), data.test.y
    assert torch.equal(target[:, T + 10:], symbols[:, :10]) and (target[:, :T + 10] == 0).all()
    assert (symbols[:, T + 9] == 9).all() and (symbols[:, 10:T + 9] == 0).all() and (symbols[:, T + 10:] == 0).all()
    # the best predictor without memory: blank until the delimiter's echo, then uniform over the 8 symbols
    probs = torch.zeros(len(target), 9, T + 20)
    probs[:, 0, :T + 10] = 1.0
    probs[:, 1:, T + 10:] = 1 / 8
    loss = F.nll_loss(probs.clamp_min(1e-12).log(), target)
    assert float(loss) == pytest.approx(10 * math.log(8) / (T + 20), rel=1e-4)
    assert data.baseline["test_loss"] == pytest.approx(float(loss), rel=1e-4)


def test_per_step_rnn_outputs_classes_by_steps_and_is_causal(bundles):
    data = bundles["copy-memory"]
    cfg = TrialConfig(workload="copy-memory", width=8, depth=1, fc_width=8)
    model = build_model("rnn", cfg, data, "lstm").eval()
    x = data.test.x[:4]
    out = model(x)
    assert out.shape == (4, 9, 40)  # (N, classes, T): what cross_entropy and the accuracy metric read
    changed = x.clone()
    changed[:, 30:] = torch.roll(changed[:, 30:], 1, dims=-1)
    assert torch.equal(model(changed)[..., :30], out[..., :30])  # a step never sees the future
    assert not torch.equal(model(changed)[..., 30:], out[..., 30:])
    lengths = torch.full((4,), 40)
    assert torch.allclose(model(x, lengths), out, atol=1e-6)  # packed and unpacked paths agree
