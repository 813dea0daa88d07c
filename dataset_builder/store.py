"""THE on-disk format of a built dataset: the only module that writes or reads it.

A built dataset is a folder:

    manifest.json         format version, genres, sizes per ratio, counts, source, seed, sha256s
    images_r<R>.npy       uint8 N x H x W x 3 (NHWC), one per shrink ratio R (percent)
    labels.npy            uint8 N x G multi-hot, columns in manifest["genres"] order
    ids.npy               unicode N: the title ids, row for row with images and labels
    split_<name>.npy      int64 row indices of each split (train, val, test)

manifest.json is written last, after every array, and the folder is renamed into place only
when whole: a folder with a manifest is a finished dataset.

`open_dataset()` is the reader every consumer uses (the trainer included). Before returning it
checks that the dataset means what the manifest says: every array readable to its last byte with
the recorded shape and dtype, labels 0/1 with a genre per row, ids unique, splits disjoint and
together every row once (store_checks.py). A file edited by hand, sha256s rewritten to match,
cannot pass test rows off as training rows. These checks read labels, ids and splits (small)
and only the headers of the image arrays, so opening stays a matter of milliseconds; it returns
memory maps and copies nothing. `Dataset.verify()` also recomputes every sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import store_checks
from .atomic import write_json_atomic
from .destination import FolderKind
from .errors import BadInput
from .store_checks import REBUILD

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LABELS = "labels.npy"
IDS = "ids.npy"
SPLITS = ("train", "val", "test")
# What open_dataset checks, in words: `info` prints it, so a user knows what "checked" means.
CHECKED = "every array readable with its recorded shape and dtype; splits disjoint and complete, labels 0/1, ids unique"

# Each array's dtype, by rule: the name a message gives it and the test its dtype must pass.
DTYPE_RULES = {
    "uint8": lambda dtype: dtype == np.uint8,
    "unicode": lambda dtype: dtype.kind == "U",
    "integer": lambda dtype: dtype.kind in "iu",
}

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


def expected_arrays(manifest: dict) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every array the manifest lists: file name -> (shape, dtype rule in DTYPE_RULES)."""
    n, g = manifest["count"], len(manifest["genres"])
    expected = {LABELS: ((n, g), "uint8"), IDS: ((n,), "unicode")}
    for ratio, entry in sorted(manifest["ratios"].items(), key=lambda item: int(item[0])):
        w, h = entry["size"]
        expected[images_file(int(ratio))] = ((n, int(h), int(w), 3), "uint8")
    for name in SPLITS:
        expected[split_file(name)] = ((manifest["splits"][name],), "integer")
    return expected


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) from a .npy file's header; reads nothing past it.

    Raises BadInput, one line, where the header does not parse: np.load would raise anything
    from ValueError to tokenize.TokenError, or an mmap error, from deep inside numpy.
    """
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f".npy version {version[0]}.{version[1]}, which this format never writes")
            return shape, dtype, f.tell()
    except (ValueError, OSError, SyntaxError, tokenize.TokenError) as e:
        raise BadInput(f"{path}: not a readable .npy array ({_first_line(e)}); the file is damaged ({REBUILD})") from None


def _first_line(error: Exception) -> str:
    """An exception's message, one line, bounded (numpy quotes a whole damaged header)."""
    text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error) or type(error).__name__
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= 100 else line[:97] + "..."


def check_array_file(path: Path, shape: tuple[int, ...], dtype_rule: str) -> None:
    """The file is a .npy array of `shape` and `dtype_rule`, whole to its last byte."""
    if not path.is_file():
        raise BadInput(f"{path}: missing (listed by {MANIFEST})")
    actual_shape, dtype, offset = npy_header(path)
    if not DTYPE_RULES[dtype_rule](dtype):
        raise BadInput(f"{path}: dtype {dtype}, this format stores {dtype_rule} here ({REBUILD})")
    if actual_shape != shape:
        raise BadInput(f"{path}: shape {actual_shape}, {MANIFEST} says {shape}")
    # The file holds exactly the header and the data it describes: shorter is truncated (a
    # memory map of it fails), longer is something other than what was written.
    expected_bytes = offset + int(np.prod(shape)) * dtype.itemsize
    actual_bytes = path.stat().st_size
    if actual_bytes < expected_bytes:
        raise BadInput(f"{path}: truncated: {actual_bytes} bytes, its header describes {expected_bytes} ({REBUILD})")
    if actual_bytes > expected_bytes:
        raise BadInput(f"{path}: {actual_bytes - expected_bytes} bytes past the end of the array its header describes ({REBUILD})")


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
        """Recompute every array's sha256 against the manifest (reads the whole dataset).

        Everything open_dataset checks has been checked already; this adds the bytes."""
        recorded = self.manifest["sha256"]
        for name in expected_arrays(self.manifest):
            if name not in recorded:
                raise BadInput(f"{self.root / MANIFEST}: no sha256 for {name}; it cannot be verified ({REBUILD})")
        for name, expected in recorded.items():
            path = self.root / name
            if not path.is_file():
                raise BadInput(f"{path}: missing (its sha256 is listed in {MANIFEST})")
            if sha256_of(path) != expected:
                raise BadInput(f"{path}: sha256 differs from {MANIFEST}; the file is corrupt")

    def _ratio_entry(self, ratio: int) -> dict:
        entry = self.manifest["ratios"].get(str(ratio))
        if entry is None:
            have = ", ".join(str(r) for r in self.ratios)
            raise BadInput(f"{self.root}: no ratio {ratio} in this dataset (it has {have})")
        return entry

    def _load(self, name: str) -> np.ndarray:
        return np.load(self.root / name, mmap_mode="r")


def open_dataset(root: str | os.PathLike) -> Dataset:
    """Open a built dataset, checking that it is whole and means what its manifest says (see the
    module's docstring); any fault is a BadInput of one line naming the file."""
    root = Path(root)
    manifest = read_manifest(root)
    for name, (shape, dtype_rule) in expected_arrays(manifest).items():
        check_array_file(root / name, shape, dtype_rule)
    dataset = Dataset(root, manifest)
    check_contents(dataset)
    return dataset


def read_manifest(root: Path) -> dict:
    """The manifest, with every key the reader relies on present and of the right kind."""
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BadInput(f"{root}: not a built dataset (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as e:
        raise BadInput(f"{manifest_path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise BadInput(f"{manifest_path}: expected a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BadInput(f"{manifest_path}: format_version {version!r}, this reader knows {FORMAT_VERSION}")
    for key in ("genres", "ratios", "count", "splits", "sha256"):
        if key not in manifest:
            raise BadInput(f"{manifest_path}: missing key {key!r}")
    if not isinstance(manifest["sha256"], dict):
        raise BadInput(f"{manifest_path}: sha256 {manifest['sha256']!r}, expected {{file name: sha256}}")
    if not _is_count(manifest["count"]):
        raise BadInput(f"{manifest_path}: count {manifest['count']!r}, expected a whole number")
    splits = manifest["splits"]
    if not isinstance(splits, dict) or sorted(splits) != sorted(SPLITS) or not all(map(_is_count, splits.values())):
        raise BadInput(f"{manifest_path}: splits {splits!r}, expected a row count for each of {', '.join(SPLITS)}")
    _check_ratios(manifest_path, manifest["ratios"])
    store_checks.check_genres(manifest_path, manifest["genres"])
    return manifest


def _check_ratios(manifest_path: Path, ratios) -> None:
    """manifest["ratios"]: {"<percent>": {"size": [width, height]}, ...}, at least one."""
    def well_formed(ratio, entry) -> bool:
        size = entry.get("size") if isinstance(entry, dict) else None
        return (ratio.isdigit() and isinstance(size, list) and len(size) == 2
                and all(_is_count(v) and v > 0 for v in size))

    if not isinstance(ratios, dict) or not ratios or not all(well_formed(r, e) for r, e in ratios.items()):
        raise BadInput(f"{manifest_path}: ratios {ratios!r}, expected {{\"<percent>\": {{\"size\": [width, height]}}, ...}}")


def check_contents(dataset: Dataset) -> None:
    """What the arrays hold, beyond shapes: the small arrays only, never an image's pixels."""
    root = dataset.root
    labels, ids = np.asarray(dataset.labels), np.asarray(dataset.ids)
    store_checks.check_labels(root / LABELS, labels, dataset.genres, ids)
    store_checks.check_ids(root / IDS, ids)
    splits = {root / split_file(name): np.asarray(dataset.split(name)) for name in SPLITS}
    store_checks.check_splits(root, splits, len(ids))


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
