"""Cached features: a frozen body's outputs, computed once, so a trial trains only its head.

With `freeze = "backbone"` and no augmentation a trial's body never changes and sees every poster
the same way each epoch: its pooled features are a fixed N x F matrix. The driver computes it once
per (model, ratio, input_scale) for the sweep (sweep/feature_cache.py keeps it on disk beside the
dataset) and a trial trains the head on FeatureSplits of it, at a few milliseconds an epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from .data import ResidentSplit, epoch_order
from .loop import EVAL_BATCH


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
