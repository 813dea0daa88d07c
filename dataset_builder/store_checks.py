"""What a built dataset's small arrays must mean: the checks behind `store.open_dataset()`.

store.py knows the files and their shapes and dtypes; these functions are handed the arrays (and
the paths to name in a message) and check what build guarantees of their contents. Each fault is
one BadInput line naming the file. Nothing here reads an image array: labels, ids and splits are
a few bytes per poster, so checking them costs milliseconds even on the full poster set.

Why: a sha256 proves only that a file is what the manifest lists. Hand-edited arrays with their
sha256s rewritten verify byte for byte, yet in a hostile user's test a test split made of
training rows raised a sweep's test mAP from 0.388 to 0.555, and labels of 7 gave a val_map of 7.000.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import BadInput

REBUILD = "rebuild with dataset-builder build"
# How many examples a message quotes: enough to find the fault, short enough for one line.
EXAMPLES = 3


def check_genres(manifest_path: Path, genres) -> None:
    """manifest["genres"]: distinct non-empty names, one per label column."""
    if not isinstance(genres, list) or not genres or not all(isinstance(g, str) and g for g in genres):
        raise BadInput(f"{manifest_path}: genres {genres!r}, expected a list of genre names")
    repeated = sorted({g for g in genres if genres.count(g) > 1})
    if repeated:
        raise BadInput(f"{manifest_path}: genre {repeated[0]!r} is listed more than once; each label column is one genre ({REBUILD})")


def check_labels(path: Path, labels: np.ndarray, genres: list[str], ids: np.ndarray) -> None:
    """Multi-hot: every value 0 or 1, and every row with at least one genre (build keeps no
    title that has none of the chosen genres)."""
    if labels.max(initial=0) > 1:  # the cheap test first; the example only for a message
        rows, cols = np.nonzero(labels > 1)
        row, col = rows[0], cols[0]
        raise BadInput(
            f"{path}: {len(rows)} values other than 0 or 1 (e.g. {labels[row, col]} at row {row}, "
            f"{ids[row]}, {genres[col]}); labels are multi-hot 0/1 ({REBUILD})"
        )
    empty = np.flatnonzero(~labels.any(axis=1))
    if len(empty):
        raise BadInput(
            f"{path}: {len(empty)} rows have no genre (e.g. row {empty[0]}, {ids[empty[0]]}); "
            f"build keeps only titles with at least one of the genres ({REBUILD})"
        )


def check_ids(path: Path, ids: np.ndarray) -> None:
    """Title ids: none empty, none twice (rows are matched to titles by id)."""
    empty = np.flatnonzero(ids == "")
    if len(empty):
        raise BadInput(f"{path}: {len(empty)} empty ids (e.g. row {empty[0]}); every row is a title with its id ({REBUILD})")
    ordered = np.sort(ids)  # a repeated id sits beside itself once sorted
    if (ordered[1:] == ordered[:-1]).any():
        unique, counts = np.unique(ids, return_counts=True)
        twice = np.flatnonzero(counts > 1)
        example = str(unique[twice[0]])
        rows = np.flatnonzero(ids == example)[:EXAMPLES].tolist()
        raise BadInput(
            f"{path}: {len(twice)} ids appear more than once (e.g. {example!r} at rows {_listed(rows)}); "
            f"each title is one row ({REBUILD})"
        )


def check_splits(root: Path, splits: dict[Path, np.ndarray], n: int) -> None:
    """Row indices in [0, n), none twice within a split, no row in two splits, every row in one.

    `splits` maps each split's file to its indices, in the order the splits are named (a row
    found in two splits is reported against the later one)."""
    owner = np.full(n, -1, dtype=np.int64)  # which split (its position in `splits`) holds each row
    paths = list(splits)
    for position, (path, indices) in enumerate(splits.items()):
        _check_in_range(path, indices, n)
        _check_no_repeats(path, indices)
        _check_disjoint(path, indices, owner, paths)
        owner[indices] = position
    unassigned = np.flatnonzero(owner < 0)
    if len(unassigned):
        files = ", ".join(p.name for p in paths)
        raise BadInput(
            f"{root}: {len(unassigned)} of its {n} rows are in no split (e.g. rows {_listed(unassigned[:EXAMPLES])}; "
            f"splits {files}); every row belongs to exactly one split ({REBUILD})"
        )


def _check_in_range(path: Path, indices: np.ndarray, n: int) -> None:
    outside = indices[(indices < 0) | (indices >= n)]
    if len(outside):
        raise BadInput(
            f"{path}: {len(outside)} of its {len(indices)} row indices are outside 0..{n - 1} "
            f"(e.g. {_listed(outside[:EXAMPLES])}); the dataset has {n} rows ({REBUILD})"
        )


def _check_no_repeats(path: Path, indices: np.ndarray) -> None:
    rows, counts = np.unique(indices, return_counts=True)
    repeated = rows[counts > 1]
    if len(repeated):
        raise BadInput(
            f"{path}: {len(repeated)} rows are listed more than once (e.g. rows {_listed(repeated[:EXAMPLES])}); "
            f"a split holds each row once ({REBUILD})"
        )


def _check_disjoint(path: Path, indices: np.ndarray, owner: np.ndarray, paths: list[Path]) -> None:
    earlier = owner[indices]
    shared = earlier[earlier >= 0]
    if len(shared):
        other = paths[np.bincount(shared).argmax()]
        count = int((shared == paths.index(other)).sum())
        raise BadInput(
            f"{path}: {count} of its {len(indices)} rows are also in {other.name}; "
            f"the splits must be disjoint ({REBUILD})"
        )


def _listed(values) -> str:
    return ", ".join(str(v) for v in np.asarray(values).tolist())
