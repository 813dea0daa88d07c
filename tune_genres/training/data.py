"""A trial's data: one ratio's arrays, and each split of them resident as uint8, batched by index.

`trial_arrays` gives one ratio's arrays (what the driver puts in Ray's object store once, so no
trial touches the disk); its images stay a view of the builder's memory map, so that ray.put
copies them once, straight from the file into the store. `ResidentSplit` is one split: on the
CPU a view of the whole images array plus the split's row indices (in a trial, the object
store's read-only copy: one per node, however many trials share it); on a GPU the split's own
rows, copied to the device once. Each batch is gathered by index with a slice of a shuffled
order and scaled to float on the fly: no DataLoader, no per-sample Python, no disk reads (the
airbench recipe).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import torch

from dataset_builder.store import SPLITS, Dataset

# The host buffer that carries a split's rows to a GPU, one piece at a time: bounded, so copying
# a split there never needs a second whole copy of it in the trial's memory.
DEVICE_COPY_BYTES = 64 * 2**20


def trial_arrays(dataset: Dataset, ratio: int) -> dict[str, np.ndarray]:
    """images (N,H,W,3 uint8), labels (N,G uint8), the train/val/test row indices, genres, and what
    a checkpoint records of the dataset: its ids (N) and fingerprint.

    images is a plain ndarray over the memory-mapped file, not a copy: ray.put then copies the
    file's pages into the object store directly. Measured on the real posters' 325 MiB at 100%:
    the driver's peak RSS 807 MiB this way, 1133 MiB through a copy (np.array) first; and ray.put
    of the np.memmap itself took 9.8 s against 3.6 s (numpy pickles a subclass in-band, through a
    bytes copy) and every ray.get of it returned a writable private copy.
    """
    arrays = {
        "images": np.asarray(dataset.images(ratio)),
        "labels": np.array(dataset.labels),
        "genres": dataset.genres,
        "ids": np.array(dataset.ids),
        "fingerprint": dataset.fingerprint,
    }
    for name in SPLITS:
        arrays[name] = np.array(dataset.split(name))
    return arrays


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor over the array's own memory, read-only arrays included.

    Ray's object store hands a trial its arrays read-only; torch has no read-only tensors and
    warns, but a split only ever reads its images (index_select), never writes them.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.asarray(array))


def copy_rows(images: np.ndarray, indices: np.ndarray, device: torch.device | str,
              piece_bytes: int = DEVICE_COPY_BYTES) -> torch.Tensor:
    """images[indices] on `device`, gathered on the host at most `piece_bytes` at a time."""
    images = np.asarray(images)
    out = torch.empty((len(indices), *images.shape[1:]), dtype=torch.uint8, device=device)
    row_bytes = max(1, int(np.prod(images.shape[1:])) * images.itemsize)
    step = max(1, piece_bytes // row_bytes)
    for start in range(0, len(indices), step):
        out[start : start + step].copy_(torch.from_numpy(images[indices[start : start + step]]))
    return out


def epoch_order(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """The order an epoch visits n rows in, on `device`: shuffled by `generator` (a CPU generator,
    so the same seed gives the same order on any device), else 0..n-1. Every split type batches by it."""
    if generator is None:
        return torch.arange(n, device=device)
    return torch.randperm(n, generator=generator).to(device, non_blocking=True)


class ResidentSplit:
    """One split's images (uint8 H,W,3 each) and labels (float32 N,G), on one device.

    images: uint8 (M,H,W,3). rows: int64 (N,) on the same device, the split's rows of `images`
    in the split's order; None when `images` holds exactly the split's rows, in order.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor | None = None):
        count = images.shape[0] if rows is None else rows.shape[0]
        if count != labels.shape[0]:
            raise ValueError(f"{count} images but {labels.shape[0]} label rows")
        self.images = images
        self.labels = labels
        self.rows = rows

    @classmethod
    def from_arrays(cls, arrays: dict, split: str, device: torch.device | str) -> ResidentSplit:
        return cls.from_indices(arrays["images"], arrays["labels"], arrays[split], device)

    @classmethod
    def from_indices(
        cls, images: np.ndarray, labels: np.ndarray, indices: np.ndarray, device: torch.device | str
    ) -> ResidentSplit:
        """The rows `indices` of (possibly memory-mapped or read-only) images and labels.

        On the CPU no pixel is copied: the split indexes `images` itself (in a trial, the object
        store's copy that every trial on the node shares). On another device the rows are copied
        there once, in bounded pieces (copy_rows). Labels, N x G, are copied either way.
        """
        device = torch.device(device)
        indices = np.array(indices, dtype=np.int64)  # our own copy: N x 8 bytes
        labels = torch.from_numpy(np.asarray(labels)[indices].astype(np.float32)).to(device)
        if device.type == "cpu":
            return cls(shared_tensor(images), labels, torch.from_numpy(indices))
        return cls(copy_rows(images, indices, device), labels)

    def __len__(self) -> int:
        return self.images.shape[0] if self.rows is None else self.rows.shape[0]

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
        order = epoch_order(n, generator, self.device)
        # The shuffled order as rows of `images` (the split's rows, when it holds the split alone).
        image_rows = order if self.rows is None else self.rows.index_select(0, order)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            # NHWC uint8 permuted to NCHW is already channels_last; the dtype change keeps the strides.
            rows = image_rows[start : start + batch_size]
            x = self.images.index_select(0, rows).permute(0, 3, 1, 2).float().div_(255)
            yield x, self.labels.index_select(0, idx)
