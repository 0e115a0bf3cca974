"""`bench study exploding`: the exploding-gradient literature on the adding problem, reproduced at CPU scale.

- Pascanu, Mikolov & Bengio 2013: a tanh RNN whose recurrent matrix has spectral radius 1.5 (> 1) has gradient-norm
  spikes; without clipping they show as loss spikes or NaN; clipping the gradient norm at 1 removes them and
  trains; success rate against sequence length with and without clipping.
- Hochreiter & Schmidhuber 1997, Le et al. 2015: the adding problem over T: tanh RNN vs LSTM vs GRU vs IRNN
  (ReLU RNN, identity recurrence) against the constant predictor's MSE 1/6.
- The seed FAQ (8.6): ReLU, batch normalization, "weight clipping" and Adam each mitigate exploding gradients;
  each is tested in an exploding net and set against gradient-norm clipping. BN has no place in the recurrent
  model, so it is tested on a 20-layer residual ReLU MLP without normalization and with unscaled branches
  (x + W relu(x), std sqrt(1/n) init: the forward signal grows x1.5 in variance per block), whose gradients explode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure

from bench.config import TrialConfig
from bench.models import build_model
from bench.probes import SPIKE_LIMIT, SPIKE_WINDOW, spike_ratio
from bench.search.protocol import budget_name
from bench.search.runners import Runner
from bench.status import TrialStatus
from bench.studies.common import (
    TUNE_SEED,
    TUNE_SEEDS,
    ClaimOutcome,
    Progress,
    Study,
    after_warmup,
    chosen_point,
    decide,
    fig_grad_norm_over_steps,
    fig_success_vs_length,
    final_train_loss,
    fmt,
    fmt_seeds,
    gradient_frame,
    log_lengths,
    loss_spike,
    panels,
    problem_gate,
    seed_count,
    step_series,
    theme,
)
from bench.train import TrialResult, seed_everything
from bench.workloads import load_data


@dataclass(frozen=True)
class Scale:
    """How big the study is at each size (its runs' steps and sequence lengths, its seeds): the scale of fixed experiments. Its
    trials run through the engine as configs with nothing to tune, so no protocol budget applies."""
    pascanu_steps: int  # at the stable LR, where training is judged
    unstable_steps: int  # at the unstable LR (the explosion comes within tens of steps)
    remedy_steps: int  # each FAQ remedy on the exploding RNN, at each LR of its grid
    lengths: tuple[int, ...]  # T for success vs length, tanh RNN with and without clipping
    cell_steps: int
    cell_lengths: tuple[int, ...]  # T for the cell comparison; must include CELL_T
    mlp_steps: int
    seeds: int


# The full cell comparison stops at T = 100: its claims are judged at CELL_T, and T = 200 alone took more than half of
# the cells' time (per step at T = 200 on one core: GRU 65 ms, tanh RNN 30 ms, IRNN 22 ms, LSTM 14 ms), which put
# the full-budget FAQ past two hours on 2 cores.
SCALES = {
    "full": Scale(pascanu_steps=3000, unstable_steps=1000, remedy_steps=2000, lengths=(10, 20, 50, 100),
                   cell_steps=3000, cell_lengths=(10, 50, 100), mlp_steps=500, seeds=5),
    "quick": Scale(pascanu_steps=800, unstable_steps=300, remedy_steps=400, lengths=(10, 20), cell_steps=3000,
                    cell_lengths=(30,), mlp_steps=200, seeds=5),
    "tiny": Scale(pascanu_steps=8, unstable_steps=8, remedy_steps=8, lengths=(4, 8), cell_steps=8, cell_lengths=(4, 8),
                   mlp_steps=6, seeds=1),
}

SPIKE_T = 10  # the Pascanu spike/clipping runs use a sequence short enough to learn in the budget
CELL_T = 50  # the cell comparison's claims are judged here, or at a smaller budget's largest T below it
SUCCESS = 0.1  # solved: test MSE below this fraction of the constant predictor's (1/6): a 10x improvement
LOSS_SPIKE = 10.0  # a loss spike: the mini-batch loss jumps above this multiple of its trailing median
WARMUP_FRAC = 0.1  # spikes are sought after the first 10% of a run's steps (start-up transient excluded)
STABLE_LR, UNSTABLE_LR = 0.03, 0.3  # SGD-momentum LRs: where clipping trains, and where unclipped SGD blows up
PASCANU = dict(workload="adding", rnn_cell="rnn", rnn_radius=1.5, width=50, depth=1, fc_width=50, optimizer="momentum",
               momentum=0.9, batch_size=64, probe_every=2)
CELLS = {  # label -> overrides; Adam 3e-3 with clipping at 1 (the workload catalogue's recipe), hidden 32
    "tanh RNN": dict(rnn_cell="rnn"),
    "LSTM": dict(rnn_cell="lstm", forget_bias=1.0),
    "GRU": dict(rnn_cell="gru"),
    "IRNN": dict(rnn_cell="irnn"),
}
CELL_RECIPE = dict(workload="adding", width=32, depth=1, fc_width=32, optimizer="adam", lr=3e-3, clip_norm=1.0,
                   batch_size=64, probe_every=50)
# Steps a cell needs before an unsolved run says anything about it (fewer: "untestable at this budget"). Measured at
# T = 30 with CELL_RECIPE, 5 seeds: the IRNN solves 0/5 at 800 steps, 3/5 at 1600, 4/5 at 3000 (Le et al. 2015 train
# it for 10^5+ steps); the LSTM solves 4/5 at 800. A cell not listed needs no more than the budget gives. The
# comparison "the tanh RNN fails" is symmetric: it is judged only at a budget that gives every reference cell the
# steps it needs, so the tanh RNN gets the same steps as the slowest reference that succeeds.
CELL_MIN_STEPS = {"IRNN": 3000}
REFERENCE_CELLS = ("LSTM", "GRU", "IRNN")  # the cells "the tanh RNN fails" is set against
SGD_LRS, ADAM_LRS = (0.01, 0.03, 0.1, 0.3), (1e-3, 3e-3, 1e-2)
WEIGHT_CLIPS = (0.2, 0.1, 0.05)  # max |W_hh| is about 0.38 at radius 1.5: +-1 would never act
# The remedies are judged where the problem exists (a negative control): at the problem LR, the smallest LR of the
# testbed's SGD grid at which the no-remedy arm blows up (NaN or a loss jump) on TUNE_SEED; on the judged seeds the
# no-remedy arm must show it again, else the claim is untestable. Each arm: label -> (claim key, overrides, grid of
# overrides tuned on TUNE_SEEDS by mean final validation MSE, the adding problem's metric and loss, at the problem LR
# unless the grid sets the LR). Adam sets its own LR: it replaces SGD-momentum at the setting where SGD blows up, and
# its step has another scale.
RNN_ARMS = {
    "none": ("", {}, [{}]),
    "gradient clipping": ("", {"clip_norm": 1.0}, [{}]),
    "ReLU (IRNN)": ("faq-relu", {"rnn_cell": "irnn"}, [{}]),  # Le et al. 2015's init
    "weight clipping": ("faq-weight-clip", {}, [{"weight_clip": c} for c in WEIGHT_CLIPS]),
    "Adam": ("faq-adam", {"optimizer": "adam"}, [{"lr": lr} for lr in ADAM_LRS]),
}
MLP_EXPLODING = dict(workload="mnist1d-mlp", depth=20, width=64, activation="relu", init="lecun", residual=True,
                     residual_scale=1.0, optimizer="momentum", lr=0.01, momentum=0.9, batch_size=128, probe_every=10)
MLP_LRS = (0.003, 0.01, 0.03, 0.1)
MLP_ARMS = {
    "none": ("", {}, [{}]),
    "gradient clipping": ("", {"clip_norm": 1.0}, [{}]),
    "batch normalization": ("faq-bn", {"batch_norm": True}, [{}]),
}
NO_WORSE = 1.5  # a remedy must also train: final train loss at most this multiple of gradient-norm clipping's

CRIT = {
    "spikes": f"after the warm-up (first {WARMUP_FRAC:.0%} of steps), the gradient norm at some probe step >= "
              f"{SPIKE_LIMIT:g}x the median of the {SPIKE_WINDOW} probe steps before it (NaN/inf counts), without "
              f"clipping, at both learning rates ({STABLE_LR:g} and {UNSTABLE_LR:g})",
    "loss": f"at lr {UNSTABLE_LR:g} without clipping: NaN, or the mini-batch loss jumps above {LOSS_SPIKE:g}x its "
            "trailing median after the warm-up",
    "clip-stable": f"at lr {UNSTABLE_LR:g} with clipping: no NaN and no loss jump above {LOSS_SPIKE:g}x its trailing "
                   "median after the warm-up",
    "clip-trains": f"at lr {STABLE_LR:g}: test MSE with clipping below the unclipped run's and below half the constant "
                  "baseline (1/12)",
    "length": f"success (test MSE < {SUCCESS:g} x baseline) with clipping at every T where the unclipped run succeeds, "
              "and at some T where it does not",
    "solves": f"test MSE < {SUCCESS:g} x the constant baseline 1/6 at T = {CELL_T} (a smaller budget: its largest T); "
              "a cell that does not solve it is judged only at a budget of at least the steps it was measured to need "
              f"({', '.join(f'{k} {v}' for k, v in CELL_MIN_STEPS.items())})",
    "fails": f"test MSE >= {SUCCESS:g} x the constant baseline at T = {CELL_T} (a smaller budget: its largest T), after "
             f"the same steps as the {', '.join(REFERENCE_CELLS)} references; judged only at a budget that gives every "
             "reference the steps it was measured to need, and only where every reference solves it",
    "clip-mitigates": f"on each exploding net (tanh RNN, residual MLP) at its problem LR: no NaN and no loss jump above "
                      f"{LOSS_SPIKE:g}x its trailing median after the warm-up with clipping; judged only where the "
                      "unclipped run shows the problem (NaN or such a jump) in at least 80% of the seeds on both nets",
    "mitigates": f"at the problem LR (the smallest SGD LR of the grid at which the no-remedy net blows up on a separate "
                 f"tuning seed; Adam at its own LR from {ADAM_LRS}, weight clipping at its threshold from "
                 f"{WEIGHT_CLIPS}, each picked by its workload's mean final validation score, MSE on the adding problem "
                 "and accuracy on MNIST-1D, over that seed and a second tuning seed): "
                 f"no NaN, no loss jump above "
                 f"{LOSS_SPIKE:g}x its trailing median after the warm-up, and final train loss <= {NO_WORSE:g}x that of "
                 "gradient-norm clipping (threshold 1) at the same setting and seed; judged only where the no-remedy "
                 "arm shows the problem (NaN or such a jump) at that setting in at least 80% of the judged seeds",
}


def run(quick: bool = False, seeds: int | None = None, out: Path = Path("reports/studies"), progress: Progress = print,
        size: str | None = None, runner: Runner | None = None, resume: bool = False,
        force: bool = False) -> pd.DataFrame:
    """Run the study and write reports under out/exploding/; returns the claims table.

    Columns: common.CLAIM_COLUMNS. `size` ("tiny", "quick", "full") overrides `quick`.
    """
    size = budget_name(quick, size)
    budget = SCALES[size]
    notes = (f"Adding problem (Hochreiter & Schmidhuber 1997; 10,000 training sequences). Tanh RNN, hidden 50, spectral "
             f"radius 1.5, SGD momentum 0.9: {budget.pascanu_steps} steps at lr {STABLE_LR:g} (T in {budget.lengths}), "
             f"{budget.unstable_steps} at lr {UNSTABLE_LR:g} (T = {SPIKE_T}); the FAQ's remedies {budget.remedy_steps} "
             f"steps each at the problem LR (the smallest of {SGD_LRS} where the net without a remedy blows up on a "
             f"separate seed; Adam at its own LR from {ADAM_LRS}); cells hidden 32, Adam 3e-3 + clipping, "
             f"{budget.cell_steps} steps at T in {budget.cell_lengths}. "
             + ("Quick mode: fewer steps and lengths than the full study (the papers train for 10^5-10^6 steps)."
                if size != "full" else "The papers train for 10^5-10^6 steps; this study for thousands."))
    study = Study("exploding", out, size, seed_count(budget, seeds), progress, notes, runner, resume,
                  force)
    pascanu = pascanu_runs(study, budget)
    pascanu_claims(study, pascanu, budget)
    lengths = length_runs(study, budget, pascanu)
    cells = cell_runs(study, budget)
    cell_claims(study, cells, budget)
    mitigations = mitigation_runs(study, budget)
    success = pd.concat([success_frame(lengths), success_frame(cells, " (Adam + clip 1)")], ignore_index=True)
    study.add_table("adding_by_length", success, "per config, sequence length T and seed: test MSE, the constant "
                    "predictor's, and whether the task was solved (the length figures)")
    return study.finish(figures(pascanu, success, mitigations), CAPTIONS)


# --- Pascanu et al.: spikes and clipping ----------------------------------------------------------------------

def pascanu_settings(budget: Scale, lr: float, clip: bool, T: int = SPIKE_T) -> dict:
    steps = budget.pascanu_steps if lr == STABLE_LR else budget.unstable_steps
    return {**PASCANU, "seq_len": T, "lr": lr, "clip_norm": 1.0 if clip else 0.0, "max_steps": steps}


def warmup(settings: dict) -> int:
    return int(WARMUP_FRAC * settings["max_steps"])


def pascanu_runs(study: Study, budget: Scale) -> dict[str, list[TrialResult]]:
    arms = {f"lr {lr:g}{', clip 1' if clip else ''}": (f"tanh-rnn/lr={lr:g}/clip={int(clip)}/T={SPIKE_T}",
                                                       pascanu_settings(budget, lr, clip))
            for lr in (STABLE_LR, UNSTABLE_LR) for clip in (False, True)}
    runs = study.batch(dict(arms.values()))
    return {name: runs[label] for name, (label, _) in arms.items()}


def mse_of(result: TrialResult) -> float:
    return float(result.final.get("test_mse", math.inf)) if result.status == TrialStatus.OK else math.inf


def baseline_mse(T: int) -> float:
    return float(load_data(TrialConfig(workload="adding", seq_len=T)).baseline["test_mse"])


def grad_spike(result: TrialResult, wu: int) -> float:
    """Largest gradient norm over the median of the probe steps just before it (probes.spike_ratio), after the warm-up;
    inf for a run that diverged (it may not outlive the warm-up). The median of the earlier probes, not of the whole
    run: the norm drifts up as the net learns (4x from the first to the last quarter at lr 0.03), and a slow drift is
    not a spike."""
    if result.status == TrialStatus.DIVERGED:
        return math.inf
    norms = after_warmup(result, "total_grad_norm", wu)
    return math.inf if not np.all(np.isfinite(norms)) else spike_ratio(norms)


def pascanu_claims(study: Study, runs: dict[str, list[TrialResult]], budget: Scale) -> None:
    lo, hi = f"lr {STABLE_LR:g}", f"lr {UNSTABLE_LR:g}"
    wu = {lo: warmup(pascanu_settings(budget, STABLE_LR, False)), hi: warmup(pascanu_settings(budget, UNSTABLE_LR, False))}
    spikes = {k: [grad_spike(r, wu[k]) for r in runs[k]] for k in (lo, hi)}
    control = [grad_spike(r, wu[lo]) for r in runs[f"{lo}, clip 1"]]
    study.claim("pascanu-spikes", "A tanh RNN with recurrent spectral radius 1.5 (> 1) has exploding gradients: the "
                "gradient norm spikes during training", "Pascanu et al. 2013, Sec. 2-3", CRIT["spikes"],
                f"largest gradient norm / median of the {SPIKE_WINDOW} probes before it, after step {wu[lo]} / "
                f"{wu[hi]}, without clipping: {lo} {fmt_seeds(spikes[lo])}, {hi} {fmt_seeds(spikes[hi])}; for scale, "
                f"the clipped runs' (norm before clipping) at {lo}: {fmt_seeds(control)}",
                [a >= SPIKE_LIMIT and b >= SPIKE_LIMIT for a, b in zip(spikes[lo], spikes[hi], strict=True)])
    free = [loss_spike(r, wu[hi]) for r in runs[hi]]
    clipped = [loss_spike(r, wu[hi]) for r in runs[f"{hi}, clip 1"]]
    nan_free = sum(r.status == TrialStatus.DIVERGED for r in runs[hi])
    study.claim("pascanu-loss", "Without clipping the gradient explosions show as loss spikes or NaN",
                "Pascanu et al. 2013, Sec. 3", CRIT["loss"],
                f"largest loss jump / trailing median {fmt_seeds(free)}; NaN in {nan_free}/{len(free)} seeds",
                [s >= LOSS_SPIKE for s in free])
    nan_clip = sum(r.status == TrialStatus.DIVERGED for r in runs[f"{hi}, clip 1"])
    study.claim("pascanu-clip-stable", "Clipping the gradient norm at 1 removes the loss spikes and NaN",
                "Pascanu et al. 2013, Sec. 3.2", CRIT["clip-stable"],
                f"with clipping: largest loss jump / trailing median {fmt_seeds(clipped)}; NaN in {nan_clip}/"
                f"{len(clipped)} seeds", [s < LOSS_SPIKE for s in clipped])
    free, clipped = [mse_of(r) for r in runs[lo]], [mse_of(r) for r in runs[f"{lo}, clip 1"]]
    half = baseline_mse(SPIKE_T) / 2
    study.claim("pascanu-clip-trains", "With clipping, SGD trains the exploding RNN", "Pascanu et al. 2013, Sec. 5",
                CRIT["clip-trains"], f"T = {SPIKE_T}, test MSE without clipping {fmt_seeds(free)}, with clipping "
                f"{fmt_seeds(clipped)} (constant baseline {fmt(2 * half)})",
                [c < f and c < half for c, f in zip(clipped, free, strict=True)])


def length_runs(study: Study, budget: Scale, pascanu: dict[str, list[TrialResult]]) -> dict[tuple[str, int], list]:
    """Success against T at the stable LR, with and without clipping (the T = SPIKE_T runs are reused)."""
    arms = {("tanh RNN, SGD + clip 1" if clip else "tanh RNN, SGD", T):
            (clip, f"tanh-rnn/lr={STABLE_LR:g}/clip={int(clip)}/T={T}") for clip in (False, True) for T in budget.lengths}
    trained = study.batch({name: pascanu_settings(budget, STABLE_LR, clip, T)
                           for (_, T), (clip, name) in arms.items() if T != SPIKE_T})
    runs = {(label, T): pascanu[f"lr {STABLE_LR:g}{', clip 1' if clip else ''}"] if T == SPIKE_T else trained[name]
            for (label, T), (clip, name) in arms.items()}
    solved = lambda label, T: [mse_of(r) < SUCCESS * baseline_mse(T) for r in runs[(label, T)]]
    with_clip = [solved("tanh RNN, SGD + clip 1", T) for T in budget.lengths]  # [T][seed]
    without = [solved("tanh RNN, SGD", T) for T in budget.lengths]
    per_seed = [all(c[s] >= f[s] for c, f in zip(with_clip, without, strict=True))
                and any(c[s] > f[s] for c, f in zip(with_clip, without, strict=True)) for s in range(len(study.seeds))]
    rate = lambda flags: float(np.mean(flags))
    study.claim("pascanu-length", "Clipping lets the tanh RNN solve the adding problem at a sequence length where it "
                "fails without clipping, and loses none of the lengths it solves without",
                "Pascanu et al. 2013, Sec. 5, Fig. 7", CRIT["length"],
                f"T = {budget.lengths}: success rate without clipping {fmt_seeds(map(rate, without))}, with "
                f"{fmt_seeds(map(rate, with_clip))}", per_seed)
    return runs


# --- the adding problem across cells ------------------------------------------------------------------------------

def cell_runs(study: Study, budget: Scale) -> dict[tuple[str, int], list[TrialResult]]:
    runs = study.batch({f"{label}/T={T}": {**CELL_RECIPE, **overrides, "seq_len": T, "max_steps": budget.cell_steps}
                        for T in budget.cell_lengths for label, overrides in CELLS.items()})
    return {(label, T): runs[f"{label}/T={T}"] for T in budget.cell_lengths for label in CELLS}


def cell_claims(study: Study, cells: dict[tuple[str, int], list[TrialResult]], budget: Scale) -> None:
    T = max([t for t in budget.cell_lengths if t <= CELL_T] or budget.cell_lengths)
    limit = SUCCESS * baseline_mse(T)
    mse = {label: [mse_of(r) for r in cells[(label, T)]] for label in CELLS}
    sources = {"LSTM": ("lstm-adding", "Hochreiter & Schmidhuber 1997"),
               "GRU": ("gru-adding", "Cho et al. 2014; Chung et al. 2014"),
               "IRNN": ("irnn-adding", "Le et al. 2015, Sec. 4.1")}
    for label, (key, source) in sources.items():
        flags = [m < limit for m in mse[label]]
        study.claim(key, f"{label} solves the adding problem at T = {T}", source, CRIT["solves"],
                    f"test MSE {fmt_seeds(mse[label])} (solved below {fmt(limit)})", flags,
                    too_short(label, budget, flags))
    study.claim("rnn-adding-fails", f"A tanh RNN fails the adding problem at T = {T} within {budget.cell_steps} steps, "
                f"the budget in which the {', '.join(REFERENCE_CELLS)} solve it", "Hochreiter & Schmidhuber 1997; Le "
                "et al. 2015", CRIT["fails"], f"test MSE {fmt_seeds(mse['tanh RNN'])} (solved below {fmt(limit)}), "
                f"all cells {budget.cell_steps} steps",
                [m >= limit for m in mse["tanh RNN"]], references_gate(budget, T, mse, limit))


def references_gate(budget: Scale, T: int, mse: dict[str, list[float]], limit: float) -> str:
    """Why "the tanh RNN fails" cannot be judged here ("" when it can): every reference cell gets the steps it was
    measured to need (the same budget the tanh RNN gets), and every reference solves the task at that budget."""
    short = [f"the {c} needs about {CELL_MIN_STEPS[c]}" for c in REFERENCE_CELLS
             if CELL_MIN_STEPS.get(c, 0) > budget.cell_steps]
    if short:
        return (f"untestable at the {scale_name(budget)} budget: {', '.join(short)} steps here (measured) and this "
                f"budget gives every cell {budget.cell_steps}")
    unsolved = [c for c in REFERENCE_CELLS if decide([m < limit for m in mse[c]]) is not ClaimOutcome.PASS]
    return (f"untestable at the {scale_name(budget)} budget: the {', '.join(unsolved)} reference(s) did not solve T = "
            f"{T} in at least 80% of the seeds in {budget.cell_steps} steps") if unsolved else ""


def too_short(label: str, budget: Scale, flags: list[bool]) -> str:
    """Why an unsolved cell cannot be judged at this budget ("" when it can): success is evidence at any budget, a
    failure only at one that gives the cell the steps it was measured to need."""
    need = CELL_MIN_STEPS.get(label, 0)
    if decide(flags) is ClaimOutcome.PASS or budget.cell_steps >= need:
        return ""
    return (f"untestable at the {scale_name(budget)} budget: the {label} needs about {need} steps here (measured) "
            f"and this budget gives {budget.cell_steps}")


def scale_name(budget: Scale) -> str:
    return next(name for name, b in SCALES.items() if b == budget)


# --- the FAQ's mitigations ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Testbed:
    """An exploding net the FAQ's remedies are tried on."""
    group: str  # label prefix of its runs
    base: dict  # its settings without a remedy
    lrs: tuple[float, ...]  # the SGD grid the problem LR is picked from
    arms: dict  # label -> (claim key, overrides, grid), as RNN_ARMS
    trivial: float  # the trivial predictor's train loss, for scale
    words: str


def shows_problem(result: TrialResult, wu: int) -> bool:
    """The explosion the remedies are claimed to fix: NaN (diverged), or a loss jump after the warm-up."""
    return result.status == TrialStatus.DIVERGED or loss_spike(result, wu) >= LOSS_SPIKE


def stable(result: TrialResult, wu: int) -> bool:
    return result.status == TrialStatus.OK and loss_spike(result, wu) < LOSS_SPIKE


def problem_lr(testbed: Testbed, control: dict[float, TrialResult], wu: int) -> float:
    """The smallest LR of the grid at which the no-remedy arm blew up on the tuning seed (the largest if none did:
    the judged seeds then show no problem and the claims say so)."""
    return next((lr for lr in sorted(testbed.lrs) if shows_problem(control[lr], wu)), max(testbed.lrs))


def pick(grid: list[dict], tuned: list[list[TrialResult]]) -> dict:
    """The grid point the study's selection rule picks (common.chosen_point: best mean final validation score of its
    workload, MSE or accuracy, over its runs on TUNE_SEEDS; ties: the first; a diverged run loses), never on the
    seeds the claim is judged on."""
    return chosen_point(list(zip(grid, tuned, strict=True)))


def remedy_points(study: Study, testbeds: dict[str, Testbed], lrs: dict[str, float]) -> dict[tuple[str, str], dict]:
    """Each arm's setting: at its testbed's problem LR, the grid point picked on TUNE_SEEDS (grids of one point need no
    tuning run)."""
    point = lambda name, g: {"lr": lrs[name], **g}
    label = lambda name, arm, g: f"{testbeds[name].group}/{arm}/tune/{setting_name(point(name, g))}"
    multi = {(name, arm): grid for name, tb in testbeds.items() for arm, (_, _, grid) in tb.arms.items() if len(grid) > 1}
    runs = study.batch({label(name, arm, g): arm_settings(testbeds[name], arm, point(name, g))
                        for (name, arm), grid in multi.items() for g in grid}, list(TUNE_SEEDS))
    chosen = {}
    for name, tb in testbeds.items():
        for arm, (_, _, grid) in tb.arms.items():
            g = pick(grid, [runs[label(name, arm, g)] for g in grid]) if (name, arm) in multi else grid[0]
            chosen[(name, arm)] = point(name, g)
    return chosen


def arm_settings(testbed: Testbed, arm: str, point: dict) -> dict:
    return {**testbed.base, **testbed.arms[arm][1], **point}


def setting_name(point: dict) -> str:
    return ",".join(f"{k}={v:g}" for k, v in point.items())


def mitigation_runs(study: Study, budget: Scale) -> dict[str, dict[str, list]]:
    """Each FAQ remedy on an exploding net at the problem LR (where the net without a remedy blows up), judged
    against that no-remedy arm (it must show the problem) and gradient-norm clipping at the same setting."""
    testbeds = {"tanh RNN": Testbed("tanh-rnn", {**PASCANU, "seq_len": SPIKE_T, "max_steps": budget.remedy_steps,
                                                 "probe_every": 5}, SGD_LRS, RNN_ARMS, baseline_mse(SPIKE_T),
                                    f"tanh RNN (radius 1.5, SGD momentum, T = {SPIKE_T})"),
                "residual MLP": Testbed("residual-mlp", {**MLP_EXPLODING, "max_steps": budget.mlp_steps}, MLP_LRS,
                                        MLP_ARMS, math.log(10), "20-layer residual ReLU MLP, unscaled branches, no "
                                        "normalization (SGD momentum)")}
    control = study.batch({f"{tb.group}/none/tune/lr={lr:g}": {**tb.base, "lr": lr}
                           for tb in testbeds.values() for lr in tb.lrs}, [TUNE_SEED])
    lrs = {name: problem_lr(tb, {lr: control[f"{tb.group}/none/tune/lr={lr:g}"][0] for lr in tb.lrs}, warmup(tb.base))
           for name, tb in testbeds.items()}
    points = remedy_points(study, testbeds, lrs)
    finals = study.batch({f"{testbeds[name].group}/{arm}/{setting_name(p)}": arm_settings(testbeds[name], arm, p)
                          for (name, arm), p in points.items()})
    out = {}
    for name, tb in testbeds.items():
        runs = {arm: finals[f"{tb.group}/{arm}/{setting_name(points[(name, arm)])}"] for arm in tb.arms}
        out[name] = runs
        for arm, (key, _, _) in tb.arms.items():
            if key:
                mitigation_claim(study, key, arm, {a: (points[(name, a)], r) for a, r in runs.items()},
                                 tb.words + acted(arm, points[(name, arm)]), warmup(tb.base))
    clip_claim(study, {name: (lrs[name], warmup(tb.base)) for name, tb in testbeds.items()}, out)
    return out


def acted(label: str, point: dict) -> str:
    """For weight clipping: how much the chosen threshold changes the recurrent matrix at init (it must act)."""
    if "weight_clip" not in point:
        return ""
    cfg = TrialConfig.from_dict({**PASCANU, "seq_len": SPIKE_T, "seed": 0})
    seed_everything(0)
    w = build_model("rnn", cfg, load_data(cfg)).rnn.weight_hh_l0.detach()
    c = point["weight_clip"]
    radius = float(torch.linalg.eigvals(w.clamp(-c, c)).abs().max())
    return (f"; at init, clamping at {c:g} changes {float((w.abs() > c).float().mean()):.0%} of W_hh's entries "
            f"(max |W_hh| {float(w.abs().max()):.3f}) and leaves spectral radius {radius:.2f} (from 1.5)")


def control_gate(none: list[TrialResult], wu: int, where: str) -> str:
    """The negative control: why a remedy cannot be judged here ("" when it can): the no-remedy arm must show the
    problem in at least 80% of the judged seeds (common.problem_gate)."""
    return problem_gate([shows_problem(r, wu) for r in none],
                        f"without a remedy the {where} showed no explosion (NaN or loss jump) at this setting")


def clip_claim(study: Study, settings: dict[str, tuple[float, int]], runs: dict[str, dict[str, list[TrialResult]]]) -> None:
    """Gradient-norm clipping on both exploding nets at their problem LRs (the reference the remedies are set against),
    with the same negative control."""
    clipped = {n: [stable(r, settings[n][1]) for r in arms["gradient clipping"]] for n, arms in runs.items()}
    ok = [all(seed) for seed in zip(*clipped.values(), strict=True)]
    gates = [control_gate(runs[n]["none"], settings[n][1], f"{n} at lr {settings[n][0]:g}") for n in runs]
    measured = "; ".join(f"{n} at lr {lr:g}: unclipped NaN {sum(r.status == TrialStatus.DIVERGED for r in runs[n]['none'])}/"
                         f"{len(runs[n]['none'])}, loss jump {fmt_seeds(loss_spike(r, wu) for r in runs[n]['none'])}; "
                         f"clipped NaN {sum(r.status == TrialStatus.DIVERGED for r in runs[n]['gradient clipping'])}/"
                         f"{len(runs[n]['gradient clipping'])}, loss jump "
                         f"{fmt_seeds(loss_spike(r, wu) for r in runs[n]['gradient clipping'])}"
                         for n, (lr, wu) in settings.items())
    study.claim("grad-norm-clip", "Gradient-norm clipping (threshold 1) mitigates exploding gradients in both exploding "
                "nets (the reference the FAQ's remedies are set against)", "Pascanu et al. 2013", CRIT["clip-mitigates"],
                measured, ok, "; ".join(g for g in gates if g))


def mitigation_claim(study: Study, key: str, label: str, arms: dict[str, tuple[dict, list[TrialResult]]],
                     testbed: str, wu: int) -> None:
    def summary(name: str) -> str:
        point, rs = arms[name]
        return (f"{name} ({setting_name(point)}): NaN {sum(r.status == TrialStatus.DIVERGED for r in rs)}/{len(rs)}, loss jump "
                f"{fmt_seeds(loss_spike(r, wu) for r in rs)}, final train loss {fmt_seeds(final_train_loss(r) for r in rs)}")

    runs, reference, none = arms[label][1], arms["gradient clipping"][1], arms["none"][1]
    gate = control_gate(none, wu, f"net at lr {arms['none'][0]['lr']:g}")
    ok = [stable(r, wu) and final_train_loss(r) <= NO_WORSE * final_train_loss(c)
          for r, c in zip(runs, reference, strict=True)]
    study.claim(key, f"{label[0].upper() + label[1:]} mitigates exploding gradients", "seed FAQ 8.6", CRIT["mitigates"],
                f"{testbed} - " + "; ".join(summary(n) for n in (label, "none", "gradient clipping")), ok, gate)


# --- tables and figures ---------------------------------------------------------------------------------------

def success_frame(runs: dict[tuple[str, int], list[TrialResult]], suffix: str = "") -> pd.DataFrame:
    rows = []
    for (label, T), results in runs.items():
        limit = SUCCESS * baseline_mse(T)
        rows += [{"config": label + suffix, "T": T, "seed": seed, "test_mse": mse_of(r),
                  "baseline_mse": baseline_mse(T), "success": float(mse_of(r) < limit)} for seed, r in enumerate(results)]
    return pd.DataFrame(rows)


def fig_mse_vs_length(df: pd.DataFrame) -> Figure:
    fig, (ax,) = panels(1, "Adding problem: test MSE against sequence length", (7.0, 4.2))
    finite = df[np.isfinite(df["test_mse"])]
    sns.lineplot(data=finite, x="T", y="test_mse", hue="config", style="config", marker="o", errorbar=("pi", 100), ax=ax)
    base = df.groupby("T")["baseline_mse"].first()
    ax.plot(base.index, base.to_numpy(), "k--", lw=1, label="constant predictor")
    ax.plot(base.index, SUCCESS * base.to_numpy(), "k:", lw=1, label=f"solved (< {SUCCESS:g} x baseline)")
    ax.legend(fontsize=8)
    log_lengths(ax, sorted(df["T"].unique()))
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE")
    return fig


def loss_frame(runs: dict[str, list[TrialResult]]) -> pd.DataFrame:
    rows = []
    for label, results in runs.items():
        for seed, r in enumerate(results):
            steps = sorted({row["step"] for row in r.gradients})
            rows += [{"config": label, "seed": seed, "step": s, "loss": v}
                     for s, v in zip(steps, step_series(r, "loss"), strict=True) if np.isfinite(v)]
    return pd.DataFrame(rows, columns=["config", "seed", "step", "loss"])


def fig_loss_over_steps(df: pd.DataFrame) -> Figure:
    fig, (ax,) = panels(1, f"Tanh RNN (radius 1.5), lr {UNSTABLE_LR:g}: mini-batch loss with and without clipping",
                        (8.0, 4.2))
    sns.lineplot(data=df, x="step", y="loss", hue="config", units="seed", estimator=None, lw=0.9, ax=ax)
    ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("mini-batch MSE")
    return fig


@theme()
def figures(pascanu: dict[str, list[TrialResult]], success: pd.DataFrame,
            mitigations: dict[str, dict[str, list[TrialResult]]]) -> dict[str, Figure]:
    spikes = pd.concat([gradient_frame({k: v for k, v in pascanu.items() if k.startswith(f"lr {lr:g}")})
                        .assign(testbed=f"tanh RNN, radius 1.5, SGD momentum lr {lr:g}")
                        for lr in (STABLE_LR, UNSTABLE_LR)], ignore_index=True)
    remedies = pd.concat([gradient_frame(runs).assign(testbed=name) for name, runs in mitigations.items()],
                         ignore_index=True)
    unstable = {k: v for k, v in pascanu.items() if k.startswith(f"lr {UNSTABLE_LR:g}")}
    return {
        "grad_norm_over_steps": fig_grad_norm_over_steps(spikes[np.isfinite(spikes["total_grad_norm"])],
                                                         "Gradient norm of the exploding RNN, with and without clipping"),
        "loss_over_steps": fig_loss_over_steps(loss_frame(unstable)),
        "success_vs_length": fig_success_vs_length(success, "Adding problem: share of seeds solved against length"),
        "mse_vs_length": fig_mse_vs_length(success),
        "mitigations_grad_norm": fig_grad_norm_over_steps(remedies[np.isfinite(remedies["total_grad_norm"])],
                                                          "The FAQ's remedies for exploding gradients"),
    }


CAPTIONS = {  # what to see in each figure (the study page and the FAQ show them under the figure)
    "grad_norm_over_steps": "Spikes of several orders of magnitude are exploding gradients (Pascanu et al. 2013): "
                            "compare the unstable LR's panel with the stable one's, and the clipped line with the "
                            "unclipped (the norm is measured before clipping, so clipping bounds the step, not this "
                            "line).",
    "loss_over_steps": "At the unstable LR: without clipping the loss jumps up after a gradient spike (a line that "
                       "stops went NaN); with clipping it keeps falling.",
    "success_vs_length": "Share of seeds that solved the adding problem as the sequence grows: a line that stays at 1 "
                         "carries information across the whole sequence; one that drops to 0 loses it beyond that "
                         "length (Hochreiter & Schmidhuber 1997; Le et al. 2015).",
    "mse_vs_length": "Below the dotted line a model solved the task; on the dashed line (the constant predictor) it "
                     "learned nothing about the two marked numbers.",
    "mitigations_grad_norm": "Each remedy the FAQ names, in the exploding tanh RNN and the residual MLP: a remedy "
                             "works when its line stays low and level where 'none' spikes.",
}
