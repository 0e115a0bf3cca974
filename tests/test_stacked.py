"""The stacked executor: S seeds as one vmapped model train exactly the trials run_trial trains, in fp32."""
from __future__ import annotations

import math

import pytest
import torch

from bench.components.optimizers import OPTIMIZERS
from bench.config import ConfigError, TrialConfig
from bench.data.base import DataBundle, Split
from bench.stacked import run_stacked, why_not_stacked
from bench.train import run_trial

SEEDS = (3, 7)


def planted_data(n: int = 96) -> DataBundle:
    """MNIST-1D-shaped tensors (N, 1, 40) whose class shifts the mean: learnable in a few steps."""
    g = torch.Generator().manual_seed(0)
    make = lambda m: (lambda y: Split(torch.randn(m, 1, 40, generator=g) + 0.3 * y[:, None, None], y))(
        torch.randint(0, 10, (m,), generator=g))
    return DataBundle(make(n), make(40), make(40), "classification", 10)


def tiny(**changes) -> TrialConfig:
    base = dict(workload="mnist1d-cnn", width=4, depth=2, fc_width=8, epochs=2, batch_size=32, probe_every=0,
                device="cpu", amp=False, lr=0.05)
    return TrialConfig(**{**base, **changes})


def assert_same_trials(cfg: TrialConfig) -> None:
    data = planted_data()
    stacked = run_stacked(cfg, SEEDS, data)
    for seed, got in zip(SEEDS, stacked, strict=True):
        want = run_trial(cfg.replace(seed=seed), data=data)
        assert (got.status, got.config["seed"]) == (want.status, seed)
        assert len(got.epochs) == len(want.epochs) == cfg.epochs
        for mine, theirs in zip(got.epochs, want.epochs, strict=True):
            for key in ("step", "lr", "train_loss_running", "val_loss", "val_acc", "train_loss"):
                assert mine[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-6), (seed, mine["epoch"], key)
        for key in ("test_loss", "test_acc", "best_val_loss", "epochs_run", "steps"):
            assert got.final[key] == pytest.approx(want.final[key], rel=1e-4, abs=1e-6), (seed, key)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_stacked_equals_one_run_per_seed(optimizer):
    assert_same_trials(tiny(optimizer=optimizer, lr=0.01 if optimizer != "sgd" else 0.05))


def test_schedules_weight_decay_and_weight_clipping_stack_exactly():
    assert_same_trials(tiny(optimizer="momentum", schedule="cosine", weight_decay=0.5, wd_mode="decoupled",
                            weight_clip=0.5, clip_value=1.0, max_steps=5))


def test_seeds_differ_from_each_other():
    a, b = run_stacked(tiny(), SEEDS, planted_data())
    assert a.epochs[-1]["val_loss"] != b.epochs[-1]["val_loss"]


def test_a_diverging_seed_is_diverged_while_the_others_stay_ok():
    data = planted_data()
    cfg = tiny(optimizer="sgd", lr=1e4)
    results = run_stacked(cfg, SEEDS, data)
    assert [r.status for r in results] == [run_trial(cfg.replace(seed=s), data=data).status for s in SEEDS]
    assert all(r.status == "diverged" and r.final["grad_health"] == "exploding" for r in results)
    assert not any(math.isfinite(r.final.get("test_acc", math.nan)) for r in results)


@pytest.mark.parametrize("change, reason", [
    ({"dropout": 0.2}, "dropout"), ({"batch_norm": True}, "batch norm"), ({"clip_norm": 1.0}, "gradient-norm"),
    ({"early_stop": 2}, "early stopping"), ({"schedule": "plateau"}, "per-epoch schedule"),
    ({"workload": "mnist1d-gru"}, "recurrent"),
])
def test_configs_whose_seeds_share_state_in_a_step_are_not_stacked(change, reason):
    cfg = tiny(**change)
    assert reason in why_not_stacked(cfg)
    with pytest.raises(ConfigError, match=reason):
        run_stacked(cfg, SEEDS, planted_data())


def test_plain_configs_stack():
    assert why_not_stacked(tiny()) is None


def test_stacked_final_seeds_write_the_parts_their_own_trials_write(tmp_path):
    """final_stacked against sweep_trial once per seed, on the sweep's real data: same ids, configs, tags, statuses,
    metrics (fp32 rounding), and final keys; only the per-layer gradient probes are missing (one model's hooks)."""
    from bench.results import ResultStore
    from bench.search.protocol import FINAL, Plan
    from bench.search.space import load_space
    from bench.search.trial import final_stacked, sweep_trial
    from tests.test_sweep import tiny_space

    space = load_space(tiny_space())
    g = Plan(space).groups[0]
    ids = g.final_ids()
    task = {"out": str(tmp_path / "stacked"), "config": g.config({"lr": 0.01}, min(ids.values()), 1).to_dict(),
            "tags": g.tags(space, FINAL), "metric": g.metric, "mode": g.mode, "target": g.target, "report_epochs": [],
            "stack": [{"trial_id": tid, "seed": seed} for tid, seed in ids.items()]}
    outcomes = {o["trial_id"]: o for o in final_stacked(task)["outcomes"]}
    for tid, seed in ids.items():
        config = g.config({"lr": 0.01}, seed, 1).to_dict()
        alone = sweep_trial({**task, "stack": [], "trial_id": tid, "config": config, "out": str(tmp_path / "alone")})
        assert outcomes[tid]["status"] == alone["status"] == "ok"
        assert outcomes[tid]["score"] == pytest.approx(alone["score"], rel=1e-4)
        assert outcomes[tid]["objective"] == pytest.approx(alone["objective"], rel=1e-4)
    stacked, alone = ({r.trial_id: r for r in ResultStore(tmp_path / d).finished()} for d in ("stacked", "alone"))
    assert sorted(stacked) == sorted(alone) == sorted(ids)
    for tid in ids:
        mine, theirs = stacked[tid], alone[tid]
        assert mine.config == theirs.config and mine.config["seed"] == ids[tid]
        assert mine.tags.keys() == theirs.tags.keys() and mine.tags["phase"] == FINAL
        assert set(mine.final) == set(theirs.final) and mine.gradients == [] and theirs.gradients
        for key in ("test_acc", "test_loss", "best_val_loss", "best_epoch", "steps", "goal"):
            assert mine.final[key] == pytest.approx(theirs.final[key], rel=1e-4, abs=1e-6), (tid, key)
        for a, b in zip(mine.epochs, theirs.epochs, strict=True):
            assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4, abs=1e-6)


def test_a_stacked_run_that_fails_falls_back_to_one_trial_per_seed(tmp_path, monkeypatch):
    import bench.stacked
    import bench.train
    from bench.results import ResultStore
    from bench.search.trial import final_stacked

    def out_of_memory(cfg, seeds, data=None):
        raise RuntimeError("CUDA out of memory")

    def fake_run_trial(cfg, report=None, data=None):
        if cfg.seed == 2:
            raise ValueError("seed 2 breaks on its own too")
        return bench.train.TrialResult(cfg.to_dict(), "ok", {"test_acc": cfg.seed / 10}, [{"epoch": 1, "val_acc": 0.5}], [])

    monkeypatch.setattr(bench.stacked, "run_stacked", out_of_memory)
    monkeypatch.setattr(bench.train, "run_trial", fake_run_trial)
    task = {"out": str(tmp_path), "config": tiny(seed=1).to_dict(), "tags": {"phase": "final"}, "metric": "val_acc",
            "mode": "max", "target": "test_acc", "stack": [{"trial_id": f"s{s}", "seed": s} for s in (1, 2, 3)]}
    outcomes = final_stacked(task)["outcomes"]
    assert {o["trial_id"]: o["status"] for o in outcomes} == {"s1": "ok", "s2": "error", "s3": "ok"}
    parts = {r.trial_id: r for r in ResultStore(tmp_path).finished()}
    assert {tid: (r.config["seed"], r.tags["score"]) for tid, r in parts.items() if tid != "s2"} == {
        "s1": (1, 0.1), "s3": (3, 0.3)}
    assert parts["s2"].error.startswith("ValueError: seed 2 breaks") and parts["s2"].config["seed"] == 2
