"""A trained checkpoint's (or an ensemble's) genre probabilities for poster files, prepared exactly
as the builder does. The checkpoint or ensemble folder is a local path or a URI
(results/checkpoints.py); the posters are on this machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dataset_builder.errors import BadInput, PosterError
from dataset_builder.images import open_poster, resize_all

from ..training.data import ResidentSplit
from ..training.loop import EVAL_BATCH, predict_logits
from ..training.losses import probabilities
from .checkpoints import checkpoint_name, find_checkpoint, load_found_model
from .ensemble import read_ensemble
from .location import Where


@dataclass
class Prediction:
    path: Path
    genres: list[tuple[str, float]]  # (genre, probability), most probable first
    predicted: list[str]  # the genres at or above their decision threshold, most probable first


def predict(
    checkpoint: Where,
    images: list[str | os.PathLike],
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
    weights: str = "best",
) -> tuple[dict, list[Prediction], list[tuple[Path, PosterError]]]:
    """(the checkpoint's meta, a Prediction per usable poster, (path, error) per unusable one).

    A genre is predicted at the per-genre threshold tuned on validation when the checkpoint holds
    them (meta["thresholds"]), else at the trial's fixed threshold (0.5 by default). An ensemble's
    folder (results/ensemble.py) predicts the mean of its members' probabilities at their weights,
    each member's posters resized to its own size, at the thresholds tuned for the ensemble; its
    meta is ensemble_meta's.
    """
    ensemble = read_ensemble(checkpoint)
    if ensemble is not None and weights != "best":
        raise BadInput(f"--weights {weights}: an ensemble's members are their best epochs' weights, chosen on validation")
    places = [checkpoint] if ensemble is None else [m["checkpoint"] for m in ensemble["members"]]
    loaded = [load_found_model(find_checkpoint(place), device, weights) for place in places]
    meta = loaded[0][1] if ensemble is None else ensemble_meta(ensemble)
    member_weights = [1.0] if ensemble is None else [float(m["weight"]) for m in ensemble["members"]]
    sizes = list(dict.fromkeys(tuple(member_meta["size"]) for _, member_meta in loaded))
    pixels, usable, failures = {size: [] for size in sizes}, [], []
    for path in map(Path, images):
        try:
            for size, poster in zip(sizes, resize_all(open_poster(path), sizes)):  # decoded once, for every size
                pixels[size].append(poster)
            usable.append(path)
        except PosterError as e:
            failures.append((path, e))
    if not usable:
        return meta, [], failures
    probs = sum(weight * member_probabilities(model, member_meta, np.stack(pixels[tuple(member_meta["size"])]),
                                              device, batch_size)
                for (model, member_meta), weight in zip(loaded, member_weights))
    thresholds = dict(zip(meta["genres"], decision_thresholds(meta)))
    predictions = []
    for path, row in zip(usable, probs):
        ranked = sorted(zip(meta["genres"], map(float, row)), key=lambda item: -item[1])
        predictions.append(Prediction(path, ranked, [g for g, p in ranked if p >= thresholds[g]]))
    return meta, predictions, failures


def member_probabilities(model, meta: dict, pixels: np.ndarray, device: torch.device | str, batch_size: int) -> np.ndarray:
    """One network's probabilities for posters already at its size (uint8 N x H x W x 3)."""
    # Labels are unused here: only the split's uint8 -> float batching is wanted.
    posters = ResidentSplit(torch.from_numpy(pixels).to(device), torch.zeros(len(pixels), len(meta["genres"]), device=device))
    return probabilities(meta["loss"], predict_logits(model, posters, batch_size)).float().cpu().numpy()


def ensemble_meta(ensemble: dict) -> dict:
    """What predict says of an ensemble, in a checkpoint meta's terms (genres, loss, thresholds, the
    fixed threshold) plus its members."""
    return {"genres": ensemble["genres"], "loss": ensemble["loss"], "thresholds": ensemble["thresholds"],
            "config": {"threshold": ensemble["threshold"]}, "members": ensemble["members"]}


def decision_thresholds(meta: dict) -> list[float]:
    """Each genre's threshold: tuned on validation when the checkpoint has them, else the trial's fixed one."""
    if meta.get("thresholds") is not None:
        return [float(t) for t in meta["thresholds"]]
    return [float(meta["config"].get("threshold", 0.5))] * len(meta["genres"])


def describe_checkpoint(checkpoint: Where, meta: dict) -> str:
    """What the probabilities below mean: which model (or ensemble), which size, softmax or sigmoid."""
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
    if "members" in meta:
        members = ", ".join(f"{m['trial']} x{m['weight']:.3f} ({m['model']}, ratio {m['ratio']})" for m in meta["members"])
        return (f"ensemble {checkpoint_name(checkpoint)}: the mean of {len(meta['members'])} trials' probabilities at "
                f"their weights, each on the poster resized to its own size: {members}; loss {meta['loss']} ({kind}); "
                f"a genre is predicted at its {rule}")
    w, h = meta["size"]
    return (f"checkpoint {checkpoint_name(checkpoint)}: {meta['weights']} weights (epoch {meta['epoch']}), loss {meta['loss']} ({kind}), "
            f"posters resized to {w}x{h} (ratio {meta['ratio']}); a genre is predicted at its {rule}")


def format_prediction(prediction: Prediction) -> str:
    chosen = ", ".join(prediction.predicted) or "none"
    return f"{prediction.path}: " + ", ".join(f"{genre} {p:.3f}" for genre, p in prediction.genres) + f" -> {chosen}"
