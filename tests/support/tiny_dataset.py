"""A tiny built dataset written straight in the store format (no images decoded, no build run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dataset_builder import store
from dataset_builder.images import size_for_ratio


def write_tiny_dataset(
    folder: Path,
    *,
    count: int = 40,
    genres: tuple[str, ...] = ("Horror", "Romance", "Action"),
    ratios: tuple[int, ...] = (30,),
    seed: int = 0,
) -> Path:
    """A valid built dataset of random posters and multi-hot labels (each row >= 1 genre).

    Pixel (0, 0, 0) of row i holds i % 256, so a test can tell which row an image came from.
    Splits: a seeded permutation cut 60/20/20.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    labels = (rng.random((count, len(genres))) < 0.4).astype(np.uint8)
    labels[np.arange(count), rng.integers(0, len(genres), count)] = 1
    np.save(folder / store.LABELS, labels)
    np.save(folder / store.IDS, np.array([f"tt{i:07d}" for i in range(count)]))
    ratio_entries = {}
    for ratio in ratios:
        w, h = size_for_ratio(ratio)
        images = rng.integers(0, 256, (count, h, w, 3), dtype=np.uint8)
        images[:, 0, 0, 0] = np.arange(count) % 256
        np.save(folder / store.images_file(ratio), images)
        ratio_entries[str(ratio)] = {"size": [w, h]}
    order = rng.permutation(count)
    cuts = {"train": order[: count * 6 // 10], "val": order[count * 6 // 10 : count * 8 // 10], "test": order[count * 8 // 10 :]}
    for name, rows in cuts.items():
        np.save(folder / store.split_file(name), np.sort(rows).astype(np.int64))
    store.write_manifest(folder, {
        "genres": list(genres),
        "ratios": ratio_entries,
        "count": count,
        "splits": {name: len(rows) for name, rows in cuts.items()},
        "source": "tests/support/tiny_dataset.py",
        "seed": seed,
    })
    return folder
