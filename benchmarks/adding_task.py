"""Adding problem (Hochreiter & Schmidhuber 1997): do gated RNNs learn a long-range sum that a tanh RNN cannot?

Recipe: the `adding` workload (values ~ U[0,1] plus a marker channel, one mark per half), one recurrent layer
of 32 units, Adam lr 3e-3, gradient-norm clipping at 1, batch 64, at most 10,000 steps (64 epochs of 10,000
sequences). A run stops at the end of the first epoch whose validation MSE is below 1e-3 (solved); its test
MSE is then measured. The constant predictor (1.0) scores MSE 1/6 = 0.167.
Cells: gru, lstm (PyTorch's init), lstm-fb1 (forget-gate bias 1, Jozefowicz et al. 2015), rnn (tanh).

Claims, each checked over the seeds and printed with pass/fail:
  - a gated cell beats the baseline by 10x at T=50 (test MSE < 1/60) in at least 2 of 3 seeds;
  - the tanh RNN stays near the baseline at T=200 (test MSE > 1/12, i.e. less than 2x better) in at least 2 of 3.

    python benchmarks/adding_task.py                                  # gru, lstm-fb1, rnn at T=50 and 200
    python benchmarks/adding_task.py --cells gru,rnn --lengths 200 --max-steps 3000
    python benchmarks/adding_task.py --quick                          # a few steps: checks that it runs
Exits with status 1 when a claim fails.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch

from bench.config import TrialConfig
from bench.metrics import evaluate
from bench.models import build_model
from bench.train import Diverged, Trainer, seed_everything
from bench.workloads import load_data

BASELINE = 1 / 6
SOLVED = 1e-3  # validation MSE at which a run stops early
CELLS = {"gru": {"rnn_cell": "gru"}, "lstm": {"rnn_cell": "lstm"}, "lstm-fb1": {"rnn_cell": "lstm", "forget_bias": 1.0},
         "rnn": {"rnn_cell": "rnn"}}
RECIPE = {"workload": "adding", "width": 32, "depth": 1, "optimizer": "adam", "lr": 3e-3, "clip_norm": 1.0,
          "batch_size": 64, "probe_every": 0}


class Solved(Exception):
    """Raised from the epoch hook once the validation MSE is below SOLVED."""


def run(cell: str, seq_len: int, seed: int, max_steps: int, threads: int, n_train: int = 0) -> dict:
    """Train one model; returns its test MSE, steps and wall time (test MSE is NaN when it diverged)."""
    steps_per_epoch = math.ceil((n_train or 10_000) / RECIPE["batch_size"])
    cfg = TrialConfig.from_dict({**RECIPE, **CELLS[cell], "seq_len": seq_len, "seed": seed, "threads": threads,
                                 "max_steps": max_steps, "epochs": math.ceil(max_steps / steps_per_epoch), "n_train": n_train})
    torch.set_num_threads(threads)
    seed_everything(seed)
    data = load_data(cfg)
    model = build_model("rnn", cfg, data, cfg.rnn_cell)

    def stop_when_solved(row: dict) -> None:
        if row["epoch"] % 10 == 0:  # progress on runs that take many minutes
            print(f"    epoch {row['epoch']}  step {row['step']}  val_mse {row['val_mse']:.2e}", flush=True)
        if row["val_mse"] < SOLVED:
            raise Solved

    trainer = Trainer(cfg, data, model, torch.device("cpu"), stop_when_solved)
    t0, status = time.perf_counter(), "ok"
    try:
        trainer.fit()
    except Solved:
        status = "solved"
    except Diverged:
        status = "diverged"
    test = math.nan if status == "diverged" else evaluate(model, data.test, trainer.loss, data, trainer.forward,
                                                          "test")["test_mse"]
    return {"cell": cell, "T": seq_len, "seed": seed, "status": status, "test_mse": test, "steps": trainer.step,
            "seconds": time.perf_counter() - t0}


def claims(rows: list[dict]) -> list[tuple[str, str, bool]]:
    """(claim, measured, passed) for the two statements in the module docstring that the grid covers."""
    out = []
    by = lambda cell, T: [r["test_mse"] for r in rows if r["cell"] == cell and r["T"] == T]
    for cell in ("gru", "lstm", "lstm-fb1"):
        if mse := by(cell, 50):
            wins = sum(m < BASELINE / 10 for m in mse)
            out.append((f"{cell} beats 1/6 by 10x at T=50 in >= 2/3 of seeds", f"{wins}/{len(mse)}", 3 * wins >= 2 * len(mse)))
    if mse := by("rnn", 200):
        near = sum(not m < BASELINE / 2 for m in mse)  # NaN (diverged) counts as not learned
        out.append(("tanh rnn stays within 2x of 1/6 at T=200 in >= 2/3 of seeds", f"{near}/{len(mse)}",
                    3 * near >= 2 * len(mse)))
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", default="gru,lstm-fb1,rnn", help=f"comma-separated, from: {', '.join(CELLS)}")
    parser.add_argument("--lengths", default="50,200", help="sequence lengths T, comma-separated")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-steps", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="T=10, 20 steps on 256 sequences, one seed")
    args = parser.parse_args(argv)
    cells = args.cells.split(",")
    lengths, seeds = [int(t) for t in args.lengths.split(",")], [int(s) for s in args.seeds.split(",")]
    unknown = set(cells) - set(CELLS)
    if unknown:
        parser.error(f"unknown cell(s) {', '.join(sorted(unknown))}; choose from {', '.join(CELLS)}")
    if args.quick:
        lengths, seeds, args.max_steps = [10], seeds[:1], 20
    rows = []
    for T in lengths:
        for cell in cells:
            for seed in seeds:
                row = run(cell, T, seed, args.max_steps, args.threads, n_train=256 if args.quick else 0)
                rows.append(row)
                print(f"T={T:<4} {cell:<9} seed {seed}  {row['status']:<8} test_mse {row['test_mse']:.2e}  "
                      f"({row['test_mse'] / BASELINE:.3f} of baseline)  {row['steps']} steps  {row['seconds']:.0f}s", flush=True)
    print(f"\nbaseline (constant 1.0): test MSE {BASELINE:.4f}")
    for T in lengths:
        for cell in cells:
            mse = [r["test_mse"] for r in rows if r["cell"] == cell and r["T"] == T]
            print(f"T={T:<4} {cell:<9} median test MSE {statistics.median(mse):.2e}  runs: {', '.join(f'{m:.1e}' for m in mse)}")
    for claim, measured, passed in claims(rows):
        print(f"{'PASS' if passed else 'FAIL'}  {claim}: {measured}")
    return rows


if __name__ == "__main__":
    sys.exit(0 if all(passed for *_, passed in claims(main())) else 1)
