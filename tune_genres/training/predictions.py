"""THE predictions format: a trial's chosen weights' probabilities, kept so that ensembles can be
chosen from records without running a network again (results/ensemble.py).

`predictions.npz` (numpy's compressed archive, no pickles): written into the trial's final
checkpoint directory by the trial, copied beside its trial.json by the driver
(sweep/record_callback.py), or written there by the driver for a trial it scored itself
(sweep/stopped_trials.py):

    format                    PREDICTIONS_FORMAT
    genres                    the dataset's genres, in column order
    val_probs, test_probs     float32 N x G: the chosen (best-epoch) weights' probabilities, as the
                              trial scored them (softmax for cce, sigmoid for bce)
    val_rows, test_rows       int64 N: each probability row's row in the dataset's arrays, in the
                              order of its split file
    val_ids, test_ids         the posters' ids in that order, when the dataset gave them
    val_labels, test_labels   uint8 N x G: their multi-hot labels

The test probabilities are there to score a choice once it is made, never to make it. Rows and ids
let a reader check that trials' rows line up before it averages them. 350 posters x 4 genres per
split come to about 20 KB.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from dataset_builder.atomic import AtomicFile

PREDICTIONS_FILE = "predictions.npz"
PREDICTIONS_FORMAT = 1
SPLITS = ("val", "test")
REQUIRED = ("format", "genres", *(f"{s}_{part}" for s in SPLITS for part in ("probs", "rows", "labels")))


def split_index(arrays: dict) -> dict[str, np.ndarray]:
    """What describes the val and test rows of a trial's arrays (data.trial_arrays' dict, or the
    cached-features one): their dataset rows, ids and labels, and the genres; the probabilities
    join them once the chosen weights are scored (with_probabilities)."""
    labels = np.asarray(arrays["labels"])
    index = {"format": np.array(PREDICTIONS_FORMAT), "genres": np.array([str(g) for g in arrays["genres"]])}
    for split in SPLITS:
        rows = np.asarray(arrays[split], dtype=np.int64)
        index[f"{split}_rows"] = rows
        index[f"{split}_labels"] = labels[rows].astype(np.uint8)
        if arrays.get("ids") is not None:
            index[f"{split}_ids"] = np.asarray(arrays["ids"])[rows].astype(str)
    return index


def with_probabilities(index: dict, val_probs: np.ndarray, test_probs: np.ndarray) -> dict[str, np.ndarray]:
    return {**index, "val_probs": np.asarray(val_probs, np.float32), "test_probs": np.asarray(test_probs, np.float32)}


def predictions_bytes(predictions: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **predictions)
    return buffer.getvalue()


def predictions_from_bytes(data: bytes, where: str) -> dict[str, np.ndarray]:
    """The arrays of a predictions.npz; ValueError naming `where` when it is not one this reader knows."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            predictions = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{where}: not a readable predictions file ({type(e).__name__}: {e})") from None
    missing = [name for name in REQUIRED if name not in predictions]
    if missing:
        raise ValueError(f"{where}: not a whole predictions file (no {', '.join(missing)})")
    if int(predictions["format"]) != PREDICTIONS_FORMAT:
        raise ValueError(f"{where}: predictions format {int(predictions['format'])}, this reader knows {PREDICTIONS_FORMAT}")
    return predictions


def write_predictions(directory: str | os.PathLike, predictions: dict[str, np.ndarray]) -> None:
    """directory/predictions.npz, whole (a local checkpoint directory: a temporary name, then a rename)."""
    with AtomicFile(Path(directory) / PREDICTIONS_FILE) as f:
        f.write(predictions_bytes(predictions))
