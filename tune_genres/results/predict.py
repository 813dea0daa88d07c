"""A trained checkpoint's genre probabilities for poster files, prepared exactly as the builder does."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dataset_builder.errors import PosterError
from dataset_builder.images import open_poster, resize_all

from ..training.checkpoint import checkpoint_path, load_model
from ..training.data import ResidentSplit
from ..training.loop import EVAL_BATCH, predict_logits
from ..training.losses import probabilities


@dataclass
class Prediction:
    path: Path
    genres: list[tuple[str, float]]  # (genre, probability), most probable first


def load_poster(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """The poster as uint8 HxWx3 at `size` (width, height): the builder's decode and LANCZOS path."""
    return resize_all(open_poster(path), [size])[0]


def predict(
    checkpoint: str | os.PathLike,
    images: list[str | os.PathLike],
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
) -> tuple[dict, list[Prediction], list[tuple[Path, PosterError]]]:
    """(the checkpoint's meta, a Prediction per usable poster, (path, error) per unusable one)."""
    model, meta = load_model(checkpoint_path(checkpoint), device)
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
    predictions = [
        Prediction(path, sorted(zip(meta["genres"], map(float, row)), key=lambda item: -item[1]))
        for path, row in zip(usable, probs)
    ]
    return meta, predictions, failures


def describe_checkpoint(checkpoint: str | os.PathLike, meta: dict) -> str:
    """What the probabilities below mean: which model, which size, softmax or sigmoid."""
    w, h = meta["size"]
    kind = (
        "softmax: the genres share one unit of probability"
        if meta["loss"] == "cce"
        else "sigmoid: an independent probability per genre"
    )
    return f"checkpoint {checkpoint}: loss {meta['loss']} ({kind}), posters resized to {w}x{h} (ratio {meta['ratio']})"


def format_prediction(prediction: Prediction) -> str:
    return f"{prediction.path}: " + ", ".join(f"{genre} {p:.3f}" for genre, p in prediction.genres)
