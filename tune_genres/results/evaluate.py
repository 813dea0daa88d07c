"""Score a trained checkpoint on a built dataset, beside the baselines that never look at a poster.
The checkpoint is a local path or a URI (results/checkpoints.py); the dataset is on this machine."""

from __future__ import annotations

import os

import numpy as np
import torch

from dataset_builder.errors import BadInput
from dataset_builder.store import Dataset, open_dataset

from ..training.data import ResidentSplit
from ..training.loop import EVAL_BATCH, predict_split
from ..training.metrics import BASELINES, LOWER_IS_BETTER, METRICS, baselines, compute_metrics, tune_thresholds, tuned_metrics
from .checkpoints import FoundCheckpoint, find_checkpoint, load_found_model
from .intervals import LEVEL, RESAMPLES, bootstrap_intervals
from .location import Where

EVAL_SPLITS = ("test", "val", "train", "all")


def check_compatible(meta: dict, dataset: Dataset, checkpoint: FoundCheckpoint) -> None:
    """The dataset must have the checkpoint's genres in its order, and its ratio at its size."""
    if dataset.genres != list(meta["genres"]):
        raise BadInput(
            f"{dataset.root}: genres {', '.join(dataset.genres)} differ from checkpoint {checkpoint}'s "
            f"{', '.join(meta['genres'])} (same genres in the same order needed)"
        )
    ratio, size = meta["ratio"], tuple(meta["size"])
    if ratio not in dataset.ratios:
        have = ", ".join(str(r) for r in dataset.ratios)
        raise BadInput(f"{dataset.root}: no ratio {ratio} (it has {have}), the ratio checkpoint {checkpoint} was trained at")
    if dataset.size(ratio) != size:
        raise BadInput(
            f"{dataset.root}: ratio {ratio} is {dataset.size(ratio)[0]}x{dataset.size(ratio)[1]}, "
            f"checkpoint {checkpoint} was trained at {size[0]}x{size[1]}"
        )


def check_not_trained_on(meta: dict, dataset: Dataset, rows: np.ndarray, split: str,
                         checkpoint: FoundCheckpoint) -> list[str]:
    """Refuse to score posters the checkpoint was trained on; the notes on what was checked."""
    if meta.get("train_ids") is None:
        return [f"checkpoint {checkpoint} records no training ids (written before fingerprints): "
                "the check that no scored poster was trained on was skipped"]
    notes = []
    if meta.get("dataset_fingerprint") not in (None, dataset.fingerprint):
        notes.append(f"{dataset.root} is not the dataset the checkpoint trained on (fingerprint "
                     f"{dataset.fingerprint}, trained on {meta['dataset_fingerprint']}): checked poster by poster")
    trained = np.isin(np.asarray(dataset.ids)[rows].astype(str), np.asarray(meta["train_ids"], dtype=str))
    if trained.any():
        raise TrainOverlap(
            f"{dataset.root}: {int(trained.sum())} of the {len(rows)} posters of split {split} were in checkpoint "
            f"{checkpoint}'s training split, so their scores would flatter it; pass --split train to score the "
            "training posters, or --allow-train-overlap to score them anyway"
        )
    return notes


class TrainOverlap(BadInput):
    """The posters to score include some the checkpoint was trained on."""


def evaluate(
    checkpoint: Where,
    dataset_path: str | os.PathLike,
    split: str = "test",
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
    weights: str = "best",
    allow_train_overlap: bool = False,
    resamples: int = RESAMPLES,
) -> dict:
    """The checkpoint's loss and metrics on a split of the dataset ("all": every row), with baselines.
    checkpoint: a trial's folder (its latest checkpoint), a checkpoint folder or its file, local or a URI.

    weights: "best" (the best epoch's by the trial's select_metric) or "last". Thresholded metrics
    use the trial's own threshold (0.5 when its config has none), and again (`*_tuned`) the
    per-genre thresholds tuned on validation that the checkpoint holds, or, when it holds none,
    tuned now on this dataset's validation split. Scoring a poster the checkpoint was trained on
    is refused (TrainOverlap) unless split is "train" or allow_train_overlap. Baselines take the
    genre frequencies of the dataset's training split and are scored on the same rows.
    resamples: the bootstrap draws behind each metric's 95% interval (0: no intervals).
    """
    if split not in EVAL_SPLITS:
        raise BadInput(f"--split {split}: expected one of {', '.join(EVAL_SPLITS)}")
    found = find_checkpoint(checkpoint)
    dataset = open_dataset(dataset_path)  # a damaged dataset is said before the weights are loaded (or downloaded)
    model, meta = load_found_model(found, device, weights)
    check_compatible(meta, dataset, found)
    rows = np.arange(dataset.manifest["count"]) if split == "all" else np.asarray(dataset.split(split))
    if len(rows) == 0:
        raise BadInput(f"{dataset.root}: split {split} is empty")
    notes = [] if split == "train" or allow_train_overlap else check_not_trained_on(meta, dataset, rows, split, found)
    if split in ("val", "all"):
        notes.append("the validation split chose these weights (their epoch) and their tuned thresholds, so its "
                     "scores here lean high: the test split is the honest figure")
    labels = np.asarray(dataset.labels)
    images = dataset.images(meta["ratio"])
    loss, probs = predict_split(model, ResidentSplit.from_indices(images, labels, rows, device), meta["loss"], batch_size)
    thresholds = meta["thresholds"]
    if thresholds is None:
        val_rows = np.asarray(dataset.split("val"))
        _, val_probs = predict_split(model, ResidentSplit.from_indices(images, labels, val_rows, device), meta["loss"], batch_size)
        thresholds = tune_thresholds(val_probs, labels[val_rows]).tolist()
        notes.append(f"the checkpoint holds no tuned thresholds for these weights: tuned now on {dataset.root}'s "
                     f"validation split ({len(val_rows)} posters)")
    threshold = float(meta["config"].get("threshold", 0.5))
    train_rows = np.asarray(dataset.split("train"))
    return {
        "checkpoint": str(found),
        "dataset": str(dataset.root),
        "dataset_fingerprint": dataset.fingerprint,
        "split": split,
        "count": len(rows),
        "genres": list(meta["genres"]),
        "ratio": meta["ratio"],
        "size": list(meta["size"]),
        "loss_name": meta["loss"],
        "weights": meta["weights"],
        "epoch": meta["epoch"],
        "threshold": threshold,
        "thresholds": [float(t) for t in thresholds],
        "loss": loss,
        "metrics": compute_metrics(probs, labels[rows], threshold),
        "intervals": bootstrap_intervals(probs, labels[rows], threshold, resamples) if resamples else None,
        "interval_resamples": resamples,
        "metrics_tuned": tuned_metrics(probs, labels[rows], np.asarray(thresholds)),
        "baselines": baselines(labels[train_rows], labels[rows]),
        "baseline_train_count": len(train_rows),
        "notes": notes,
    }


def format_evaluation(result: dict) -> str:
    """The result as a table: model beside each baseline, with what it was measured on."""
    w, h = result["size"]
    tuned = ", ".join(f"{g} {t:.3f}" for g, t in zip(result["genres"], result["thresholds"]))
    lines = [
        f"checkpoint {result['checkpoint']}: {result['weights']} weights (epoch {result['epoch']}), "
        f"loss {result['loss_name']}, ratio {result['ratio']} ({w}x{h}), "
        f"{len(result['genres'])} genres: {', '.join(result['genres'])}",
        f"measured on {result['dataset']}, split {result['split']}: {result['count']} posters; "
        f"genre predicted when probability >= {result['threshold']:g} (*_tuned: per-genre thresholds "
        f"tuned on validation: {tuned})",
        *[f"note: {note}" for note in result["notes"]],
        f"baselines: prior = the training split's genre frequencies ({result['baseline_train_count']} posters), "
        "majority = its most frequent genre only; scored on the same posters",
        "",
    ]
    intervals = result.get("intervals")
    if intervals:
        lines.insert(-1, f"interval: the model's {LEVEL:.0%} bootstrap interval over {result['interval_resamples']} "
                         "draws of as many posters with replacement")
    blank = f"{'-':>17}" if intervals else ""
    labels = {m: m + (" (lower)" if m in LOWER_IS_BETTER else "") for m in [*METRICS, *result["metrics_tuned"]]}
    label_width = max(22, *(len(label) + 2 for label in labels.values()))  # fits the longest label
    lines += [
        f"{'metric':<{label_width}}{'model':>9}" + (f"{'interval':>17}" if intervals else "") + "".join(f"{name:>10}" for name in BASELINES),
        f"{'loss':<{label_width}}{result['loss']:>9.4f}{blank}" + "".join(f"{'-':>10}" for _ in BASELINES),
    ]
    for metric in METRICS:
        span = f"{intervals[metric][0]:>8.4f}-{intervals[metric][1]:.4f}" if intervals else ""
        values = [result["baselines"][name][metric] for name in BASELINES]
        lines.append(f"{labels[metric]:<{label_width}}{result['metrics'][metric]:>9.4f}{span}" + "".join(f"{v:>10.4f}" for v in values))
    for metric, value in result["metrics_tuned"].items():
        lines.append(f"{labels[metric]:<{label_width}}{value:>9.4f}{blank}" + "".join(f"{'-':>10}" for _ in BASELINES))
    return "\n".join(lines)
