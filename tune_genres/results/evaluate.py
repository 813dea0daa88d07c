"""Score a trained checkpoint on a built dataset, beside the baselines that never look at a poster."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from dataset_builder.errors import BadInput
from dataset_builder.store import Dataset, open_dataset

from ..training.checkpoint import checkpoint_path, load_model
from ..training.data import ResidentSplit
from ..training.loop import EVAL_BATCH, predict_split
from ..training.metrics import BASELINES, LOWER_IS_BETTER, METRICS, baselines, compute_metrics

EVAL_SPLITS = ("test", "val", "train", "all")


def check_compatible(meta: dict, dataset: Dataset, checkpoint: Path) -> None:
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


def evaluate(
    checkpoint: str | os.PathLike,
    dataset_path: str | os.PathLike,
    split: str = "test",
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
) -> dict:
    """The checkpoint's loss and metrics on a split of the dataset ("all": every row), with baselines.

    Thresholded metrics use the trial's own threshold (0.5 when its config has none). Baselines
    take the genre frequencies of the dataset's training split and are scored on the same rows.
    """
    if split not in EVAL_SPLITS:
        raise BadInput(f"--split {split}: expected one of {', '.join(EVAL_SPLITS)}")
    path = checkpoint_path(checkpoint)
    model, meta = load_model(path, device)
    dataset = open_dataset(dataset_path)
    check_compatible(meta, dataset, path)
    rows = np.arange(dataset.manifest["count"]) if split == "all" else np.asarray(dataset.split(split))
    if len(rows) == 0:
        raise BadInput(f"{dataset.root}: split {split} is empty")
    labels = np.asarray(dataset.labels)
    data = ResidentSplit.from_indices(dataset.images(meta["ratio"]), labels, rows, device)
    loss, probs = predict_split(model, data, meta["loss"], batch_size)
    threshold = float(meta["config"].get("threshold", 0.5))
    train_rows = np.asarray(dataset.split("train"))
    return {
        "checkpoint": str(path),
        "dataset": str(dataset.root),
        "split": split,
        "count": len(rows),
        "genres": list(meta["genres"]),
        "ratio": meta["ratio"],
        "size": list(meta["size"]),
        "loss_name": meta["loss"],
        "threshold": threshold,
        "loss": loss,
        "metrics": compute_metrics(probs, labels[rows], threshold),
        "baselines": baselines(labels[train_rows], labels[rows]),
        "baseline_train_count": len(train_rows),
    }


def format_evaluation(result: dict) -> str:
    """The result as a table: model beside each baseline, with what it was measured on."""
    w, h = result["size"]
    lines = [
        f"checkpoint {result['checkpoint']}: loss {result['loss_name']}, ratio {result['ratio']} ({w}x{h}), "
        f"{len(result['genres'])} genres: {', '.join(result['genres'])}",
        f"measured on {result['dataset']}, split {result['split']}: {result['count']} posters; "
        f"genre predicted when probability >= {result['threshold']:g}",
        f"baselines: prior = the training split's genre frequencies ({result['baseline_train_count']} posters), "
        "majority = its most frequent genre only; scored on the same posters",
        "",
        f"{'metric':<22}{'model':>9}" + "".join(f"{name:>10}" for name in BASELINES),
        f"{'loss':<22}{result['loss']:>9.4f}" + "".join(f"{'-':>10}" for _ in BASELINES),
    ]
    for metric in METRICS:
        label = metric + (" (lower)" if metric in LOWER_IS_BETTER else "")
        values = [result["metrics"][metric]] + [result["baselines"][name][metric] for name in BASELINES]
        lines.append(f"{label:<22}{values[0]:>9.4f}" + "".join(f"{v:>10.4f}" for v in values[1:]))
    return "\n".join(lines)
