"""Test scores for the trials ASHA stopped early, scored by the driver once the sweep ends.

A trial scores its chosen weights itself when it finishes; one that the scheduler stops never
gets there. Its checkpoints carry its best epoch's weights (it checkpoints at every ASHA rung,
where a stop can come), so the driver scores them here: thresholds tuned on validation, then the
test split once, into the trial's final_scores.json and its TensorBoard run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dataset_builder.store import Dataset

from ..results.records import read_final_scores, read_status, write_final_scores
from ..results.trials import furthest_checkpoint, read_trials
from ..training.checkpoint import rebuild_model
from ..training.data import ResidentSplit
from ..training.selection import score_chosen


def score_stopped_trials(exp_dir: Path, dataset: Dataset) -> list[str]:
    """Score every trial that ended early without test scores; returns the trials' names."""
    from torch.utils.tensorboard import SummaryWriter

    from .tensorboard import tag_for

    scored = []
    labels = np.asarray(dataset.labels)
    for trial in read_trials(exp_dir):
        status = read_status(trial.folder)
        epochs_done = trial.last.get("epoch", 0)
        if (status is None or status["status"] != "TERMINATED" or epochs_done >= trial.config.get("epochs", 0)
                or read_final_scores(trial.folder) is not None or "test_map" in trial.last):
            continue
        found = furthest_checkpoint(trial.folder)
        if found is None:
            continue
        directory, state = found
        meta = state["meta"]
        best = state["best_model"] is not None
        model = rebuild_model(state, best).to(memory_format=torch.channels_last)
        images = dataset.images(meta["ratio"])
        val, test = (ResidentSplit.from_indices(images, labels, dataset.split(name), "cpu") for name in ("val", "test"))
        metrics, thresholds = score_chosen(model, val, test, meta["loss"], float(meta["config"].get("threshold", 0.5)))
        epoch = int(state["best"]["epoch"]) if best else int(state["epoch"])
        write_final_scores(trial.folder, {
            "scored_by": "driver, after the scheduler stopped the trial",
            "weights": "best" if best else "last",
            "epoch": epoch,
            "checkpoint": str(directory),
            "thresholds": [float(t) for t in thresholds],
            "metrics": metrics,
        })
        with SummaryWriter(log_dir=str(trial.folder)) as writer:
            for key, value in metrics.items():
                writer.add_scalar(tag_for(key), value, epochs_done)
        scored.append(trial.name)
    return scored
