"""A trial's data: copied out of the built dataset once, then resident in memory as uint8.

`trial_arrays` reads one ratio through the builder's reader into plain numpy arrays (what the
driver puts in Ray's object store once, so no trial touches the disk). `ResidentSplit` keeps one
split's images on the trial's device as uint8 (4x smaller than float) and makes each batch by
indexing with a slice of a shuffled index tensor, scaling to float on the fly: no DataLoader,
no per-sample Python, no disk reads (the airbench recipe).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from dataset_builder.store import SPLITS, Dataset


def trial_arrays(dataset: Dataset, ratio: int) -> dict[str, np.ndarray]:
    """images (N,H,W,3 uint8), labels (N,G uint8), the train/val/test row indices, genres, and what
    a checkpoint records of the dataset: its ids (N) and fingerprint."""
    arrays = {
        "images": np.array(dataset.images(ratio)),
        "labels": np.array(dataset.labels),
        "genres": dataset.genres,
        "ids": np.array(dataset.ids),
        "fingerprint": dataset.fingerprint,
    }
    for name in SPLITS:
        arrays[name] = np.array(dataset.split(name))
    return arrays


class ResidentSplit:
    """One split's images (uint8 N,H,W,3) and labels (float32 N,G), on one device."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} label rows")
        self.images = images
        self.labels = labels

    @classmethod
    def from_arrays(cls, arrays: dict, split: str, device: torch.device | str) -> ResidentSplit:
        return cls.from_indices(arrays["images"], arrays["labels"], arrays[split], device)

    @classmethod
    def from_indices(
        cls, images: np.ndarray, labels: np.ndarray, indices: np.ndarray, device: torch.device | str
    ) -> ResidentSplit:
        """The rows `indices` of (possibly memory-mapped) images and labels; the gather copies them."""
        indices = np.asarray(indices, dtype=np.int64)
        return cls(
            torch.from_numpy(images[indices]).to(device),
            torch.from_numpy(labels[indices].astype(np.float32)).to(device),
        )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x, y) batches covering every row once: shuffled by `generator` (a CPU generator), else in order.

        x is float32 N,3,H,W in [0, 1] (uint8 / 255) in channels_last memory format; the last
        batch may be smaller, as in Keras' fit.
        """
        n = len(self)
        if generator is None:
            order = torch.arange(n, device=self.device)
        else:
            # randperm on the CPU generator, so the same seed gives the same order on any device.
            order = torch.randperm(n, generator=generator).to(self.device, non_blocking=True)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            # NHWC uint8 permuted to NCHW is already channels_last; the dtype change keeps the strides.
            x = self.images.index_select(0, idx).permute(0, 3, 1, 2).float().div_(255)
            yield x, self.labels.index_select(0, idx)
