"""Test scores for the trials ASHA stopped early, scored by the driver once the sweep ends.

A trial scores its chosen weights itself when it finishes, or when its patience stops it on a
plateau (it knows it is ending); one that the scheduler stops never gets there. Its checkpoints carry its best epoch's weights (it checkpoints at every ASHA rung,
where a stop can come), so the driver scores them here: thresholds tuned on validation, then the
test split once, into the trial's record (results/trial_record.py), its checkpoint's thresholds
(for evaluate and predict), its TensorBoard run, and the probabilities behind them into
predictions.npz beside the record (training/predictions.py), as a trial that finished keeps them.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from dataset_builder.store import Dataset

from ..results.checkpoints import find_checkpoint, on_this_machine
from ..results.location import ExperimentLocation
from ..results.trial_record import json_ready, read_record, write_record
from ..results.trials import trial_folders
from ..training.checkpoint import load_checkpoint, rebuild_model, write_thresholds
from ..training.data import ResidentSplit
from ..training.features import score_head_checkpoint
from ..training.predictions import PREDICTIONS_FILE, predictions_bytes, split_index, with_probabilities
from ..training.selection import Chosen, score_chosen
from .trial_inputs import trial_inputs


def needs_scores(record: dict | None) -> bool:
    return (record is not None and record["status"] == "stopped early" and record["test_scored_by"] is None
            and record["checkpoint"] is not None)


def score_stopped_trials(experiment: ExperimentLocation, dataset: Dataset, inputs: dict | None = None) -> list[str]:
    """Score every trial that ended early without test scores; returns the trials' names.
    `inputs`: the sweep's trial inputs (trial_inputs.put_trial_inputs), whose cached features
    score a head-only trial's head without running its body over every poster again."""
    from torch.utils.tensorboard import SummaryWriter

    from .tensorboard import tag_for

    scored = []
    for folder in trial_folders(experiment):
        record = read_record(folder)
        if not needs_scores(record):
            continue
        with local_checkpoint(record["checkpoint"]) as checkpoint:
            state = load_checkpoint(checkpoint)
            features = cached_features_of(state, inputs)
            if features is not None:
                chosen = score_head_checkpoint(state, features)
            else:
                chosen = score_on_posters(state, dataset)
            write_thresholds(checkpoint, chosen.thresholds)
        metrics = chosen.metrics
        predictions = with_probabilities(split_index(dataset_index(dataset)), chosen.val_probs, chosen.test_probs)
        folder.write_bytes(PREDICTIONS_FILE, predictions_bytes(predictions))  # before the record that names it
        record.update(scores=json_ready(metrics), thresholds=[float(t) for t in chosen.thresholds],
                      test_scored_by="driver", predictions=PREDICTIONS_FILE)
        write_record(folder, record)
        if folder.is_local:  # on object storage the trial's own curves say it; a second events file would not sync
            with SummaryWriter(log_dir=str(folder.local_path)) as writer:
                for key, value in metrics.items():
                    writer.add_scalar(tag_for(key), value, record["epochs_done"])
        scored.append(folder.name)
    return scored


@contextmanager
def local_checkpoint(checkpoint: str):
    """The checkpoint's file on this machine (results/checkpoints.py: itself when local, else a
    temporary copy); a copy's checkpoint.pt goes back up whole when the block ends, with the
    thresholds written into it."""
    found = find_checkpoint(checkpoint)
    with on_this_machine(found) as path:
        yield path
        if found.copied is not None:
            found.file.write_bytes("", path.read_bytes())


def cached_features_of(state: dict, inputs: dict | None) -> dict | None:
    """The cached-features arrays a head-only checkpoint's trial trained on, when the sweep has them."""
    if inputs is None or state["meta"].get("holds") != "head":
        return None
    import ray

    reference, _ = trial_inputs(state["meta"]["config"], inputs)
    arrays = ray.get(reference) if isinstance(reference, ray.ObjectRef) else reference
    return arrays if "features" in arrays else None


def dataset_index(dataset: Dataset) -> dict:
    """What predictions.split_index reads of a trial's arrays, from the dataset itself (the rows a
    trial scored are its split files' rows, cached features or posters alike)."""
    return {"labels": dataset.labels, "ids": dataset.ids, "genres": dataset.genres,
            "val": dataset.split("val"), "test": dataset.split("test")}


def score_on_posters(state: dict, dataset: Dataset) -> Chosen:
    """The checkpoint's chosen weights, as a whole network, on the dataset's posters (on the CPU)."""
    meta = state["meta"]
    model = rebuild_model(state, state["best_model"] is not None).to(memory_format=torch.channels_last)
    labels, images = np.asarray(dataset.labels), dataset.images(meta["ratio"])
    val, test = (ResidentSplit.from_indices(images, labels, dataset.split(name), "cpu") for name in ("val", "test"))
    return score_chosen(model, val, test, meta["loss"], float(meta["config"].get("threshold", 0.5)))
