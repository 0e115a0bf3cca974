"""Evaluation under inference_mode in large batches: loss, accuracy, and binary precision/recall/F1."""
from __future__ import annotations

from collections.abc import Callable

import torch

from bench.data.base import DataBundle, Split

EVAL_BATCH = 4096


@torch.inference_mode()
def predict(model: torch.nn.Module, split: Split, forward: Callable) -> torch.Tensor:
    was_training = model.training
    model.eval()
    outs = [forward(split.x[i:i + EVAL_BATCH], None if split.lengths is None else split.lengths[i:i + EVAL_BATCH])
            for i in range(0, len(split), EVAL_BATCH)]
    model.train(was_training)
    return torch.cat(outs).float()


def evaluate(model: torch.nn.Module, split: Split, loss_fn: Callable, data: DataBundle, forward: Callable,
             prefix: str) -> dict[str, float]:
    out = predict(model, split, forward)
    with torch.inference_mode():
        metrics = {f"{prefix}_loss": float(loss_fn(out, split.y))}
    scores = score(out, split.y, data, binary=prefix != "train", per_class=prefix == "test")
    metrics.update({f"{prefix}_{k}": v for k, v in scores.items()})
    return metrics


def score(out: torch.Tensor, y: torch.Tensor, data: DataBundle, binary: bool, per_class: bool) -> dict[str, float]:
    """binary: precision/recall/F1 (validation too, so sweeps can tune on F1); per_class: accuracy per class."""
    if data.task == "regression":
        return {"mse": float(((out.squeeze(-1) - y) ** 2).mean())}
    # classes sit on dim 1 for (N, C) and for per-step (N, C, T) outputs
    pred = out.argmax(1) if data.task == "classification" else (out.squeeze(-1) > 0).long()
    truth = y.long()
    metrics = {"acc": float((pred == truth).float().mean())}
    if binary and data.task == "binary":
        metrics.update(binary_scores(pred, truth))
    if per_class and data.task == "classification" and data.class_names:
        hits = torch.zeros(data.num_classes).index_add_(0, truth.cpu(), (pred == truth).float().cpu())
        counts = torch.bincount(truth.cpu(), minlength=data.num_classes).clamp(min=1)
        metrics.update({f"acc_{name}": float(a) for name, a in zip(data.class_names, hits / counts, strict=True)})
    return metrics


def binary_scores(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Precision, recall and F1 of the positive class, 0 where undefined (sklearn's zero_division=0). Counted
    with torch, not sklearn: importing sklearn took 40% of the start-up of every sweep worker."""
    tp = float(((pred == 1) & (truth == 1)).sum())
    predicted, actual = float((pred == 1).sum()), float((truth == 1).sum())
    ratio = lambda a, b: a / b if b else 0.0
    return {"precision": ratio(tp, predicted), "recall": ratio(tp, actual), "f1": ratio(2 * tp, predicted + actual)}
