"""Test scores for the trials ASHA stopped early, scored by the driver once the sweep ends.

A trial scores its chosen weights itself when it finishes; one that the scheduler stops never
gets there. Its checkpoints carry its best epoch's weights (it checkpoints at every ASHA rung,
where a stop can come), so the driver scores them here: thresholds tuned on validation, then the
test split once, into the trial's record (results/trial_record.py), its checkpoint's thresholds
(for evaluate and predict) and its TensorBoard run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dataset_builder.store import Dataset

from ..results.trial_record import json_ready, read_record, write_record
from ..training.checkpoint import load_checkpoint, rebuild_model, write_thresholds
from ..training.data import ResidentSplit
from ..training.selection import score_chosen


def needs_scores(record: dict | None) -> bool:
    return (record is not None and record["status"] == "stopped early" and record["test_scored_by"] is None
            and record["checkpoint"] is not None)


def score_stopped_trials(exp_dir: Path, dataset: Dataset) -> list[str]:
    """Score every trial that ended early without test scores; returns the trials' names."""
    from torch.utils.tensorboard import SummaryWriter

    from .tensorboard import tag_for

    scored = []
    labels = np.asarray(dataset.labels)
    for folder in sorted(p.parent for p in exp_dir.glob("*/params.json")):
        record = read_record(folder)
        if not needs_scores(record):
            continue
        state = load_checkpoint(record["checkpoint"])
        meta = state["meta"]
        best = state["best_model"] is not None
        model = rebuild_model(state, best).to(memory_format=torch.channels_last)
        images = dataset.images(meta["ratio"])
        val, test = (ResidentSplit.from_indices(images, labels, dataset.split(name), "cpu") for name in ("val", "test"))
        metrics, thresholds = score_chosen(model, val, test, meta["loss"], float(meta["config"].get("threshold", 0.5)))
        write_thresholds(record["checkpoint"], thresholds)
        record.update(scores=json_ready(metrics), thresholds=[float(t) for t in thresholds], test_scored_by="driver")
        write_record(folder, record)
        with SummaryWriter(log_dir=str(folder)) as writer:
            for key, value in metrics.items():
                writer.add_scalar(tag_for(key), value, record["epochs_done"])
        scored.append(folder.name)
    return scored
