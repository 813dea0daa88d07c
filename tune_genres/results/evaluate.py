"""Score a trained checkpoint, or an ensemble of them (results/ensemble.py), on a built dataset,
beside the baselines that never look at a poster. The checkpoint or ensemble folder is a local path
or a URI (results/checkpoints.py); the dataset is on this machine."""

from __future__ import annotations

import os

import numpy as np
import torch

from dataset_builder.errors import BadInput
from dataset_builder.store import Dataset, open_dataset

from ..training.data import ResidentSplit
from ..training.loop import EVAL_BATCH, predict_split
from ..training.losses import loss_of_probabilities
from ..training.metrics import BASELINES, LOWER_IS_BETTER, METRICS, baselines, compute_metrics, tune_thresholds, tuned_metrics
from .checkpoints import FoundCheckpoint, checkpoint_name, find_checkpoint, load_found_model
from .ensemble import read_ensemble
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
    checkpoint: a trial's folder (its latest checkpoint), a checkpoint folder or its file, or an
    ensemble's folder (evaluate_ensemble), local or a URI.

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
    ensemble = read_ensemble(checkpoint)
    if ensemble is not None:
        return evaluate_ensemble(ensemble, checkpoint, dataset_path, split, device, batch_size, weights,
                                 allow_train_overlap, resamples)
    found = find_checkpoint(checkpoint)
    dataset = open_dataset(dataset_path)  # a damaged dataset is said before the weights are loaded (or downloaded)
    model, meta = load_found_model(found, device, weights)
    check_compatible(meta, dataset, found)
    rows = split_rows(dataset, split)
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
    return {
        "checkpoint": str(found),
        "ratio": meta["ratio"],
        "size": list(meta["size"]),
        "loss_name": meta["loss"],
        "weights": meta["weights"],
        "epoch": meta["epoch"],
        **scored_beside_baselines(dataset, split, rows, probs, loss, threshold, thresholds, resamples),
        "genres": list(meta["genres"]),
        "notes": notes,
    }


def split_rows(dataset: Dataset, split: str) -> np.ndarray:
    rows = np.arange(dataset.manifest["count"]) if split == "all" else np.asarray(dataset.split(split))
    if len(rows) == 0:
        raise BadInput(f"{dataset.root}: split {split} is empty")
    return rows


def scored_beside_baselines(dataset: Dataset, split: str, rows: np.ndarray, probs: np.ndarray, loss: float,
                            threshold: float, thresholds, resamples: int) -> dict:
    """What evaluate says of probabilities on `rows`, a checkpoint's or an ensemble's: the metrics at
    `threshold` and at the tuned `thresholds`, their intervals, and the baselines on the same rows."""
    labels = np.asarray(dataset.labels)
    train_rows = np.asarray(dataset.split("train"))
    return {
        "dataset": str(dataset.root),
        "dataset_fingerprint": dataset.fingerprint,
        "split": split,
        "count": len(rows),
        "threshold": threshold,
        "thresholds": [float(t) for t in thresholds],
        "loss": loss,
        "metrics": compute_metrics(probs, labels[rows], threshold),
        "intervals": bootstrap_intervals(probs, labels[rows], threshold, resamples) if resamples else None,
        "interval_resamples": resamples,
        "metrics_tuned": tuned_metrics(probs, labels[rows], np.asarray(thresholds)),
        "baselines": baselines(labels[train_rows], labels[rows]),
        "baseline_train_count": len(train_rows),
    }


def evaluate_ensemble(ensemble: dict, folder: Where, dataset_path: str | os.PathLike, split: str,
                      device: torch.device | str, batch_size: int, weights: str, allow_train_overlap: bool,
                      resamples: int) -> dict:
    """An ensemble folder's (results/ensemble.py) probabilities on the split: each member's best
    weights at its own ratio, model and input scale, averaged at their weights; thresholded at the
    ensemble's threshold and at the per-genre ones tuned on its validation probabilities."""
    if weights != "best":
        raise BadInput(f"--weights {weights}: an ensemble's members are their best epochs' weights, chosen on validation")
    dataset = open_dataset(dataset_path)
    rows = split_rows(dataset, split)
    labels = np.asarray(dataset.labels)
    probs, notes = np.zeros((len(rows), len(ensemble["genres"]))), []
    for member in ensemble["members"]:
        found = find_checkpoint(member["checkpoint"])
        model, meta = load_found_model(found, device, "best")
        check_compatible(meta, dataset, found)
        if split != "train" and not allow_train_overlap:
            notes += [n for n in check_not_trained_on(meta, dataset, rows, split, found) if n not in notes]
        posters = ResidentSplit.from_indices(dataset.images(meta["ratio"]), labels, rows, device)
        probs += member["weight"] * predict_split(model, posters, meta["loss"], batch_size)[1]
    if split in ("val", "all"):
        notes.append("the validation split chose these members, their weights and their tuned thresholds, so its "
                     "scores here lean high: the test split is the honest figure")
    loss = loss_of_probabilities(ensemble["loss"], probs, labels[rows])
    return {
        "checkpoint": checkpoint_name(folder),
        "members": ensemble["members"],
        "loss_name": ensemble["loss"],
        **scored_beside_baselines(dataset, split, rows, probs, loss, float(ensemble["threshold"]),
                                  ensemble["thresholds"], resamples),
        "genres": list(ensemble["genres"]),
        "notes": notes,
    }


def what_was_scored(result: dict) -> str:
    """The first line: the checkpoint's weights and size, or the ensemble's members and theirs."""
    genres = f"{len(result['genres'])} genres: {', '.join(result['genres'])}"
    if "members" in result:
        members = ", ".join(f"{m['trial']} x{m['weight']:.3f} (ratio {m['ratio']}, {m['model']})" for m in result["members"])
        return (f"ensemble {result['checkpoint']}: the mean of {len(result['members'])} trials' best weights' "
                f"probabilities at their weights: {members}; loss {result['loss_name']}, {genres}")
    w, h = result["size"]
    return (f"checkpoint {result['checkpoint']}: {result['weights']} weights (epoch {result['epoch']}), "
            f"loss {result['loss_name']}, ratio {result['ratio']} ({w}x{h}), {genres}")


def format_evaluation(result: dict) -> str:
    """The result as a table: model beside each baseline, with what it was measured on."""
    tuned = ", ".join(f"{g} {t:.3f}" for g, t in zip(result["genres"], result["thresholds"]))
    lines = [
        what_was_scored(result),
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
