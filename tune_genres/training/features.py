"""Cached features: a frozen body's outputs, computed once, so a trial trains only its head.

With `freeze = "backbone"` and no augmentation a trial's body never changes and sees every poster
the same way each epoch: its pooled features are a fixed N x F matrix. The driver computes it once
per (model, ratio, input_scale) for the sweep (sweep/feature_cache.py keeps it on disk beside the
dataset) and a trial trains the head on FeatureSplits of it, at a few milliseconds an epoch.
score_head_checkpoint scores such a trial's checkpoint on the same matrix (for a trial the
scheduler stopped before it scored itself), without running the body again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..models.registry import create_head
from .data import ResidentSplit, epoch_order
from .loop import EVAL_BATCH
from .selection import Chosen, score_chosen

# What a cached feature matrix was computed by (sweep/feature_cache.py keys the file by it): bump
# it whenever extract_features, a body's forward or the ImageNet weights' loading changes what a
# poster's features are in a way the key's other parts (weights file, resize settings, mean/std,
# torch/timm versions) do not show, so that no sweep reads a matrix the new code would not give.
FEATURES_VERSION = 1


class FeatureSplit:
    """One split's feature rows (float32 N x F) and labels (float32 N x G) on one device, batched
    as ResidentSplit batches its posters: the same generator gives the same order."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        if features.shape[0] != labels.shape[0]:
            raise ValueError(f"{features.shape[0]} feature rows but {labels.shape[0]} label rows")
        self.features, self.labels = features, labels

    @classmethod
    def from_arrays(cls, arrays: dict, split: str, device: torch.device | str) -> FeatureSplit:
        """arrays["features"] (every poster's, N x F) at the split's rows."""
        indices = np.asarray(arrays[split], dtype=np.int64)
        features = torch.from_numpy(np.asarray(arrays["features"])[indices].astype(np.float32))
        labels = torch.from_numpy(np.asarray(arrays["labels"])[indices].astype(np.float32))
        return cls(features.to(device), labels.to(device))

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def device(self) -> torch.device:
        return self.features.device

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self)
        order = epoch_order(n, generator, self.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.features.index_select(0, idx), self.labels.index_select(0, idx)


def extract_features(model: nn.Module, images: np.ndarray, device: torch.device | str = "cpu",
                     batch_size: int = EVAL_BATCH, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """`model.features` (a BackboneClassifier's body) of every poster in `images` (N x H x W x 3
    uint8), in eval mode and fp32: float32 N x F. progress(n) after each batch of n posters."""
    everything = np.arange(len(images))
    split = ResidentSplit.from_indices(images, np.zeros((len(images), 1), np.uint8), everything, device)
    model = model.to(device, memory_format=torch.channels_last).eval()
    out = []
    with torch.inference_mode():
        for x, _ in split.batches(batch_size):
            out.append(model.features(x).float().cpu().numpy())
            if progress is not None:
                progress(len(x))
    return np.concatenate(out) if out else np.zeros((0, model.num_features), np.float32)


def head_from_checkpoint(state: dict, best: bool = True) -> nn.Module:
    """The head a head-only checkpoint (load_checkpoint's state, meta `holds` "head") holds, in eval
    mode on the CPU: its best epoch's weights (`best`, where it kept them), else its latest."""
    meta = state["meta"]
    if meta.get("holds") != "head":
        raise ValueError("not a head-only checkpoint (a cached-features trial's): its meta does not say holds = head")
    config = meta["model_config"]
    head = create_head(meta["model"], config["num_classes"], config["dropout"])
    weights = state["best_model"] if best and state["best_model"] is not None else state["model"]
    head.load_state_dict({k: v.to("cpu") for k, v in weights.items()})
    return head.eval()


def score_head_checkpoint(state: dict, arrays: dict, device: torch.device | str = "cpu") -> Chosen:
    """The metrics, per-genre thresholds and probabilities of a head-only checkpoint's chosen weights (the best epoch's;
    its latest where it kept none) on cached features: `arrays` as a trial gets them (features,
    labels, the val and test rows). Thresholds tuned on validation, then the test split scored once,
    as a trial scores itself at its end (selection.score_chosen): no poster goes through the body."""
    meta = state["meta"]
    head = head_from_checkpoint(state).to(device)
    if arrays["features"].shape[1] != head[-1].in_features:
        raise ValueError(f"{meta['model']}'s head takes {head[-1].in_features} features; the matrix has {arrays['features'].shape[1]}")
    val, test = (FeatureSplit.from_arrays(arrays, name, device) for name in ("val", "test"))
    return score_chosen(head, val, test, meta["loss"], float(meta["config"].get("threshold", 0.5)))
