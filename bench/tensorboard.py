"""A run's trials as TensorBoard event files: `tensorboard --logdir RUN/tensorboard`.

One folder per trial (`RUN/tensorboard/<trial_id>/`) holding its per-epoch scalars (losses and metrics of every
split as `<metric>/<split>`, the LR, throughput), its gradient-norm summaries per probed step (`grad_norm/<layer>`,
`grad_norm/total`), its final metrics (`final/<metric>`) and an HParams session: the hyperparameters that tell the
run's trials apart plus phase, level, group and seed, with the final metrics, so TensorBoard's HParams view
(table and parallel coordinates) compares them. Written from the finished trials' records after they ran (never
inside a trial, so training pays nothing for it); a trial whose folder exists is left as it is.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.results import SPLITS, TrialRecord

TENSORBOARD_DIR = "tensorboard"
NOT_SCALARS = ("epoch", "step")
ALWAYS = ("phase", "level", "group", "seed")  # hparams every trial gets, whatever varies


def scalar_tag(key: str) -> str:
    """'val_acc' -> 'acc/val' (TensorBoard groups charts by the part before '/': a metric's splits side by side)."""
    split, _, metric = key.partition("_")
    return f"{metric}/{split}" if split in SPLITS and metric else key


def varying(records: list[TrialRecord]) -> list[str]:
    """The config fields whose values differ between the records (what the HParams view should show)."""
    keys = dict.fromkeys(k for r in records for k, v in r.config.items() if isinstance(v, (int, float, str, bool)))
    return [k for k in keys if len({repr(r.config.get(k)) for r in records}) > 1]


def hparams_of(rec: TrialRecord, keys: list[str]) -> dict[str, Any]:
    """The record's hyperparameters for the HParams view (TensorBoard takes numbers, strings and booleans)."""
    values = {**{k: rec.tags.get(k) for k in ALWAYS if k != "seed"}, "seed": rec.config.get("seed"),
              **{k: rec.config.get(k) for k in keys}, "status": str(rec.status)}
    return {k: v if isinstance(v, (int, float, bool)) else str(v) for k, v in values.items() if v is not None}


def finals_of(rec: TrialRecord) -> dict[str, float]:
    return {f"final/{k}": float(v) for k, v in rec.final.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def write_trial(root: Path, rec: TrialRecord, keys: list[str]) -> None:
    """One trial's event file under root/<trial_id>/."""
    from tensorboardX import SummaryWriter
    from tensorboardX.summary import hparams

    with SummaryWriter(logdir=str(root / rec.trial_id), flush_secs=3600) as w:
        for row in rec.epochs:
            for key, value in row.items():
                if key not in NOT_SCALARS and isinstance(value, (int, float)) and math.isfinite(value):
                    w.add_scalar(scalar_tag(key), value, int(row["epoch"]))
        totals = {}
        for g in rec.gradients:
            if math.isfinite(g.get("grad_norm", math.nan)):
                w.add_scalar(f"grad_norm/{g['layer']}", g["grad_norm"], int(g["step"]))
            totals[int(g["step"])] = g.get("total_grad_norm", math.nan)
        for step, total in sorted(totals.items()):
            if math.isfinite(total):
                w.add_scalar("grad_norm/total", total, step)
        last = int(rec.epochs[-1]["epoch"]) if rec.epochs else 0
        finals = finals_of(rec)
        for tag, value in finals.items():
            w.add_scalar(tag, value, last)
        for summary in hparams(hparams_of(rec, keys), finals):
            w.file_writer.add_summary(summary)


def write_tensorboard(folder: Path | str, records: list[TrialRecord]) -> int:
    """Event files for the records without a folder under RUN/tensorboard yet; returns how many were written."""
    root = Path(folder) / TENSORBOARD_DIR
    keys = [k for k in varying(records) if k not in ALWAYS]
    todo = [r for r in records if not (root / r.trial_id).exists()]
    for rec in todo:
        write_trial(root, rec, keys)
    return len(todo)
