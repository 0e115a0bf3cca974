"""OPTIMIZERS registry: each spec builds a torch optimizer from a TrialConfig and names its nuisance parameters."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.config import TrialConfig
from bench.registry import lookup

if TYPE_CHECKING:  # the builders import torch when they run, so that `bench list optimizers` does not load it
    import torch

Params = Iterable["torch.nn.Parameter"]


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    build: Callable[[Params, TrialConfig, float], torch.optim.Optimizer]  # (params, cfg, the torch optimizer's decay)
    hyperparams: tuple[str, ...]  # nuisance parameters a fair sweep must tune
    decoupled: bool = False  # weight decay is always decoupled (AdamW)
    description: str = ""
    # Published defaults that differ from TrialConfig's, held where a search does not tune them (a small budget
    # tunes the LR alone): AdamW's decoupled weight decay of 1e-2 (torch.optim.AdamW's default), without which
    # AdamW is Adam.
    defaults: dict[str, float] = field(default_factory=dict)


def _sgd(momentum: bool, nesterov: bool = False):
    def build(params: Params, cfg: TrialConfig, wd: float) -> torch.optim.Optimizer:
        import torch

        mom = cfg.momentum if momentum else 0.0
        return torch.optim.SGD(params, lr=cfg.lr, momentum=mom, nesterov=nesterov, weight_decay=wd)
    return build


def _adam(cls: str):
    """Adam-like torch.optim.<cls> with the config's betas and eps."""
    def build(params: Params, cfg: TrialConfig, wd: float) -> torch.optim.Optimizer:
        import torch

        return getattr(torch.optim, cls)(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=wd)
    return build


def _rmsprop(params: Params, cfg: TrialConfig, wd: float) -> torch.optim.Optimizer:
    import torch

    # alpha, RMSprop's own squared-gradient decay, has its own default (0.99), not Adam's beta2 (0.999).
    return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, weight_decay=wd)


def _adagrad(params: Params, cfg: TrialConfig, wd: float) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adagrad(params, lr=cfg.lr, eps=cfg.eps, weight_decay=wd)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("sgd", _sgd(False), ("lr",), description="plain SGD"),
    "momentum": OptimizerSpec("momentum", _sgd(True), ("lr", "momentum"), description="SGD + heavy-ball momentum"),
    "nesterov": OptimizerSpec("nesterov", _sgd(True, True), ("lr", "momentum"), description="SGD + Nesterov momentum"),
    "adam": OptimizerSpec("adam", _adam("Adam"), ("lr", "beta1", "beta2", "eps"),
                          description="Adam (Kingma & Ba 2015)"),
    "adamw": OptimizerSpec("adamw", _adam("AdamW"), ("lr", "beta1", "beta2", "eps", "weight_decay"), decoupled=True,
                           description="Adam with decoupled weight decay (Loshchilov & Hutter 2019)",
                           defaults={"weight_decay": 1e-2}),
    "nadam": OptimizerSpec("nadam", _adam("NAdam"), ("lr", "beta1", "beta2", "eps"),
                           description="Adam with Nesterov momentum (Dozat 2016)"),
    "rmsprop": OptimizerSpec("rmsprop", _rmsprop, ("lr", "alpha", "eps"), description="RMSprop (Tieleman & Hinton 2012)"),
    "adagrad": OptimizerSpec("adagrad", _adagrad, ("lr", "eps"), description="Adagrad (Duchi et al. 2011)"),
}


def build_optimizer(params: Params, cfg: TrialConfig) -> torch.optim.Optimizer:
    spec = lookup(OPTIMIZERS, "optimizer", cfg.optimizer)
    # AdamW decays decoupled whatever wd_mode says; the others apply it as L2 only in coupled mode
    return spec.build(params, cfg, cfg.weight_decay if spec.decoupled or cfg.wd_mode == "coupled" else 0.0)


def apply_decoupled_decay(optimizer: torch.optim.Optimizer, cfg: TrialConfig) -> None:
    """Decoupled weight decay for optimizers that lack it: w <- w - lr * wd * w, before the step."""
    import torch

    if cfg.weight_decay == 0 or cfg.wd_mode != "decoupled" or OPTIMIZERS[cfg.optimizer].decoupled:
        return
    with torch.no_grad():
        for group in optimizer.param_groups:
            if not group.get("decay", True):  # biases and norm parameters (see bench.train.param_groups)
                continue
            for p in group["params"]:
                p.mul_(1 - group["lr"] * cfg.weight_decay)
