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
from matplotlib.figure import Figure

from bench.config import TrialConfig
from bench.probes import SPIKE_LIMIT
from bench.studies.common import (
    Progress,
    Study,
    fig_grad_norm_over_steps,
    fig_success_vs_length,
    final_train_loss,
    fmt,
    fmt_seeds,
    gradient_frame,
    log_lengths,
    loss_spike,
    majority,
    max_over_median,
    panels,
    resolve_size,
    step_series,
)
from bench.train import TrialResult
from bench.workloads import load_data


@dataclass(frozen=True)
class Budget:
    pascanu_steps: int  # at the stable LR, where training is judged
    unstable_steps: int  # at the unstable LR (the explosion comes within tens of steps) and for the FAQ remedies
    lengths: tuple[int, ...]  # T for success vs length, tanh RNN with and without clipping
    cell_steps: int
    cell_lengths: tuple[int, ...]  # T for the cell comparison; must include CELL_T
    mlp_steps: int
    seeds: int


BUDGETS = {
    "full": Budget(pascanu_steps=3000, unstable_steps=1000, lengths=(10, 20, 50, 100), cell_steps=3000,
                   cell_lengths=(10, 50, 100, 200), mlp_steps=500, seeds=3),
    "quick": Budget(pascanu_steps=800, unstable_steps=400, lengths=(10, 20), cell_steps=800, cell_lengths=(10, 30),
                    mlp_steps=200, seeds=2),
    "tiny": Budget(pascanu_steps=8, unstable_steps=8, lengths=(4, 8), cell_steps=8, cell_lengths=(4, 8), mlp_steps=6,
                   seeds=1),
}

SPIKE_T = 10  # the Pascanu spike/clipping runs use a sequence short enough to learn in the budget
CELL_T = 50  # the cell comparison's claims are judged here, or at a smaller budget's largest T below it
SUCCESS = 0.1  # solved: test MSE below this fraction of the constant predictor's (1/6): a 10x improvement
LOSS_SPIKE = 10.0  # a loss spike: the mini-batch loss jumps above this multiple of its trailing median
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
RNN_MITIGATIONS = {  # applied to the exploding tanh RNN (PASCANU at UNSTABLE_LR, no clipping)
    "ReLU": ("faq-relu", dict(rnn_cell="relu_rnn")),
    "weight clipping": ("faq-weight-clip", dict(weight_clip=1.0)),
    "Adam": ("faq-adam", dict(optimizer="adam", lr=3e-3)),
}
MLP_EXPLODING = dict(workload="mnist1d-mlp", depth=20, width=64, activation="relu", init="lecun", residual=True,
                     residual_scale=1.0, optimizer="momentum", lr=0.01, momentum=0.9, batch_size=128, probe_every=5)

CRIT = {
    "spikes": f"max / median gradient norm over training >= {SPIKE_LIMIT:g} without clipping, at both learning rates "
              f"({STABLE_LR:g} and {UNSTABLE_LR:g}), in the majority of seeds",
    "loss": f"at lr {UNSTABLE_LR:g} without clipping: NaN, or the mini-batch loss jumps above {LOSS_SPIKE:g}x its "
            "trailing median, in the majority of seeds",
    "clip-stable": f"at lr {UNSTABLE_LR:g} with clipping: no NaN and no loss jump above {LOSS_SPIKE:g}x its trailing "
                   "median, in every seed",
    "clip-trains": f"at lr {STABLE_LR:g}: test MSE with clipping below the unclipped run's and below half the constant "
                  "baseline (1/12), in the majority of seeds",
    "length": f"success (test MSE < {SUCCESS:g} x baseline) rate with clipping >= without at every T, and higher at "
              "some T",
    "solves": f"test MSE < {SUCCESS:g} x the constant baseline 1/6 at T = {CELL_T} (a smaller budget: its largest T) "
              "in the majority of seeds",
    "fails": f"test MSE >= {SUCCESS:g} x the constant baseline at T = {CELL_T} (a smaller budget: its largest T) in "
             "the majority of seeds",
    "clip-mitigates": f"on both exploding nets, in the majority of seeds: the unclipped run has NaN or a loss jump above "
                      f"{LOSS_SPIKE:g}x its trailing median, and the clipped run has neither",
    "mitigates": f"in the majority of seeds: no NaN, no loss jump above {LOSS_SPIKE:g}x its trailing median, and final "
                 "train loss <= 1.5x that of gradient-norm clipping (threshold 1) on the same exploding net and seed",
}


def run(quick: bool = False, seeds: int | None = None, out: Path = Path("reports/studies"), progress: Progress = print,
        size: str | None = None) -> pd.DataFrame:
    """Run the study and write reports under out/exploding/; returns the claims table.

    Columns: key, claim, source, criterion, measured, passed. `size` ("tiny", "quick", "full") overrides `quick`.
    """
    size = resolve_size(quick, size)
    budget = BUDGETS[size]
    notes = (f"Adding problem (Hochreiter & Schmidhuber 1997; 10,000 training sequences). Tanh RNN, hidden 50, spectral "
             f"radius 1.5, SGD momentum 0.9: {budget.pascanu_steps} steps at lr {STABLE_LR:g} (T in {budget.lengths}), "
             f"{budget.unstable_steps} at lr {UNSTABLE_LR:g} (T = {SPIKE_T}, also for the FAQ's remedies); "
             f"cells hidden 32, Adam 3e-3 + clipping, {budget.cell_steps} steps at T in {budget.cell_lengths}. "
             + ("Quick mode: fewer steps, lengths and seeds than the full study (the papers train for 10^5-10^6 steps)."
                if size != "full" else "The papers train for 10^5-10^6 steps; this study for thousands."))
    study = Study("exploding", out, size, budget.seeds if seeds is None else seeds, progress, notes)
    pascanu = pascanu_runs(study, budget)
    pascanu_claims(study, pascanu)
    lengths = length_runs(study, budget, pascanu)
    cells = cell_runs(study, budget)
    cell_claims(study, cells, budget)
    mitigations = mitigation_runs(study, budget, pascanu)
    success = pd.concat([success_frame(lengths), success_frame(cells, " (Adam + clip 1)")], ignore_index=True)
    study.tables["adding_by_length"] = success
    return study.finish(figures(pascanu, success, mitigations))


# --- Pascanu et al.: spikes and clipping ----------------------------------------------------------------------

def pascanu_settings(budget: Budget, lr: float, clip: bool, T: int = SPIKE_T) -> dict:
    steps = budget.pascanu_steps if lr == STABLE_LR else budget.unstable_steps
    return {**PASCANU, "seq_len": T, "lr": lr, "clip_norm": 1.0 if clip else 0.0, "max_steps": steps}


def pascanu_runs(study: Study, budget: Budget) -> dict[str, list[TrialResult]]:
    return {f"lr {lr:g}{', clip 1' if clip else ''}": study.trials(f"tanh-rnn/lr={lr:g}/clip={int(clip)}/T={SPIKE_T}",
                                                                  pascanu_settings(budget, lr, clip))
            for lr in (STABLE_LR, UNSTABLE_LR) for clip in (False, True)}


def mse_of(result: TrialResult) -> float:
    return float(result.final.get("test_mse", math.inf)) if result.status == "ok" else math.inf


def baseline_mse(T: int) -> float:
    return float(load_data(TrialConfig(workload="adding", seq_len=T)).baseline["test_mse"])


def pascanu_claims(study: Study, runs: dict[str, list[TrialResult]]) -> None:
    lo, hi = f"lr {STABLE_LR:g}", f"lr {UNSTABLE_LR:g}"
    spikes = {k: [max_over_median(step_series(r, "total_grad_norm")) for r in runs[k]] for k in (lo, hi)}
    study.claim("pascanu-spikes", "A tanh RNN with recurrent spectral radius 1.5 (> 1) has exploding gradients: the "
                "gradient norm spikes during training", "Pascanu et al. 2013, Sec. 2-3", CRIT["spikes"],
                f"max/median gradient norm without clipping: {lo} {fmt_seeds(spikes[lo])}, {hi} {fmt_seeds(spikes[hi])}",
                all(majority(s >= SPIKE_LIMIT for s in spikes[k]) for k in (lo, hi)))
    free, clipped = [loss_spike(r) for r in runs[hi]], [loss_spike(r) for r in runs[f"{hi}, clip 1"]]
    nan_free = sum(r.status == "diverged" for r in runs[hi])
    study.claim("pascanu-loss", "Without clipping the gradient explosions show as loss spikes or NaN",
                "Pascanu et al. 2013, Sec. 3", CRIT["loss"],
                f"largest loss jump / trailing median {fmt_seeds(free)}; NaN in {nan_free}/{len(free)} seeds",
                majority(s >= LOSS_SPIKE for s in free))
    nan_clip = sum(r.status == "diverged" for r in runs[f"{hi}, clip 1"])
    study.claim("pascanu-clip-stable", "Clipping the gradient norm at 1 removes the loss spikes and NaN",
                "Pascanu et al. 2013, Sec. 3.2", CRIT["clip-stable"],
                f"with clipping: largest loss jump / trailing median {fmt_seeds(clipped)}; NaN in {nan_clip}/"
                f"{len(clipped)} seeds", all(s < LOSS_SPIKE for s in clipped))
    free, clipped = [mse_of(r) for r in runs[lo]], [mse_of(r) for r in runs[f"{lo}, clip 1"]]
    half = baseline_mse(SPIKE_T) / 2
    study.claim("pascanu-clip-trains", "With clipping, SGD trains the exploding RNN", "Pascanu et al. 2013, Sec. 5",
                CRIT["clip-trains"], f"T = {SPIKE_T}, test MSE without clipping {fmt_seeds(free)}, with clipping "
                f"{fmt_seeds(clipped)} (constant baseline {fmt(2 * half)})",
                majority(c < f and c < half for c, f in zip(clipped, free, strict=True)))


def length_runs(study: Study, budget: Budget, pascanu: dict[str, list[TrialResult]]) -> dict[tuple[str, int], list]:
    """Success against T at the stable LR, with and without clipping (the T = SPIKE_T runs are reused)."""
    runs = {}
    for clip in (False, True):
        label = "tanh RNN, SGD + clip 1" if clip else "tanh RNN, SGD"
        for T in budget.lengths:
            runs[(label, T)] = (pascanu[f"lr {STABLE_LR:g}{', clip 1' if clip else ''}"] if T == SPIKE_T else
                                study.trials(f"tanh-rnn/lr={STABLE_LR:g}/clip={int(clip)}/T={T}",
                                             pascanu_settings(budget, STABLE_LR, clip, T)))
    rate = lambda label, T: float(np.mean([mse_of(r) < SUCCESS * baseline_mse(T) for r in runs[(label, T)]]))
    with_clip = [rate("tanh RNN, SGD + clip 1", T) for T in budget.lengths]
    without = [rate("tanh RNN, SGD", T) for T in budget.lengths]
    study.claim("pascanu-length", "Clipping raises the success rate of the tanh RNN at every sequence length",
                "Pascanu et al. 2013, Sec. 5, Fig. 7", CRIT["length"],
                f"T = {budget.lengths}: success without clipping {fmt_seeds(without)}, with {fmt_seeds(with_clip)}",
                all(c >= f for c, f in zip(with_clip, without, strict=True))
                and any(c > f for c, f in zip(with_clip, without, strict=True)))
    return runs


# --- the adding problem across cells ------------------------------------------------------------------------------

def cell_runs(study: Study, budget: Budget) -> dict[tuple[str, int], list[TrialResult]]:
    return {(label, T): study.trials(f"{label}/T={T}", {**CELL_RECIPE, **overrides, "seq_len": T,
                                                         "max_steps": budget.cell_steps})
            for T in budget.cell_lengths for label, overrides in CELLS.items()}


def cell_claims(study: Study, cells: dict[tuple[str, int], list[TrialResult]], budget: Budget) -> None:
    T = max([t for t in budget.cell_lengths if t <= CELL_T] or budget.cell_lengths)
    limit = SUCCESS * baseline_mse(T)
    mse = {label: [mse_of(r) for r in cells[(label, T)]] for label in CELLS}
    sources = {"LSTM": ("lstm-adding", "Hochreiter & Schmidhuber 1997"),
               "GRU": ("gru-adding", "Cho et al. 2014; Chung et al. 2014"),
               "IRNN": ("irnn-adding", "Le et al. 2015, Sec. 4.1")}
    for label, (key, source) in sources.items():
        study.claim(key, f"{label} solves the adding problem at T = {T}", source, CRIT["solves"],
                    f"test MSE {fmt_seeds(mse[label])} (solved below {fmt(limit)})", majority(m < limit for m in mse[label]))
    study.claim("rnn-adding-fails", f"A tanh RNN fails the adding problem at T = {T}", "Hochreiter & Schmidhuber 1997",
                CRIT["fails"], f"test MSE {fmt_seeds(mse['tanh RNN'])} (solved below {fmt(limit)})",
                majority(m >= limit for m in mse["tanh RNN"]))


# --- the FAQ's mitigations ------------------------------------------------------------------------------------

def mitigation_runs(study: Study, budget: Budget, pascanu: dict[str, list[TrialResult]]) -> dict[str, dict[str, list]]:
    """Each FAQ remedy on an exploding net, judged against gradient-norm clipping on the same net."""
    base = pascanu_settings(budget, UNSTABLE_LR, clip=False)
    rnn = {"none": pascanu[f"lr {UNSTABLE_LR:g}"], "gradient clipping": pascanu[f"lr {UNSTABLE_LR:g}, clip 1"]}
    for label, (key, overrides) in RNN_MITIGATIONS.items():
        rnn[label] = study.trials(f"tanh-rnn/lr={UNSTABLE_LR:g}/{label}", {**base, **overrides})
        mitigation_claim(study, key, label, rnn, f"tanh RNN (radius 1.5, SGD momentum lr {UNSTABLE_LR:g}, T = {SPIKE_T})")
    mlp_base = {**MLP_EXPLODING, "max_steps": budget.mlp_steps}
    mlp = {"none": study.trials("residual-mlp", mlp_base),
           "gradient clipping": study.trials("residual-mlp/clip=1", {**mlp_base, "clip_norm": 1.0}),
           "batch normalization": study.trials("residual-mlp/bn", {**mlp_base, "batch_norm": True})}
    mitigation_claim(study, "faq-bn", "batch normalization", mlp, "20-layer residual ReLU MLP without normalization "
                     "(SGD momentum lr 0.01)")
    testbeds = {"tanh RNN": rnn, "residual MLP": mlp}
    ok = {name: [c.status == "ok" and loss_spike(c) < LOSS_SPIKE and (n.status == "diverged" or loss_spike(n) >= LOSS_SPIKE)
                 for c, n in zip(runs["gradient clipping"], runs["none"], strict=True)] for name, runs in testbeds.items()}
    study.claim("grad-norm-clip", "Gradient-norm clipping (threshold 1) mitigates exploding gradients (the reference the "
                "FAQ's remedies are set against)", "Pascanu et al. 2013", CRIT["clip-mitigates"],
                "; ".join(f"{name}: meets it in {sum(flags)}/{len(flags)} seeds" for name, flags in ok.items()),
                all(majority(flags) for flags in ok.values()))
    return testbeds


def mitigation_claim(study: Study, key: str, label: str, runs: dict[str, list[TrialResult]], testbed: str) -> None:
    def summary(name: str) -> str:
        rs = runs[name]
        return (f"{name}: NaN {sum(r.status == 'diverged' for r in rs)}/{len(rs)}, loss jump "
                f"{fmt_seeds(loss_spike(r) for r in rs)}, final train loss {fmt_seeds(final_train_loss(r) for r in rs)}")

    ok = [r.status == "ok" and loss_spike(r) < LOSS_SPIKE and final_train_loss(r) <= 1.5 * final_train_loss(c)
          for r, c in zip(runs[label], runs["gradient clipping"], strict=True)]
    study.claim(key, f"{label[0].upper() + label[1:]} mitigates exploding gradients", "seed FAQ 8.6", CRIT["mitigates"],
                f"{testbed} - " + "; ".join(summary(n) for n in ("none", "gradient clipping", label)), majority(ok))


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
