"""Build: a raw collection -> a built dataset (see store.py for the format).

Each poster is decoded once and resized to every ratio by worker processes that write
straight into the output arrays (memory-mapped .npy files), so no pixels cross a pipe.
Everything is written into a temporary sibling folder, renamed into place when whole.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import store
from .errors import BadInput, PosterError
from .genres import multi_hot, select_genres
from .images import STUDY_RATIOS, open_poster, resize_all, size_for_ratio
from .destination import prepare_destination, replace_dir, temp_sibling
from .raw import PENDING, read_raw
from .split import iterative_stratification
from .workers import cpu_workers, process_pool

DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)
# Posters per task: large enough to amortise inter-process calls, small enough for a live bar.
CHUNK = 64
# Bytes of image rows held at once when failed posters' rows are dropped from a written array.
COPY_BYTES = 64 * 2**20


@dataclass
class BuildResult:
    root: Path
    count: int
    genres: list[str]
    splits: dict[str, int]
    dropped_no_genre: int
    failures: Counter = field(default_factory=Counter)
    raw: Path | None = None
    not_downloaded: int = 0  # titles of RAW with status pending: a download stopped before their poster

    def summary(self) -> str:
        failed = ", ".join(f"{n} {r}" for r, n in self.failures.most_common()) or "none"
        splits = ", ".join(f"{n} {name}" for name, n in self.splits.items())
        pending = (f"{self.not_downloaded} titles left out because their poster was never downloaded "
                   f"(status {PENDING}); " if self.not_downloaded else "")
        return (
            f"Built {self.root}: {self.count} posters ({splits}) labelled with {len(self.genres)} genres "
            f"({', '.join(self.genres)}); {self.dropped_no_genre} titles without any of them left out; "
            f"{pending}posters that failed to decode: {failed}."
        )

    def download_note(self) -> str | None:
        """One line for stderr when RAW's download was never finished: what to do before building."""
        if not self.not_downloaded:
            return None
        return (f"{self.raw}: {self.not_downloaded} titles have no poster yet (status {PENDING}: their download "
                f"was stopped); finish it by rerunning the import or imdb command that wrote {self.raw}, then build again")


def parse_ratios(text: str) -> list[int]:
    """`--ratios 30,44,58`: whole percents in 1..100, each once."""
    ratios = []
    for part in text.split(","):
        part = part.strip()
        try:
            ratio = int(part)
        except ValueError:
            raise BadInput(f"--ratios: {part!r} is not a whole percent (expected e.g. 30,44,58,72,86,100)") from None
        if not 1 <= ratio <= 100:
            raise BadInput(f"--ratios: {ratio} is outside 1..100 (a percent of 182x268)")
        if ratio in ratios:
            raise BadInput(f"--ratios: {ratio} given twice")
        ratios.append(ratio)
    return sorted(ratios)


def build(
    raw_dir: Path,
    out: Path,
    genres_spec: str,
    ratios: list[int] = list(STUDY_RATIOS),
    seed: int = 0,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    overwrite: bool = False,
    workers: int | None = None,
) -> BuildResult:
    collection = read_raw(raw_dir)
    replacing = prepare_destination(out, overwrite, {"RAW": raw_dir})
    usable = collection.usable
    if not usable:
        raise BadInput(f"{raw_dir}: no usable posters to build from")
    genres = select_genres(genres_spec, [p.genres for p in usable])
    labels = multi_hot([p.genres for p in usable], genres)
    keep = np.flatnonzero(labels.any(axis=1))
    posters = [usable[i] for i in keep]
    labels = labels[keep]
    _check_enough_titles(labels, genres, len(fractions))

    tmp = temp_sibling(out, "building")
    try:
        paths = [str(collection.path_of(p)) for p in posters]
        ok, failures, source_sizes = _write_images(tmp, paths, ratios, workers)
        if not ok.all():
            _drop_rows(tmp, ratios, ok)
            posters = [p for p, good in zip(posters, ok) if good]
            labels = labels[ok]
        splits = _write_labels_and_splits(tmp, posters, labels, genres, fractions, seed)
        store.write_manifest(
            tmp,
            _manifest(raw_dir, collection, genres_spec, genres, ratios, seed, fractions, labels, splits, source_sizes[ok]),
        )
        replace_dir(tmp, out, replacing)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(
        root=out,
        count=len(posters),
        genres=genres,
        splits={name: len(idx) for name, idx in splits.items()},
        dropped_no_genre=len(usable) - len(keep),
        failures=failures,
        raw=Path(raw_dir),
        not_downloaded=len(collection.pending),
    )


def _check_enough_titles(labels: np.ndarray, genres: list[str], n_splits: int) -> None:
    """Every genre must reach every split: refuse before any work when one is too rare to."""
    counts = labels.sum(axis=0)
    rare = [f"{g} ({int(n)})" for g, n in zip(genres, counts) if n < n_splits]
    if rare:
        raise BadInput(f"--genres: {', '.join(rare)} has fewer titles than the {n_splits} splits; choose other genres")


def _write_images(folder: Path, paths: list[str], ratios: list[int], workers: int | None):
    """Fill images_r<R>.npy for every ratio; returns (ok mask, failure counts, source sizes)."""
    n = len(paths)
    sizes = [size_for_ratio(r) for r in ratios]
    files = [str(folder / store.images_file(r)) for r in ratios]
    for file, (w, h) in zip(files, sizes):
        np.lib.format.open_memmap(file, mode="w+", dtype=np.uint8, shape=(n, h, w, 3)).flush()
    ok = np.zeros(n, dtype=bool)
    source_sizes = np.zeros((n, 2), dtype=np.int64)
    failures: Counter = Counter()
    workers = cpu_workers(workers)
    chunks = [range(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]
    with process_pool(workers, initializer=_open_outputs, initargs=(files, sizes)) as pool:
        jobs = [pool.submit(_convert_chunk, chunk.start, [paths[i] for i in chunk]) for chunk in chunks]
        with tqdm(total=n, desc="build", unit="poster") as bar:
            for job in as_completed(jobs):
                for row, result in job.result():
                    if isinstance(result, str):
                        failures[result] += 1
                    else:
                        ok[row] = True
                        source_sizes[row] = result
                bar.update(len(job.result()))
    return ok, failures, source_sizes


# Per-worker state: the output arrays, opened once per process.
_outputs: list[np.ndarray] = []
_sizes: list[tuple[int, int]] = []


def _open_outputs(files: list[str], sizes: list[tuple[int, int]]) -> None:
    _outputs[:] = [np.load(f, mmap_mode="r+") for f in files]
    _sizes[:] = sizes


def _convert_chunk(start: int, paths: list[str]) -> list[tuple[int, tuple[int, int] | str]]:
    results = []
    for row, path in enumerate(paths, start):
        try:
            img = open_poster(path)
        except PosterError as e:
            results.append((row, e.reason))
            continue
        for out, arr in zip(_outputs, resize_all(img, _sizes)):
            out[row] = arr
        results.append((row, img.size))
    # No flush: the mapping is shared, so the parent sees these pages; msync per chunk would
    # force a disk write each time for nothing.
    return results


def _drop_rows(folder: Path, ratios: list[int], ok: np.ndarray) -> None:
    """Rewrite each image array without the rows whose poster failed to decode."""
    for r in ratios:
        path = folder / store.images_file(r)
        compact = folder / f".compact-{path.name}"
        _copy_kept_rows(path, compact, ok)
        os.replace(compact, path)


def _copy_kept_rows(source: Path, target: Path, keep: np.ndarray) -> None:
    """Write the rows of the .npy at `source` where `keep` is True to a new .npy at `target`, in order.

    A ratio's array can be gigabytes: it goes through COPY_BYTES of rows at a time (twice that
    held at most: the rows read and those kept), by plain reads and writes. Not a memory map:
    every page of a mapping touched counts against this process until it is closed.
    """
    shape, dtype, offset = store.npy_header(source)
    row_shape = tuple(shape[1:])
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    rows_per_copy = max(1, COPY_BYTES // row_bytes)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": (int(keep.sum()),) + row_shape}
    with open(source, "rb") as src, open(target, "wb") as dst:
        np.lib.format.write_array_header_1_0(dst, header)
        src.seek(offset)
        for start in range(0, shape[0], rows_per_copy):
            block = np.empty((min(rows_per_copy, shape[0] - start),) + row_shape, dtype)
            if src.readinto(memoryview(block).cast("B")) != block.nbytes:
                raise OSError(f"{source}: shorter than its header says")
            dst.write(block[keep[start:start + len(block)]].data)


def _write_labels_and_splits(folder, posters, labels, genres, fractions, seed) -> dict[str, np.ndarray]:
    np.save(folder / store.LABELS, labels)
    np.save(folder / store.IDS, np.array([p.id for p in posters], dtype=str))
    assignment = iterative_stratification(labels, fractions, seed)
    splits = {name: np.flatnonzero(assignment == i).astype(np.int64) for i, name in enumerate(store.SPLITS)}
    for name, idx in splits.items():
        missing = [g for g, present in zip(genres, labels[idx].any(axis=0)) if not present]
        if missing:
            raise BadInput(f"--genres: {', '.join(missing)} has too few titles to appear in the {name} split")
        np.save(folder / store.split_file(name), idx)
    return splits


def _manifest(raw_dir, collection, genres_spec, genres, ratios, seed, fractions, labels, splits, source_sizes) -> dict:
    ratio_entries = {}
    for r in ratios:
        w, h = size_for_ratio(r)
        # A ratio is upscaled when it asks for more pixels than most posters have.
        smaller = (source_sizes[:, 0] < w) | (source_sizes[:, 1] < h)
        ratio_entries[str(r)] = {
            "size": [w, h],
            "file": store.images_file(r),
            "upscaled": bool(smaller.mean() > 0.5),
            "upscaled_fraction": round(float(smaller.mean()), 4),
        }
    per_genre = {
        g: {"all": int(labels[:, i].sum()), **{name: int(labels[idx, i].sum()) for name, idx in splits.items()}}
        for i, g in enumerate(genres)
    }
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {
            "raw": str(Path(raw_dir).resolve()),
            "posters_csv_sha256": store.sha256_of(Path(raw_dir) / "posters.csv"),
            "titles": len(collection.posters),
            "usable_posters": len(collection.usable),
            "pending_posters": len(collection.pending),  # never downloaded: the download was stopped
        },
        "genre_selection": genres_spec,
        "genres": genres,
        "seed": seed,
        "count": int(len(labels)),
        "ratios": ratio_entries,
        "split_fractions": dict(zip(store.SPLITS, fractions)),
        "splits": {name: int(len(idx)) for name, idx in splits.items()},
        "genre_counts": per_genre,
        "source_size_median": [int(v) for v in np.median(source_sizes, axis=0)] if len(source_sizes) else None,
    }
