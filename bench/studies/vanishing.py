"""`bench study vanishing`: the vanishing-gradient literature, reproduced at CPU scale on MNIST-1D, claim by claim.

- Glorot & Bengio 2010: in a 5-hidden-layer MLP the back-propagated gradient Var[dL/ds] shrinks toward the input
  under the "standard" init U[-1/sqrt(n), 1/sqrt(n)] (theory: x n*Var[W] = 1/3 per layer) and stays about
  constant under their normalized init; sigmoid drives the top hidden layer toward 0 early in training.
- The seed FAQ (8.5): ReLU mitigates vanishing gradients, as Glorot & Bengio 2010, Nair & Hinton 2010 and He et al.
  2015 state it: each activation under its own init (He for ReLU, Xavier with gain 5/3 for tanh, Xavier for sigmoid),
  where sigmoid's gradients still vanish. The comparison under one shared init is kept, labelled as such.
- He et al. 2015: a 30-layer ReLU MLP with std sqrt(1/n) init collapses the activation scale and stalls; with
  std sqrt(2/n) it keeps the scale and trains.
- The seed FAQ (8.5): batch normalization and residual connections restore gradient flow in that stalled net;
  RMSprop "alleviates vanishing gradients" (tested: does it change the back-propagated gradients, or only the
  size of the updates?).
Init-time measurements use bench.models.build_model + bench.probes.measure; training runs use run_trial.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure

from bench.components.inits import apply_init
from bench.components.losses import cross_entropy
from bench.config import TrialConfig
from bench.data.base import DataBundle
from bench.models import build_model
from bench.probes import DEPTH_LIMIT, measure
from bench.search.protocol import budget_name
from bench.search.runners import Runner
from bench.status import TrialStatus
from bench.studies.common import (
    TUNE_SEEDS,
    Progress,
    Study,
    chosen_point,
    fig_by_depth,
    fig_grad_norm_over_steps,
    final_train_loss,
    fmt,
    fmt_seeds,
    geomean,
    gradient_frame,
    layer_series,
    panels,
    problem_gate,
    seed_count,
    theme,
)
from bench.train import TrialResult, seed_everything
from bench.workloads import load_data


@dataclass(frozen=True)
class Scale:
    """How big the study is at each size (its nets' widths and runs' steps, its seeds): the scale of fixed experiments. Its
    trials run through the engine as configs with nothing to tune, so no protocol budget applies."""
    gb_width: int  # width of the 5-hidden-layer nets (Glorot & Bengio used 1000)
    probe_batch: int  # samples in one init-time measurement
    sat_width: int  # width of the sigmoid net trained for the saturation claim
    sat_steps: int
    deep_width: int  # width of the 30-layer ReLU nets
    scale_width: int  # width of the 30-layer nets whose activation scale is measured at init (no training)
    deep_steps: int
    probe_every: int
    seeds: int  # default number of seeds


SCALES = {
    "full": Scale(gb_width=1000, probe_batch=512, sat_width=512, sat_steps=1000, deep_width=256, scale_width=256,
                   deep_steps=2000, probe_every=20, seeds=5),
    "quick": Scale(gb_width=1000, probe_batch=256, sat_width=256, sat_steps=300, deep_width=64, scale_width=256,
                    deep_steps=300, probe_every=10, seeds=5),
    "tiny": Scale(gb_width=32, probe_batch=32, sat_width=16, sat_steps=12, deep_width=8, scale_width=8, deep_steps=12,
                   probe_every=3, seeds=1),
}

WORKLOAD = "mnist1d-mlp"
GB_DEPTH = 5
GB_THEORY = (1 / 3) ** (GB_DEPTH - 1)  # n Var[W] = n * (1/sqrt(n))^2 / 3 = 1/3 per layer between layers 1 and 5
DEEP_DEPTH = 30
# Init-time nets: label -> (init registry name, gain; None = the activation's own gain as the registry applies it).
GB_INITS = {"standard": ("standard", None), "normalized": ("xavier", 1.0), "xavier": ("xavier", None),
            "kaiming": ("kaiming", None)}
SAT_RECIPE = dict(workload=WORKLOAD, depth=GB_DEPTH, activation="sigmoid", init="standard", optimizer="sgd", lr=0.5,
                  batch_size=32)
DEEP_RECIPE = dict(workload=WORKLOAD, depth=DEEP_DEPTH, activation="relu", optimizer="momentum", lr=0.01, momentum=0.9,
                   batch_size=128)
DEEP_VARIANTS = {  # label -> overrides of DEEP_RECIPE; "lecun" is He et al.'s stalling net and the baseline of the rest
    "lecun": dict(init="lecun"),
    "kaiming": dict(init="kaiming"),
    "lecun+bn": dict(init="lecun", batch_norm=True),
    "lecun+residual": dict(init="lecun", residual=True),
    "lecun+residual+bn": dict(init="lecun", residual=True, batch_norm=True),
}
# The init each activation is compared under for the ReLU claim: a GB_INITS label, whose gain is the activation's own
# (relu sqrt 2: He et al. 2015; tanh 5/3: Xavier as PyTorch recommends for tanh; sigmoid 1: Glorot & Bengio's init).
OWN_INIT = {"relu": "kaiming", "tanh": "xavier", "sigmoid": "xavier"}
OWN_INIT_NAMES = {"relu": "He", "tanh": "Xavier gain 5/3", "sigmoid": "Xavier gain 1"}
# The FAQ's earlier comparison: one init scale for all three activations (Glorot & Bengio's two, both designed around
# tanh). Its third init, kaiming, gives each activation its own gain, which is what OWN_INIT now compares.
SHARED_INITS = ("standard", "normalized")
# Each optimizer gets the same two-point LR grid, a decade apart around its usual LR, tried on TUNE_SEEDS; the point
# with the better mean final validation accuracy there (common.chosen_point) is the one judged on the study's seeds.
LR_GRID = {"momentum": (0.01, 0.1), "rmsprop": (1e-4, 1e-3)}
# Same weights and same mini-batch give the same back-propagated gradient whatever the optimizer: at step 1 the two
# arms may differ only by floating-point noise.
FIRST_STEP_TOL = 0.01
CHANCE_LOSS = math.log(10)  # cross-entropy of the uniform prediction over MNIST-1D's 10 classes
TRAINED = 0.9  # a net whose final train loss stays above this fraction of chance has not trained

CRIT = {
    "gb-standard": f"Var ratio layer 1 / layer 5 <= (1/3)^4 = {GB_THEORY:.4f} (linear-regime theory; tanh' <= 1 makes "
                   "it an upper bound) and per-layer factor ratio^(1/4) >= 1/6",
    "gb-normalized": "Var ratio layer 1 / layer 5 within [0.25, 4] (about constant across depth)",
    "gb-sigmoid": "after training, top (5th) hidden layer mean output <= 0.1 (from 0.5 at init) while hidden layers 1-3 "
                  "keep means within [0.4, 0.6]",
    "relu": "each activation under its own init (ReLU: He N(0, 2/n); tanh: Xavier with gain 5/3; sigmoid: Xavier with "
            "gain 1): ReLU's layer-1/layer-5 Var ratio within [0.25, 4] and closer to 1 (in log) than tanh's and "
            "sigmoid's, while sigmoid's is below 0.25 (it vanishes even under its own init)",
    "relu-shared": "under each init shared by all three activations with one scale (standard, normalized), ReLU's "
                   "layer-1/layer-5 Var ratio is closer to 1 (in log) than tanh's and sigmoid's",
    "he-scale": "activation std last / first hidden layer at init <= 1e-3 with std sqrt(1/n) and within [0.3, 3] with "
                "He init, in nets of the full study's width (a measurement at init trains nothing)",
    "he-train": "final train loss with He init below that with std sqrt(1/n)",
    "restore": f"median over probe steps of back-propagated RMS ratio first / last hidden layer within "
               f"[{DEPTH_LIMIT:g}, {1 / DEPTH_LIMIT:g}] and final train loss below the plain net's (same seed)",
    "rms-train": f"RMSprop ends with a lower train loss than SGD-momentum and below {TRAINED:g} x chance (ln 10; a net at "
                 "chance has not trained, whatever the last digits say), each at its LR picked from its grid by mean final "
                 "validation accuracy over two separate tuning seeds",
    "rms-updates": "median over probe steps of update/weight ratio first / last hidden layer within [0.1, 10] with "
                   "RMSprop and below 0.01 with SGD-momentum",
    "rms-backprop": f"back-propagated RMS ratio first / last hidden layer at step 1 (the shared init, probed before "
                    f"any update) equal to SGD's within {FIRST_STEP_TOL:.0%}, and at the last probe step >= "
                    f"{DEPTH_LIMIT:g} while SGD's stays below {DEPTH_LIMIT:g}",
}


def run(quick: bool = False, seeds: int | None = None, out: Path = Path("reports/studies"), progress: Progress = print,
        size: str | None = None, runner: Runner | None = None, resume: bool = False,
        force: bool = False) -> pd.DataFrame:
    """Run the study and write reports under out/vanishing/; returns the claims table.

    Columns: key, claim, source, criterion, measured, passed. `size` ("tiny", "quick", "full") overrides `quick`.
    """
    size = budget_name(quick, size)
    budget = SCALES[size]
    notes = (f"MNIST-1D (40 inputs, 10 classes). 5-hidden-layer nets of width {budget.gb_width}; 30-layer ReLU nets of "
             f"width {budget.deep_width} trained {budget.deep_steps} steps (SGD momentum 0.9, lr 0.01, batch 128); "
             f"sigmoid net width {budget.sat_width}, {budget.sat_steps} steps."
             + (" Quick mode: fewer steps and seeds than the full study." if size != "full" else ""))
    study = Study("vanishing", out, size, seed_count(budget, seeds), progress, notes, runner, resume,
                  force)
    torch.set_num_threads(1)  # like the trials (threads=1): init measurements on one core
    data = load_data(TrialConfig(workload=WORKLOAD))
    gb = init_profiles(study, data, budget)
    glorot_claims(study, gb)
    relu_claim(study, gb)
    sat = sigmoid_runs(study, budget)
    deep_init = deep_init_profiles(study, data, budget)
    scale = deep_init_profiles(study, data, budget, ("lecun", "kaiming"), budget.scale_width)
    grid = lr_grid()
    tuned = study.batch({f"tune/{label}": deep_settings(budget, overrides) for label, overrides in grid.items()},
                        list(TUNE_SEEDS))
    chosen = {best_lr(tuned, opt) for opt in LR_GRID} - set(DEEP_VARIANTS)
    deep = study.batch({label: deep_settings(budget, overrides)
                        for label, overrides in {**DEEP_VARIANTS, **{c: grid[c] for c in chosen}}.items()})
    he_claims(study, scale, deep_init, deep)
    restore_claims(study, deep_init, deep)
    rmsprop_claims(study, deep, tuned, lambda labels: first_step(study, budget, labels))
    study.add_table("init_layers", pd.concat([gb.assign(net="5-layer"), deep_init.assign(net="30-layer"),
                                              scale.assign(net="30-layer, scale claim")]),
                    "per net, activation, init, seed and hidden layer at init: back-propagated gradient variance and "
                    "activation statistics (the depth claims and their figures)")
    return study.finish(figures(gb, deep_init, sat, deep), CAPTIONS)


# --- init-time measurements ------------------------------------------------------------------------------------

def hidden_profile(rows: list[dict], depth: int) -> pd.DataFrame:
    """Per hidden block: back-propagated gradient mean square at its Linear output, and its activation statistics.

    The activation statistics are those of the block's last parameterised layer (Linear, or BN when present),
    which the probe assigns the following activation's output to.
    """
    df = pd.DataFrame(rows)
    out = []
    for i in range(depth):
        block = df[df["layer"].str.startswith(f"hidden.{i}.")].sort_values("depth")
        linear = block[block["layer"] == f"hidden.{i}.linear"].iloc[0]
        top = block.iloc[-1]
        out.append({"layer_index": i + 1, "grad_var": linear["out_grad_rms"] ** 2, "act_std": top["act_std"],
                    "act_mean": top["act_mean"], "sat_frac": top["sat_frac"]})
    return pd.DataFrame(out)


def profile_at_init(data: DataBundle, settings: dict, seed: int, batch: int, gain: float | None = None) -> pd.DataFrame:
    cfg = TrialConfig.from_dict({"workload": WORKLOAD, **settings})
    seed_everything(seed)
    model = build_model("mlp", cfg, data)
    if gain is not None:
        apply_init(model, cfg.init, gain)
    x, y = data.train.x[:batch], data.train.y[:batch]
    rows = measure(model, lambda out, target: cross_entropy(out, target, data.num_classes, 0.0), x, y)
    return hidden_profile(rows, cfg.depth)


def init_profiles(study: Study, data: DataBundle, budget: Scale) -> pd.DataFrame:
    """Glorot & Bengio's 5-layer nets at init: every activation x init x seed."""
    frames = []
    for activation in ("tanh", "sigmoid", "relu"):
        for label, (init, gain) in GB_INITS.items():
            settings = dict(width=budget.gb_width, depth=GB_DEPTH, activation=activation, init=init)
            for seed in study.seeds:
                frames.append(profile_at_init(data, settings, seed, budget.probe_batch, gain)
                              .assign(activation=activation, init=label, seed=seed))
    study.progress(f"  measured {len(frames)} 5-layer nets at init")
    return pd.concat(frames, ignore_index=True)


def depth_ratios(profiles: pd.DataFrame, column: str, **where: str) -> list[float]:
    """Per seed: gradients first / last hidden layer (vanishing < 1); activations last / first (collapse < 1)."""
    part = profiles.loc[np.logical_and.reduce([profiles[k] == v for k, v in where.items()])]
    ratios = []
    for _, run in part.groupby("seed"):
        run = run.sort_values("layer_index")
        first, last = run[column].iloc[0], run[column].iloc[-1]
        ratios.append(float(first / last) if column == "grad_var" else float(last / first))
    return ratios


def glorot_claims(study: Study, gb: pd.DataFrame) -> None:
    std = depth_ratios(gb, "grad_var", activation="tanh", init="standard")
    study.claim("gb-standard", "With the standard init U[-1/sqrt(n), 1/sqrt(n)] the back-propagated gradient variance "
                "of a 5-hidden-layer tanh MLP shrinks toward the input, about x1/3 per layer",
                "Glorot & Bengio 2010, Sec. 4.2.2", CRIT["gb-standard"],
                f"Var ratio layer 1 / layer 5 = {fmt_seeds(std)} (theory {GB_THEORY:.4f}); per-layer factor "
                f"{fmt(geomean(std) ** 0.25)}",
                [r <= GB_THEORY and r ** 0.25 >= 1 / 6 for r in std])
    norm = depth_ratios(gb, "grad_var", activation="tanh", init="normalized")
    xavier = depth_ratios(gb, "grad_var", activation="tanh", init="xavier")
    study.claim("gb-normalized", "With the normalized init U[+-sqrt(6/(n_in+n_out))] the back-propagated gradient "
                "variance stays about constant across the 5 tanh layers", "Glorot & Bengio 2010, Sec. 4.2.2",
                CRIT["gb-normalized"],
                f"Var ratio layer 1 / layer 5 = {fmt_seeds(norm)}; for reference, xavier with PyTorch's tanh gain 5/3 "
                f"(the registry's `xavier`): {fmt_seeds(xavier)}",
                [0.25 <= r <= 4 for r in norm])


def log_distance(ratios: list[float]) -> list[float]:
    """|log10 ratio| per seed: how far the layer-1/layer-5 ratio is from constant gradient variance."""
    return [abs(math.log10(r)) if r > 0 else math.inf for r in ratios]


def relu_own_init(gb: pd.DataFrame) -> tuple[list[bool], dict[str, list[float]]]:
    """Per seed: does ReLU under He init keep the gradient variance, closer to constant than tanh and sigmoid each
    under its own init, while sigmoid's still vanishes? Returns the flags and the ratios per activation."""
    ratio = {a: depth_ratios(gb, "grad_var", activation=a, init=init) for a, init in OWN_INIT.items()}
    dist = {a: log_distance(rs) for a, rs in ratio.items()}
    flags = [0.25 <= ratio["relu"][s] <= 4 and dist["relu"][s] < min(dist["tanh"][s], dist["sigmoid"][s])
             and ratio["sigmoid"][s] < 0.25 for s in range(len(ratio["relu"]))]
    return flags, ratio


def relu_shared_init(gb: pd.DataFrame, init: str) -> tuple[list[bool], dict[str, list[float]]]:
    """Per seed, all three activations under the same init: is ReLU's ratio the closest to 1?"""
    ratio = {a: depth_ratios(gb, "grad_var", activation=a, init=init) for a in OWN_INIT}
    dist = {a: log_distance(rs) for a, rs in ratio.items()}
    return [d < min(dist["tanh"][s], dist["sigmoid"][s]) for s, d in enumerate(dist["relu"])], ratio


def relu_claim(study: Study, gb: pd.DataFrame) -> None:
    ok, ratio = relu_own_init(gb)
    study.claim("faq-relu", "ReLU mitigates vanishing gradients: with each activation under its own init, ReLU's "
                "back-propagated gradient variance stays about constant across the 5 layers, closer to constant than "
                "tanh's and sigmoid's, while sigmoid's vanishes even under its own init",
                "seed FAQ 8.5; Glorot & Bengio 2010; Nair & Hinton 2010; He et al. 2015", CRIT["relu"],
                "Var ratio layer 1 / layer 5: " + "; ".join(f"{a} ({OWN_INIT_NAMES[a]}) {fmt_seeds(ratio[a])}" for a in OWN_INIT),
                ok)
    parts, shared = [], [True] * len(study.seeds)
    for init in SHARED_INITS:
        flags, ratio = relu_shared_init(gb, init)
        shared = [a and b for a, b in zip(shared, flags, strict=True)]
        parts.append(f"{init}: " + ", ".join(f"{a} {fmt(geomean(ratio[a]))}" for a in OWN_INIT))
    study.claim("relu-shared-init", "Not the literature's comparison: under an init shared by all three activations "
                "with one scale (Glorot & Bengio's standard and normalized, both designed around tanh), ReLU's "
                "gradient variance is closer to constant across the 5 layers than tanh's and sigmoid's",
                "this study (the FAQ's earlier test of 8.5)", CRIT["relu-shared"],
                "Var ratio layer 1 / layer 5 (geometric mean over seeds) - " + "; ".join(parts), shared)


def deep_init_profiles(study: Study, data: DataBundle, budget: Scale, labels: tuple[str, ...] = tuple(DEEP_VARIANTS),
                       width: int | None = None) -> pd.DataFrame:
    """The 30-layer variants at init, each seed (width: the trained nets' by default)."""
    frames = []
    for label in labels:
        settings = dict(DEEP_RECIPE, width=width or budget.deep_width, **DEEP_VARIANTS[label])
        for seed in study.seeds:
            frames.append(profile_at_init(data, settings, seed, budget.probe_batch)
                          .assign(init=label, seed=seed, width=settings["width"]))
    return pd.concat(frames, ignore_index=True)


# --- training runs ---------------------------------------------------------------------------------------------

def deep_settings(budget: Scale, overrides: dict) -> dict:
    return {**DEEP_RECIPE, "width": budget.deep_width, "max_steps": budget.deep_steps,
            "probe_every": budget.probe_every, **overrides}


def lr_grid() -> dict[str, dict]:
    """The optimizer LR grid on the stalling (std sqrt(1/n)) init; SGD-momentum at the recipe's LR is "lecun"."""
    name = lambda opt, lr: "lecun" if (opt, lr) == ("momentum", DEEP_RECIPE["lr"]) else f"lecun/{opt} lr={lr:g}"
    return {name(opt, lr): dict(init="lecun", optimizer=opt, lr=lr) for opt, lrs in LR_GRID.items() for lr in lrs}


def deep_variants() -> dict[str, dict]:
    """The architecture variants plus the optimizer LR grid, all on the stalling (std sqrt(1/n)) init."""
    return {**DEEP_VARIANTS, **lr_grid()}


def sigmoid_runs(study: Study, budget: Scale) -> list[TrialResult]:
    settings = dict(SAT_RECIPE, width=budget.sat_width, max_steps=budget.sat_steps,
                    probe_every=max(1, budget.sat_steps // 60))
    runs = study.trials("sigmoid", settings)
    layers = [f"hidden.{i}.linear" for i in range(GB_DEPTH)]
    means = [layer_series(r, "act_mean", layers).iloc[-1].to_numpy() for r in runs]
    sats = [layer_series(r, "sat_frac", layers).iloc[-1].to_numpy() for r in runs]
    study.claim("gb-sigmoid", "Sigmoid drives the top hidden layer toward saturation at 0 early in training while "
                "the lower layers stay near 0.5", "Glorot & Bengio 2010, Sec. 3.1, Fig. 2", CRIT["gb-sigmoid"],
                f"after {budget.sat_steps} steps (SGD lr {SAT_RECIPE['lr']}): top-layer mean "
                f"{fmt_seeds(m[-1] for m in means)}, saturated fraction {fmt_seeds(s[-1] for s in sats)}; layers 1-3 means "
                f"{fmt_seeds(m[:3].min() for m in means)} (min) to {fmt_seeds(m[:3].max() for m in means)} (max)",
                [m[-1] <= 0.1 and np.all((m[:3] >= 0.4) & (m[:3] <= 0.6)) for m in means])
    return runs


def hidden_ratio(result: TrialResult, column: str) -> pd.Series:
    """Per probe step: column at the first hidden Linear / at the last one."""
    first, last = "hidden.0.linear", f"hidden.{DEEP_DEPTH - 1}.linear"
    table = layer_series(result, column, [first, last])
    return table[first] / table[last]


def finite_median(series: pd.Series) -> float:
    """Median of the finite values (NaN when a diverged run left none)."""
    values = series.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else math.nan


def he_claims(study: Study, scale: pd.DataFrame, deep_init: pd.DataFrame, deep: dict[str, list[TrialResult]]) -> None:
    """The scale claim on `scale` (nets of the full study's width at init): the ratio's spread over seeds grows with
    depth / width (Hanin & Rolnick 2018), so at the trained nets' width 64 He's ratio strays by chance; those are
    shown beside it. The training claim on the trained nets."""
    lecun, he = depth_ratios(scale, "act_std", init="lecun"), depth_ratios(scale, "act_std", init="kaiming")
    width = int(scale["width"].iloc[0])
    narrow = depth_ratios(deep_init, "act_std", init="kaiming")
    study.claim("he-scale", "In a 30-layer ReLU MLP the activation scale collapses with std sqrt(1/n) init and is "
                "preserved with He init std sqrt(2/n)", "He et al. 2015, Sec. 2.2", CRIT["he-scale"],
                f"activation std last / first hidden layer at width {width}: sqrt(1/n) {fmt_seeds(lecun)}, He "
                f"{fmt_seeds(he)}; for reference, He at the trained nets' width: {fmt_seeds(narrow)}",
                [a <= 1e-3 and 0.3 <= b <= 3 for a, b in zip(lecun, he, strict=True)])
    lo, hi = [final_train_loss(r) for r in deep["lecun"]], [final_train_loss(r) for r in deep["kaiming"]]
    study.claim("he-train", "The 30-layer ReLU MLP stalls with std sqrt(1/n) init and trains with He init",
                "He et al. 2015, Sec. 2.2, Fig. 3", CRIT["he-train"],
                f"final train loss: sqrt(1/n) {fmt_seeds(lo)}, He {fmt_seeds(hi)} (chance ln 10 = 2.303)",
                [h < s for h, s in zip(hi, lo, strict=True)])


def restore_claims(study: Study, deep_init: pd.DataFrame, deep: dict[str, list[TrialResult]]) -> None:
    base = [final_train_loss(r) for r in deep["lecun"]]
    base_ratio = [finite_median(hidden_ratio(r, "out_grad_rms")) for r in deep["lecun"]]
    texts = {"lecun+bn": ("faq-bn", "Batch normalization restores gradient flow in the deep net that stalled",
                          "seed FAQ 8.5; Ioffe & Szegedy 2015"),
             "lecun+residual": ("faq-residual", "Residual connections restore gradient flow in the deep net that "
                                "stalled", "seed FAQ 8.5; He et al. 2016"),
             "lecun+residual+bn": ("residual-bn", "Residual connections together with batch normalization (both parts "
                                   "of ResNets) restore gradient flow in the deep net that stalled", "He et al. 2016")}
    for label, (key, claim, source) in texts.items():
        ratio = [finite_median(hidden_ratio(r, "out_grad_rms")) for r in deep[label]]
        loss = [final_train_loss(r) for r in deep[label]]
        diverged = sum(r.status == TrialStatus.DIVERGED for r in deep[label])
        at_init = [math.sqrt(r) for r in depth_ratios(deep_init, "grad_var", init=label)]
        study.claim(key, claim, source, CRIT["restore"],
                    f"back-propagated ratio first / last {fmt_seeds(ratio)} (plain net {fmt_seeds(base_ratio)}; at init "
                    f"{fmt_seeds(at_init)}); final "
                    f"train loss {fmt_seeds(loss)} (plain {fmt_seeds(base)}); diverged {diverged}/{len(loss)}",
                    [DEPTH_LIMIT <= r <= 1 / DEPTH_LIMIT and a < b for r, a, b in zip(ratio, loss, base, strict=True)])


def best_lr(tuned: dict[str, list[TrialResult]], optimizer: str) -> str:
    """The optimizer's grid label (lr_grid) the study's selection rule picks (common.chosen_point: best mean final
    validation accuracy over its runs on TUNE_SEEDS, never the seeds the claims are judged on; a diverged run loses)."""
    labels = [label.removeprefix("tune/") for label in tuned]
    labels = [lb for lb in labels if lb in lr_grid() and lr_grid()[lb]["optimizer"] == optimizer]
    return chosen_point([(label, tuned[f"tune/{label}"]) for label in labels])


def first_step(study: Study, budget: Scale, labels: list[str]) -> dict[str, list[TrialResult]]:
    """The deep_variants() arms `labels` trained for one step with a probe at it, side by side in one batch: the
    back-propagated gradient at the init, before any update. The long runs' first probe comes probe_every - 1
    updates later, when RMSprop's first steps (about lr / sqrt(1 - alpha) each) have already moved the weights
    away from SGD's."""
    one_step = {"max_steps": 1, "probe_every": 1}
    runs = study.batch({f"{label}/step 1": deep_settings(budget, {**deep_variants()[label], **one_step})
                        for label in labels})
    return {label: runs[f"{label}/step 1"] for label in labels}


def rmsprop_claims(study: Study, deep: dict[str, list[TrialResult]], tuned: dict[str, list[TrialResult]],
                   first: Callable[[list[str]], dict[str, list[TrialResult]]]) -> None:
    """The RMSprop claims on the stalling net, each optimizer at the LR picked on the tuning seed (`tuned`, see
    best_lr), judged on the study's seeds (`deep`); `first(labels)` gives those arms' one-step runs (see first_step)."""
    sgd_label, rms_label = best_lr(tuned, "momentum"), best_lr(tuned, "rmsprop")
    sgd, rms = deep[sgd_label], deep[rms_label]
    grid = "; ".join(f"{opt} lr {' or '.join(f'{lr:g}' for lr in lrs)}" for opt, lrs in LR_GRID.items())
    names = (f"SGD-momentum = {sgd_label}, RMSprop = {rms_label} (of {grid}, by final validation accuracy on tuning "
             f"seeds {' and '.join(map(str, TUNE_SEEDS))}, mean)")
    sgd_loss, rms_loss = [final_train_loss(r) for r in sgd], [final_train_loss(r) for r in rms]
    study.claim("faq-rmsprop", "RMSprop alleviates vanishing gradients: it trains the 30-layer net that stalls under "
                "SGD", "seed FAQ 8.1 / 8.5", CRIT["rms-train"],
                f"final train loss SGD {fmt_seeds(sgd_loss)}, RMSprop {fmt_seeds(rms_loss)}; {names}",
                [r < s and r < TRAINED * CHANCE_LOSS for r, s in zip(rms_loss, sgd_loss, strict=True)])
    upd = {k: [finite_median(hidden_ratio(r, "update_ratio")) for r in runs] for k, runs in (("sgd", sgd), ("rms", rms))}
    # The negative control: RMSprop can equalize only updates that SGD lets vanish. With enough steps SGD's net
    # leaves the stall (the full budget's 2,000: its first-layer updates 1.2-1.7x the last's); a "fail" would then
    # read as RMSprop not equalizing, which its own ratios (0.5-0.6) do not say.
    study.claim("rmsprop-updates", "Mechanism: RMSprop equalizes the size of the updates across depth (per-parameter "
                "normalization), where SGD's updates vanish with the gradient", "Tieleman & Hinton 2012",
                CRIT["rms-updates"], f"update/weight ratio first / last hidden layer: SGD {fmt_seeds(upd['sgd'])}, "
                f"RMSprop {fmt_seeds(upd['rms'])}",
                [0.1 <= r <= 10 and s < 0.01 for r, s in zip(upd["rms"], upd["sgd"], strict=True)],
                problem_gate([s < 0.01 for s in upd["sgd"]], "under SGD-momentum the first hidden layer's updates "
                             "did not vanish (update/weight ratio first / last not below 0.01)", "equalize"))
    one_step = first([sgd_label, rms_label])
    backprop_claim(study, {"sgd": one_step[sgd_label], "rms": one_step[rms_label]}, {"sgd": sgd, "rms": rms})


def backprop_claim(study: Study, first: dict[str, list[TrialResult]], runs: dict[str, list[TrialResult]]) -> None:
    """Does RMSprop change the back-propagated gradient? At step 1 (same weights) it must not; at the end of
    training its weights may have restored what SGD's did not."""
    at_step_1 = lambda r: float(hidden_ratio(r, "out_grad_rms").loc[1])  # a KeyError, not a guess, if it is missing
    at_end = lambda r: float(hidden_ratio(r, "out_grad_rms").iloc[-1])
    start = {k: [at_step_1(r) for r in rs] for k, rs in first.items()}
    end = {k: [at_end(r) for r in rs] for k, rs in runs.items()}
    study.claim("rmsprop-backprop", "RMSprop does not change the back-propagated gradient at given weights; the "
                "weights its updates reach restore the gradient ratio", "this study (tests FAQ 8.5's mechanism)",
                CRIT["rms-backprop"],
                f"back-propagated ratio first / last: step 1 SGD {fmt_seeds(start['sgd'])}, RMSprop "
                f"{fmt_seeds(start['rms'])}; last probe SGD {fmt_seeds(end['sgd'])}, RMSprop {fmt_seeds(end['rms'])}",
                # `not s1 >= ...`: a NaN ratio (no gradient reaches either layer: the SGD net died) restores nothing
                [abs(r0 / s0 - 1) <= FIRST_STEP_TOL and r1 >= DEPTH_LIMIT and not s1 >= DEPTH_LIMIT
                 for r0, s0, r1, s1 in zip(start["rms"], start["sgd"], end["rms"], end["sgd"], strict=True)],
                # the negative control: a ratio SGD's own weights restored by the last probe leaves nothing to restore
                problem_gate([not s1 >= DEPTH_LIMIT for s1 in end["sgd"]], "under SGD-momentum the back-propagated "
                             f"ratio recovered to {DEPTH_LIMIT:g} or more by the last probe", "restore"))


# --- figures ---------------------------------------------------------------------------------------------------

def per_layer_frame(deep: dict[str, list[TrialResult]], labels: list[str], column: str) -> pd.DataFrame:
    """Median over probe steps of a per-layer column, per hidden Linear, config and seed."""
    layers = [f"hidden.{i}.linear" for i in range(DEEP_DEPTH)]
    rows = []
    for label in labels:
        for seed, result in enumerate(deep[label]):
            medians = layer_series(result, column, layers).median()
            rows += [{"config": label, "seed": seed, "layer_index": i + 1, column: medians[layer]}
                     for i, layer in enumerate(layers)]
    return pd.DataFrame(rows)


def ratio_frame(deep: dict[str, list[TrialResult]]) -> pd.DataFrame:
    rows = []
    for label, runs in deep.items():
        for seed, result in enumerate(runs):
            series = hidden_ratio(result, "out_grad_rms")
            rows += [{"config": label, "seed": seed, "step": step, "ratio": value} for step, value in series.items()
                     if np.isfinite(value)]
    return pd.DataFrame(rows)


def fig_ratio_over_steps(df: pd.DataFrame) -> Figure:
    fig, (ax,) = panels(1, "Back-propagated gradient RMS, first / last hidden layer, during training", (8.0, 4.2))
    sns.lineplot(data=df, x="step", y="ratio", hue="config", errorbar=("pi", 100), ax=ax)
    ax.set_yscale("log")
    ax.axhspan(DEPTH_LIMIT, 1 / DEPTH_LIMIT, color="green", alpha=0.06)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("RMS dL/ds, layer 1 / layer 30")
    return fig


def fig_sigmoid_means(df: pd.DataFrame) -> Figure:
    fig, (ax,) = panels(1, "Sigmoid MLP (standard init): mean activation per hidden layer during training", (7.0, 4.2))
    sns.lineplot(data=df, x="step", y="act_mean", hue="layer", errorbar=("pi", 100), ax=ax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("mean sigmoid output")
    return fig


def sigmoid_frame(runs: list[TrialResult]) -> pd.DataFrame:
    df = pd.concat([pd.DataFrame(r.gradients).assign(seed=seed) for seed, r in enumerate(runs)], ignore_index=True)
    df = df[df["layer"].str.startswith("hidden.")]
    return df.assign(layer="hidden " + (df["layer"].str.split(".").str[1].astype(int) + 1).astype(str))


@theme()
def figures(gb: pd.DataFrame, deep_init: pd.DataFrame, sat: list[TrialResult],
            deep: dict[str, list[TrialResult]]) -> dict[str, Figure]:
    training = gradient_frame({k: deep[k] for k in DEEP_VARIANTS}).assign(testbed="30-layer ReLU MLP")
    optimizers = [k for k in deep if k == "lecun" or k.startswith("lecun/")]
    return {
        "grad_variance_by_depth": fig_by_depth(gb, "grad_var", "Var[dL/ds] (mean square)", "Back-propagated gradient "
                                               "variance by layer at init, 5-hidden-layer MLP", col="activation"),
        "activation_scale_by_depth": fig_by_depth(deep_init, "act_std", "std of layer output", "Activation scale by "
                                                  "layer at init, 30-layer ReLU MLP"),
        "grad_norm_over_steps": fig_grad_norm_over_steps(training, "Gradient norm during training"),
        "grad_ratio_over_steps": fig_ratio_over_steps(ratio_frame(deep)),
        "update_ratio_by_depth": fig_by_depth(per_layer_frame(deep, optimizers, "update_ratio"), "update_ratio",
                                              "||dW|| / ||W|| per step (median)", "Update size by layer: SGD vs "
                                              "RMSprop on the stalling net", hue="config"),
        "sigmoid_activation_mean": fig_sigmoid_means(sigmoid_frame(sat)),
    }


CAPTIONS = {  # what to see in each figure (the study page and the FAQ show them under the figure)
    "grad_variance_by_depth": "Read each panel from the output layer (right) to the input (left): a line that falls "
                              "toward layer 1 is a gradient vanishing on its way back (Glorot & Bengio's standard init: "
                              "x1/3 per layer in theory); a level line is the normalized init doing its job.",
    "activation_scale_by_depth": "At init, before any training: with std sqrt(1/n) the ReLU net's activations shrink "
                                 "layer by layer (each ReLU halves the variance), with std sqrt(2/n) they keep their "
                                 "scale through all 30 layers (He et al. 2015).",
    "grad_norm_over_steps": "A line orders of magnitude below the others is a net whose gradients vanished (it "
                            "stalls); a variant named in the title as NaN diverged. Batch norm and residual "
                            "connections are the FAQ's remedies for the stalling net.",
    "grad_ratio_over_steps": "Gradient reaching the first hidden layer relative to the last: inside the green band it "
                             "arrives at a usable scale, below it the first layers barely learn.",
    "update_ratio_by_depth": "Step size relative to the weights, per layer, on the stalling net: a line falling toward "
                             "layer 1 means the early layers barely move. RMSprop divides each step by the gradient's "
                             "own scale, so its line can stay level where SGD's falls, without the gradient itself "
                             "changing.",
    "sigmoid_activation_mean": "Glorot & Bengio saw the top hidden layer of a sigmoid net pushed toward 0 (saturated) "
                               "early in training: look for the top layer's line dropping below the others.",
}
