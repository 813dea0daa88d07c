"""THE on-disk format of a built dataset: the only module that writes or reads it.

A built dataset is a folder:

    manifest.json         format version, genres, sizes per ratio, counts, source, seed, sha256s
    images_r<R>.npy       uint8 N x H x W x 3 (NHWC), one per shrink ratio R (percent)
    labels.npy            uint8 N x G multi-hot, columns in manifest["genres"] order
    ids.npy               unicode N: the title ids, row for row with images and labels
    split_<name>.npy      int64 row indices of each split (train, val, test)

manifest.json is written last, after every array, and the folder is renamed into place only
when whole: a folder with a manifest is a finished dataset.

`open_dataset()` is the reader every consumer uses (the trainer included): it checks the
manifest and returns memory maps, so opening a dataset copies nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_json_atomic
from .destination import FolderKind
from .errors import BadInput

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LABELS = "labels.npy"
IDS = "ids.npy"
SPLITS = ("train", "val", "test")
# tune-genres keeps the features of frozen pretrained bodies here, inside the dataset (sweep/feature_cache.py).
FEATURE_CACHE = "features"


def images_file(ratio: int) -> str:
    return f"images_r{ratio}.npy"


def split_file(name: str) -> str:
    return f"split_{name}.npy"


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: dict) -> None:
    """Hash every array in `folder` into the manifest and write it last, under a temporary name."""
    manifest = dict(manifest, format_version=FORMAT_VERSION)
    files = sorted(folder.glob("*.npy"))
    # hashlib releases the GIL on large blocks: one thread per core hashes the arrays in parallel.
    with ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:
        manifest["sha256"] = dict(zip((p.name for p in files), pool.map(sha256_of, files)))
    write_json_atomic(folder / MANIFEST, manifest)


def is_dataset(folder: Path) -> bool:
    """Whether `folder` holds a manifest this module wrote (of any format version): not just any manifest.json."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "format_version" in manifest


DATASET = FolderKind("a built dataset", is_dataset, (MANIFEST, LABELS, IDS, "images_r*.npy", "split_*.npy", FEATURE_CACHE))


@dataclass
class Dataset:
    """An opened built dataset. Arrays are read-only memory maps of the files."""

    root: Path
    manifest: dict

    @property
    def genres(self) -> list[str]:
        return list(self.manifest["genres"])

    @property
    def ratios(self) -> list[int]:
        return sorted(int(r) for r in self.manifest["ratios"])

    def size(self, ratio: int) -> tuple[int, int]:
        """(width, height) of a ratio's images."""
        w, h = self._ratio_entry(ratio)["size"]
        return int(w), int(h)

    def images(self, ratio: int) -> np.ndarray:
        self._ratio_entry(ratio)
        return self._load(images_file(ratio))

    @property
    def labels(self) -> np.ndarray:
        return self._load(LABELS)

    @property
    def ids(self) -> np.ndarray:
        return self._load(IDS)

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise BadInput(f"unknown split {name!r}: expected one of {', '.join(SPLITS)}")
        return self._load(split_file(name))

    @property
    def fingerprint(self) -> str:
        """What the dataset is, in 16 hex digits: a hash of its genres and every array's sha256
        (images, labels, ids and the split). A rebuild that changes any of them changes it."""
        content = json.dumps({"genres": self.genres, "sha256": self.manifest["sha256"]}, sort_keys=True)
        return hashlib.sha256(content.encode()).hexdigest()[:16]

    def verify(self) -> None:
        """Recompute every array's sha256 against the manifest (reads the whole dataset)."""
        for name, expected in self.manifest["sha256"].items():
            if sha256_of(self.root / name) != expected:
                raise BadInput(f"{self.root / name}: sha256 differs from {MANIFEST}; the file is corrupt")

    def _ratio_entry(self, ratio: int) -> dict:
        entry = self.manifest["ratios"].get(str(ratio))
        if entry is None:
            have = ", ".join(str(r) for r in self.ratios)
            raise BadInput(f"{self.root}: no ratio {ratio} in this dataset (it has {have})")
        return entry

    def _load(self, name: str) -> np.ndarray:
        return np.load(self.root / name, mmap_mode="r")


def open_dataset(root: str | os.PathLike) -> Dataset:
    """Open a built dataset, checking its manifest and that every array has the recorded shape."""
    root = Path(root)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BadInput(f"{root}: not a built dataset (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as e:
        raise BadInput(f"{manifest_path}: not valid JSON ({e})") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BadInput(f"{manifest_path}: format_version {version!r}, this reader knows {FORMAT_VERSION}")
    for key in ("genres", "ratios", "count", "splits", "sha256"):
        if key not in manifest:
            raise BadInput(f"{manifest_path}: missing key {key!r}")
    dataset = Dataset(root, manifest)
    n, g = manifest["count"], len(manifest["genres"])
    expected = {LABELS: (n, g), IDS: (n,)}
    for ratio in dataset.ratios:
        w, h = dataset.size(ratio)
        expected[images_file(ratio)] = (n, h, w, 3)
    for name in SPLITS:
        expected[split_file(name)] = (manifest["splits"][name],)
    for name, shape in expected.items():
        path = root / name
        if not path.is_file():
            raise BadInput(f"{path}: missing (listed by {MANIFEST})")
        actual = dataset._load(name).shape
        if actual != shape:
            raise BadInput(f"{path}: shape {actual}, {MANIFEST} says {shape}")
    return dataset
