"""THE checkpoint format: one file, `checkpoint.pt`, in a checkpoint directory (a Tune Checkpoint).

It holds plain tensors and primitives only, so it loads with torch.load(weights_only=True):

    format      CHECKPOINT_FORMAT
    model       the model's state_dict (the latest epoch's: what a resume continues from)
    best_model  the state_dict of the best epoch by the trial's select_metric (None before any
                finite score, and absent from checkpoints written before it was kept)
    thresholds  per-genre decision thresholds tuned on validation with best_model (the final
                checkpoint only; None elsewhere)
    optimizer   the optimizer's state_dict
    epoch       epochs completed
    best        the best epoch so far: {"epoch", "metric", "value"} (older: {"epoch", "val_map"})
    generator   the shuffling generator's state (uint8 tensor)
    rng         training.rng_state() at save time: Python, numpy, torch CPU (and the trial GPU's) RNGs
    meta        everything needed to use the model alone (META_KEYS): genres, ratio, size
                [width, height], loss, model_config, lr, and the trial's config; `model`, the
                registry's name (absent before the registry: the mini-VGG); select_metric, and the
                dataset_fingerprint, sweep_fingerprint and train_ids (the training split's poster
                ids) that evaluate checks (absent before fingerprints); `holds`: "head" when
                model and best_model are a frozen body's head alone (a cached-features trial: the
                body is the ImageNet weights, which models/pretrained.py loads again), else absent

Beside it, `history.json`: the metrics row reported for each epoch so far (a list of JSON-like
dicts), so a trial's learning curve survives a driver that died before recording it; a small file
of its own, so the driver reads it without loading the weights. (Checkpoints written before it
kept the rows inside checkpoint.pt, as `history`; load_checkpoint returns them either way.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from dataset_builder.atomic import AtomicFile, write_json_atomic
from dataset_builder.errors import BadInput

from ..models.catalog import DEFAULT_MODEL
from ..models.registry import load_body_weights, model_from_config
from .rng import rng_state

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "history.json"
CHECKPOINT_FORMAT = 1
META_KEYS = ("genres", "ratio", "size", "loss", "model_config", "lr", "config")
# Read onto the CPU whatever map_location says: torch.set_rng_state, Generator.set_state and numpy
# take CPU tensors only (a GPU trial resumed with them on its GPU failed); and the best epoch's
# weights, a CPU copy in a trial (training/trial.py), which a resumed GPU trial kept on its GPU.
CPU_ONLY = ("rng", "generator", "best_model")
# What a place given as a checkpoint lacks (locally here; in an object store results/checkpoints.py).
NO_CHECKPOINT = f"no checkpoint here (expected a trial folder, a directory holding {CHECKPOINT_FILE}, or the file)"


def save_checkpoint(
    directory: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    best,
    generator_state: torch.Tensor,
    meta: dict,
    history: list[dict] | None = None,
    best_model: dict | None = None,
    thresholds=None,
) -> Path:
    """Write directory/checkpoint.pt atomically (temporary name, then rename); returns its path."""
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise ValueError(f"checkpoint meta lacks {missing}")
    try:
        # A JSON round trip keeps meta to primitives that weights_only loading accepts.
        meta = json.loads(json.dumps(meta))
        history = json.loads(json.dumps(history or []))
    except TypeError as e:
        raise TypeError(f"checkpoint meta and history must be JSON-like (numbers, strings, lists, dicts): {e}") from None
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "best_model": best_model,
        "thresholds": None if thresholds is None else [float(t) for t in thresholds],
        "optimizer": optimizer.state_dict(),
        "epoch": int(epoch),
        "best": best,
        "generator": generator_state,
        "rng": rng_state(next(model.parameters()).device),
        "meta": meta,
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json_atomic(directory / HISTORY_FILE, history)
    path = directory / CHECKPOINT_FILE
    with AtomicFile(path) as f:
        torch.save(state, f)
    return path


def write_thresholds(location: str | os.PathLike, thresholds) -> None:
    """Put the thresholds tuned for the best weights into a checkpoint (the driver's, for a trial
    the scheduler stopped before it could tune its own), replacing the file whole."""
    path = checkpoint_path(location)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["thresholds"] = [float(t) for t in thresholds]
    with AtomicFile(path) as f:
        torch.save(state, f)


def checkpoint_path(location: str | os.PathLike) -> Path:
    """A checkpoint directory, the checkpoint.pt file itself, or a trial's folder (its latest
    checkpoint_NNNNNN, which holds the best epoch's weights too) -> the file's path."""
    location = Path(location)
    path = location / CHECKPOINT_FILE if location.is_dir() else location
    if location.is_dir() and not path.is_file():
        # Ray names them checkpoint_000011, checkpoint_000012: zero-padded, so the last name is the latest.
        saved = sorted(d / CHECKPOINT_FILE for d in location.glob("checkpoint_*") if (d / CHECKPOINT_FILE).is_file())
        path = saved[-1] if saved else path
    if not path.is_file():
        raise BadInput(f"{location}: {NO_CHECKPOINT}")
    return path


def load_checkpoint(directory: str | os.PathLike, map_location: torch.device | str = "cpu") -> dict:
    """The dict save_checkpoint wrote; meta["size"] comes back as a (width, height) tuple.

    The latest weights and optimizer state go to `map_location`; the RNG states and the best
    epoch's weights (CPU_ONLY) stay on the CPU.
    """
    path = checkpoint_path(directory)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several unrelated types for a file that is not a checkpoint
        raise BadInput(f"{path}: not a readable tune-genres checkpoint (cut off, or another kind of file: "
                       f"{load_failure(e)})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise BadInput(f"{path}: checkpoint format {found!r}, this reader knows {CHECKPOINT_FORMAT}")
    lacking = [key for key in ("model", "epoch", "meta") if key not in state]
    lacking += [f"meta.{key}" for key in META_KEYS if key not in state.get("meta", {})]
    if lacking:
        raise BadInput(f"{path}: not a whole tune-genres checkpoint (no {', '.join(lacking)})")
    for key in state.keys() - set(CPU_ONLY):
        state[key] = moved(state[key], map_location)
    state["meta"]["size"] = tuple(state["meta"]["size"])
    history = path.parent / HISTORY_FILE
    state["history"] = json.loads(history.read_text()) if history.is_file() else state.get("history", [])
    # Checkpoints written before these were kept.
    state.setdefault("best_model", None)
    state.setdefault("thresholds", None)
    return state


def load_failure(error: Exception) -> str:
    """torch.load's error in a few words: its type and first sentence (its zip reader's runs on for
    four more about how files get corrupted)."""
    text = str(error).strip()
    first = text.splitlines()[0].split(". ")[0] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def moved(value, device: torch.device | str):
    """`value` with every tensor in it on `device`; dicts and lists (state_dicts nest them) are
    changed in place, so a state_dict keeps its type and `_metadata`."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = moved(item, device)
    elif isinstance(value, list):
        value[:] = [moved(item, device) for item in value]
    elif isinstance(value, tuple):
        return tuple(moved(item, device) for item in value)
    return value


WEIGHTS = ("best", "last")


def load_model(
    directory: str | os.PathLike, device: torch.device | str = "cpu", weights: str = "best"
) -> tuple[nn.Module, dict]:
    """The checkpoint's model, on `device` in channels_last and eval mode, and its meta.

    weights "best": the best epoch's (by the trial's select_metric); "last": the latest epoch's.
    A checkpoint without best weights (written before they were kept, or before any finite
    score) gives its latest. The returned meta adds what was loaded: `weights` ("best" or
    "last"), `epoch` (the epoch those weights come from) and `thresholds` (tuned per genre, or None).
    """
    if weights not in WEIGHTS:
        raise BadInput(f"--weights {weights}: expected one of {', '.join(WEIGHTS)}")
    state = load_checkpoint(directory, map_location=device)
    meta = dict(state["meta"])
    best = weights == "best" and state["best_model"] is not None
    model = rebuild_model(state, best)
    if best:
        meta.update(weights="best", epoch=int(state["best"]["epoch"]), thresholds=state["thresholds"])
    else:
        # Thresholds were tuned for the best weights: they hold for the latest only when those are the same.
        same = state["best_model"] is None or int(state["best"].get("epoch", -1)) == state["epoch"]
        meta.update(weights="last", epoch=int(state["epoch"]), thresholds=state["thresholds"] if same else None)
    model.to(device, memory_format=torch.channels_last).eval()
    return model, meta


def rebuild_model(state: dict, best: bool) -> nn.Module:
    """The checkpoint's network with its best (or latest) weights, on the CPU; a head-only checkpoint
    gets its body's ImageNet weights from where the trial's came from (models/pretrained.py)."""
    meta = state["meta"]
    name = meta.get("model", DEFAULT_MODEL)
    model = model_from_config(name, meta["model_config"])
    weights = state["best_model"] if best else state["model"]
    if meta.get("holds") == "head":
        from ..models.pretrained import load_imagenet_weights

        load_body_weights(model, load_imagenet_weights(name, f"a checkpoint of {name}'s head"))
        model.head.load_state_dict({k: v.to("cpu") for k, v in weights.items()})
    else:
        model.load_state_dict(weights)
    return model
