"""The matmul peak and the achieved fraction of it, on a planted clock: exact FLOP/s, not plausible ranges."""
import itertools

import pytest
import torch

import bench.flops
from bench.train import Trainer
from tests.helpers import fast_cfg, tiny_bundle


def test_matmul_peak_counts_2_n_cubed_flops_per_matmul(monkeypatch):
    """Each call of the planted clock advances it by 0.25 s, so every timed matmul takes exactly 0.25 s."""
    ticks = itertools.count()
    monkeypatch.setattr(bench.flops.time, "perf_counter", lambda: next(ticks) * 0.25)
    n = 512  # the CPU measurement's matrix size
    assert bench.flops.measure_matmul_peak("cpu") == pytest.approx(2 * n ** 3 / 0.25)


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(16, 4)

    def forward(self, x, lengths=None):
        return self.lin(x.flatten(1))


def test_peak_fraction_is_achieved_over_peak(monkeypatch):
    monkeypatch.setattr(bench.train, "matmul_peak", lambda device, dtype: 4.0e9)
    data = tiny_bundle()
    trainer = Trainer(fast_cfg(), data, Linear(), torch.device("cpu"))
    assert trainer.flops_per_sample == 3 * 2 * 16 * 4 - 2 * 16 * 4  # forward + weight gradient, no input gradient
    trainer.flops_per_sample = 1000.0
    stats = trainer.flops_stats(samples_per_sec=500.0)
    assert stats == pytest.approx({"flops_per_sec": 5.0e5, "peak_fraction": 5.0e5 / 4.0e9})
