"""What the training loop feeds its decisions, pinned with spies: which split each metric is measured on,
that evaluation runs in eval mode, which seed shuffles the batches, when early stopping fires, and which
loss ReduceLROnPlateau sees."""
import pytest
import torch
from torch import nn

import bench.train
from bench.data.base import DataBundle, Split
from bench.metrics import predict
from bench.train import run_trial
from tests.helpers import fast_cfg, tiny_bundle


def spy_evaluate(monkeypatch, planted_val_loss=None, planted_val_acc=None):
    """Record (prefix, split) of every evaluation; optionally replace the validation loss (and accuracy) by planted
    values."""
    calls, real = [], bench.train.evaluate

    def spy(model, split, loss_fn, data, forward, prefix):
        calls.append((prefix, split))
        out = real(model, split, loss_fn, data, forward, prefix)
        epoch = sum(p == "val" for p, _ in calls) - 1
        if prefix == "val" and planted_val_loss is not None:
            out["val_loss"] = planted_val_loss[epoch]
        if prefix == "val" and planted_val_acc is not None:
            out["val_acc"] = planted_val_acc[epoch]
        return out

    monkeypatch.setattr(bench.train, "evaluate", spy)
    return calls


def same_rows(a: Split, b: Split) -> bool:
    return a.x.shape == b.x.shape and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_each_metric_is_measured_on_its_own_split(monkeypatch):
    data = tiny_bundle(n=300)
    calls = spy_evaluate(monkeypatch)
    run_trial(fast_cfg(epochs=2), data=data)
    assert [p for p, _ in calls] == ["val", "train", "val", "train", "test"]
    for prefix, split in calls:
        if prefix == "val":
            assert same_rows(split, data.val)
        elif prefix == "test":
            assert same_rows(split, data.test)
        else:  # the train metrics: training rows only (here all of them: fewer than TRAIN_EVAL_MIN)
            assert same_rows(split, data.train)


def test_train_metrics_use_a_fixed_subset_of_training_rows():
    data = tiny_bundle(n=300)
    big = DataBundle(Split(torch.randn(5000, 1, 16), torch.randint(0, 4, (5000,))), data.val, data.test,
                     "classification", 4)
    sub = bench.train.train_eval_subset(big)
    assert len(sub) == bench.train.TRAIN_EVAL_MIN
    rows = {tuple(r.tolist()) for r in big.train.x.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in sub.x.flatten(1))
    assert same_rows(sub, bench.train.train_eval_subset(big))  # the same for every trial


def test_validation_metrics_differ_from_train_metrics_on_planted_labels():
    """Validation labels are scrambled: a model cannot fit them, so val_acc must sit near chance while the
    training accuracy is high. A loop measuring 'val' on training rows would report both high."""
    data = tiny_bundle(n=600)
    g = torch.Generator().manual_seed(1)
    scrambled = Split(data.val.x, torch.randint(0, 4, (len(data.val),), generator=g))
    data = DataBundle(data.train, scrambled, data.test, data.task, data.num_classes)
    result = run_trial(fast_cfg(epochs=12, lr=0.05, optimizer="adam", width=16, fc_width=32), data=data)
    last = result.epochs[-1]
    assert last["train_acc"] > 0.8 and last["val_acc"] < 0.45 and result.final["test_acc"] > 0.7


class ModeSpy(nn.Module):
    """Records whether it was in training mode whenever it runs forward."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(16, 4)
        self.modes = []

    def forward(self, x, lengths=None):
        self.modes.append(self.training)
        return self.lin(x.flatten(1))


def test_evaluation_runs_the_model_in_eval_mode_and_restores_training():
    model = ModeSpy().train()
    data = tiny_bundle()
    predict(model, data.val, lambda x, lengths: model(x, lengths))
    assert model.modes == [False] and model.training


def test_dropout_is_off_when_evaluating_a_trained_model():
    """With heavy dropout, two evaluations of the same model agree only if dropout is inactive."""
    data = tiny_bundle()
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 4)).train()
    forward = lambda x, lengths: model(x)
    assert torch.equal(predict(model, data.val, forward), predict(model, data.val, forward))
    assert model.training


def batch_orders(monkeypatch, seed: int, data: DataBundle) -> list[torch.Tensor]:
    seen, real = [], bench.train.Trainer.train_step

    def spy(self, batch, epoch):
        seen.append(batch.y.clone())
        return real(self, batch, epoch)

    monkeypatch.setattr(bench.train.Trainer, "train_step", spy)
    run_trial(fast_cfg(epochs=1, batch_size=16, seed=seed), data=data)
    monkeypatch.setattr(bench.train.Trainer, "train_step", real)
    return seen


def test_batches_are_shuffled_by_the_trial_seed(monkeypatch):
    data = tiny_bundle(n=300)
    for seed in (3, 11):
        seen = torch.cat(batch_orders(monkeypatch, seed, data))
        perm = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))
        assert torch.equal(seen, data.train.y[perm][:len(seen)])
    assert not torch.equal(torch.cat(batch_orders(monkeypatch, 3, data)), torch.cat(batch_orders(monkeypatch, 4, data)))


@pytest.mark.parametrize("patience, planted, epochs_run", [
    (2, [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0], 4),  # best at epoch 2, two bad epochs: stop after 4
    (3, [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0], 5),
    (1, [1.0, 0.8, 0.7, 0.75, 0.5, 0.4, 0.3, 0.2], 4),
    (2, [1.0, 0.9, 0.91, 0.85, 0.86, 0.87, 0.88, 0.89], 6),  # progress at epoch 4 resets the count
])
def test_early_stopping_patience_counts_epochs_without_progress(monkeypatch, patience, planted, epochs_run):
    spy_evaluate(monkeypatch, planted)
    result = run_trial(fast_cfg(epochs=8, early_stop=patience, early_stop_on="loss"), data=tiny_bundle())
    assert result.status == "ok" and len(result.epochs) == epochs_run == result.final["epochs_run"]
    assert result.final["best_val_loss"] == min(planted[:epochs_run])


def test_plateau_schedule_steps_on_the_validation_loss(monkeypatch):
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    planted = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    seen, real = [], ReduceLROnPlateau.step
    monkeypatch.setattr(ReduceLROnPlateau, "step", lambda self, metrics, *a, **k: (seen.append(float(metrics)),
                                                                                    real(self, metrics, *a, **k))[1])
    spy_evaluate(monkeypatch, planted)
    result = run_trial(fast_cfg(epochs=6, schedule="plateau", lr_gamma=0.1, lr=0.01), data=tiny_bundle())
    assert seen == planted
    # patience 2: epochs 2, 3, 4 bring no progress over 0.5, so the LR drops once before epoch 5 starts
    assert [round(r["lr"], 6) for r in result.epochs] == [0.01, 0.01, 0.01, 0.01, 0.001, 0.001]


def test_early_stopping_watches_the_target_metric_by_default_and_the_loss_on_request(monkeypatch):
    """The validation loss keeps falling while the validation accuracy peaks at epoch 2 (a model growing more
    confident on what it gets right): watching the target metric stops after epoch 4 and restores epoch 2; watching
    the loss trains on."""
    loss = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    acc = [0.50, 0.60, 0.55, 0.54, 0.53, 0.52]
    spy_evaluate(monkeypatch, loss, acc)
    target = run_trial(fast_cfg(epochs=6, early_stop=2), data=tiny_bundle())
    assert target.final["epochs_run"] == 4 and target.final["best_epoch"] == 2
    assert target.final["best_val_loss"] == 0.7  # still the lowest validation loss seen, whatever was watched
    monkeypatch.undo()
    spy_evaluate(monkeypatch, loss, acc)
    watched_loss = run_trial(fast_cfg(epochs=6, early_stop=2, early_stop_on="loss"), data=tiny_bundle())
    assert watched_loss.final["epochs_run"] == 6 and watched_loss.final["best_epoch"] == 6


def test_a_trials_result_does_not_depend_on_what_its_process_ran_before(monkeypatch):
    """The first trial of a process measures the matmul peak and counts FLOPs (cached afterwards). Neither may
    draw from the global RNG that dropout uses: a retried or resumed trial runs in another process than before,
    and must give the same result."""
    import bench.flops
    from bench.config import TrialConfig

    cfg = TrialConfig(workload="mnist1d-mlp", width=8, depth=2, dropout=0.5, n_train=128, epochs=1, max_steps=3,
                      batch_size=32, threads=1, probe_every=0)
    monkeypatch.setattr(bench.flops, "_peak_cache", {})  # as in a fresh process
    monkeypatch.setattr(bench.flops, "_flops_cache", {})
    first, again = run_trial(cfg), run_trial(cfg)
    assert [e["train_loss"] for e in first.epochs] == [e["train_loss"] for e in again.epochs]
    assert first.final["test_loss"] == again.final["test_loss"]
