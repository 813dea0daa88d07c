"""A trained checkpoint's genre probabilities for poster files, prepared exactly as the builder does.
The checkpoint is a local path or a URI (results/checkpoints.py); the posters are on this machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dataset_builder.errors import PosterError
from dataset_builder.images import open_poster, resize_all

from ..training.data import ResidentSplit
from ..training.loop import EVAL_BATCH, predict_logits
from ..training.losses import probabilities
from .checkpoints import checkpoint_name, find_checkpoint, load_found_model
from .location import Where


@dataclass
class Prediction:
    path: Path
    genres: list[tuple[str, float]]  # (genre, probability), most probable first
    predicted: list[str]  # the genres at or above their decision threshold, most probable first


def load_poster(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """The poster as uint8 HxWx3 at `size` (width, height): the builder's decode and LANCZOS path."""
    return resize_all(open_poster(path), [size])[0]


def predict(
    checkpoint: Where,
    images: list[str | os.PathLike],
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
    weights: str = "best",
) -> tuple[dict, list[Prediction], list[tuple[Path, PosterError]]]:
    """(the checkpoint's meta, a Prediction per usable poster, (path, error) per unusable one).

    A genre is predicted at the per-genre threshold tuned on validation when the checkpoint holds
    them (meta["thresholds"]), else at the trial's fixed threshold (0.5 by default).
    """
    model, meta = load_found_model(find_checkpoint(checkpoint), device, weights)
    size = tuple(meta["size"])
    pixels, usable, failures = [], [], []
    for path in map(Path, images):
        try:
            pixels.append(load_poster(path, size))
            usable.append(path)
        except PosterError as e:
            failures.append((path, e))
    if not usable:
        return meta, [], failures
    # Labels are unused here: only the split's uint8 -> float batching is wanted.
    posters = ResidentSplit(
        torch.from_numpy(np.stack(pixels)).to(device), torch.zeros(len(usable), len(meta["genres"]), device=device)
    )
    probs = probabilities(meta["loss"], predict_logits(model, posters, batch_size)).float().cpu().numpy()
    thresholds = dict(zip(meta["genres"], decision_thresholds(meta)))
    predictions = []
    for path, row in zip(usable, probs):
        ranked = sorted(zip(meta["genres"], map(float, row)), key=lambda item: -item[1])
        predictions.append(Prediction(path, ranked, [g for g, p in ranked if p >= thresholds[g]]))
    return meta, predictions, failures


def decision_thresholds(meta: dict) -> list[float]:
    """Each genre's threshold: tuned on validation when the checkpoint has them, else the trial's fixed one."""
    if meta.get("thresholds") is not None:
        return [float(t) for t in meta["thresholds"]]
    return [float(meta["config"].get("threshold", 0.5))] * len(meta["genres"])


def describe_checkpoint(checkpoint: Where, meta: dict) -> str:
    """What the probabilities below mean: which model, which size, softmax or sigmoid."""
    w, h = meta["size"]
    kind = (
        "softmax: the genres share one unit of probability"
        if meta["loss"] == "cce"
        else "sigmoid: an independent probability per genre"
    )
    if meta.get("thresholds") is not None:
        rule = "per-genre thresholds tuned on validation: " + ", ".join(
            f"{g} {t:.3f}" for g, t in zip(meta["genres"], meta["thresholds"]))
    else:
        rule = f"threshold {decision_thresholds(meta)[0]:g} for every genre (the checkpoint holds no tuned thresholds)"
    return (f"checkpoint {checkpoint_name(checkpoint)}: {meta['weights']} weights (epoch {meta['epoch']}), loss {meta['loss']} ({kind}), "
            f"posters resized to {w}x{h} (ratio {meta['ratio']}); a genre is predicted at its {rule}")


def format_prediction(prediction: Prediction) -> str:
    chosen = ", ".join(prediction.predicted) or "none"
    return f"{prediction.path}: " + ", ".join(f"{genre} {p:.3f}" for genre, p in prediction.genres) + f" -> {chosen}"
