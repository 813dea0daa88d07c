"""The raw collection: the one intermediate every poster source writes and `build` reads.

A raw collection is a folder:

    posters.csv    one row per title: id, title, year, genres ("|"-joined), url, file, status
                   (status is "ok" when `file` holds a usable poster, "pending" when a download
                   stopped before reaching it, else the failure reason)
    images/        the posters, named <id><ext> (ext as the source had it, ".jpg" usually)
    failures.csv   one row per failed item: id, reason, detail

Writers build the collection in a temporary sibling folder and rename it into place only when
it is whole, so a reader never mistakes a half-written collection for a finished one
(destination.py decides what a writer may replace).
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_csv_atomic
from .destination import FolderKind, Inputs, prepare_destination, replace_dir, temp_sibling
from .errors import BadInput

POSTERS_CSV = "posters.csv"
FAILURES_CSV = "failures.csv"
IMAGES_DIR = "images"
POSTER_COLUMNS = ["id", "title", "year", "genres", "url", "file", "status"]
FAILURE_COLUMNS = ["id", "reason", "detail"]
OK = "ok"
PENDING = "pending"  # a title an interrupted download never reached: no poster yet, no failure either
URL_CACHE = "poster-urls.jsonl"  # `imdb`'s cache of poster-API answers, kept in the collection by default


@dataclass
class Poster:
    """One title of a raw collection."""

    id: str
    genres: list[str]
    title: str = ""
    year: str = ""
    url: str = ""
    file: str = ""  # relative to the collection folder; "" when there is no usable image
    status: str = OK

    def to_row(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "year": self.year,
            "genres": "|".join(self.genres),
            "url": self.url,
            "file": self.file,
            "status": self.status,
        }


@dataclass
class Failure:
    id: str
    reason: str
    detail: str = ""


@dataclass
class RawCollection:
    """A raw collection read from disk."""

    root: Path
    posters: list[Poster]
    failures: list[Failure] = field(default_factory=list)

    @property
    def usable(self) -> list[Poster]:
        return [p for p in self.posters if p.status == OK]

    @property
    def pending(self) -> list[Poster]:
        """Titles whose poster was never downloaded: the download was stopped before them."""
        return [p for p in self.posters if p.status == PENDING]

    def failure_counts(self) -> Counter:
        return Counter(f.reason for f in self.failures)

    def path_of(self, poster: Poster) -> Path:
        return self.root / poster.file


def split_genres(cell: str) -> list[str]:
    return [g for g in (part.strip() for part in cell.split("|")) if g]


def is_collection(folder: Path) -> bool:
    """Whether `folder` holds a posters.csv with this format's header: not just any posters.csv."""
    try:
        with open(folder / POSTERS_CSV, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return header == POSTER_COLUMNS


RAW_COLLECTION = FolderKind("a raw collection", is_collection, (POSTERS_CSV, FAILURES_CSV, IMAGES_DIR, URL_CACHE))


def read_raw(root: str | os.PathLike) -> RawCollection:
    """Read a raw collection; a missing or malformed posters.csv, or one repeating an id, is a BadInput naming it."""
    root = Path(root)
    posters_csv = root / POSTERS_CSV
    if not posters_csv.is_file():
        raise BadInput(f"{posters_csv}: not found (expected a raw collection folder)")
    posters: list[Poster] = []
    first_line: dict[str, int] = {}
    with open(posters_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in POSTER_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInput(f"{posters_csv}: missing column(s) {', '.join(missing)}")
        for row in reader:
            pid = row["id"]
            if pid in first_line:
                raise BadInput(f"{posters_csv} line {reader.line_num}: duplicate id {pid} (first at line {first_line[pid]})")
            first_line[pid] = reader.line_num
            posters.append(
                Poster(
                    id=pid,
                    title=row["title"],
                    year=row["year"],
                    genres=split_genres(row["genres"]),
                    url=row["url"],
                    file=row["file"],
                    status=row["status"],
                )
            )
    failures: list[Failure] = []
    failures_csv = root / FAILURES_CSV
    if failures_csv.is_file():
        with open(failures_csv, newline="", encoding="utf-8") as f:
            failures = [Failure(r["id"], r["reason"], r.get("detail", "")) for r in csv.DictReader(f)]
    return RawCollection(root, posters, failures)


def write_tables(root: Path, posters: list[Poster], failures: list[Failure]) -> None:
    """Write posters.csv and failures.csv into an existing collection folder."""
    write_csv_atomic(root / POSTERS_CSV, POSTER_COLUMNS, [p.to_row() for p in posters])
    write_csv_atomic(
        root / FAILURES_CSV,
        FAILURE_COLUMNS,
        [{"id": f.id, "reason": f.reason, "detail": f.detail} for f in failures],
    )


class RawCollectionWriter:
    """Builds a raw collection in a temporary folder; `commit()` moves it into place.

    Use as a context manager: leaving the block by an exception removes the temporary folder,
    so an interrupted import leaves nothing behind. `dest` is checked first
    (destination.prepare_destination): `overwrite` lets it replace a folder dataset-builder
    wrote, never other files nor a folder holding `inputs`.
    """

    def __init__(self, dest: str | os.PathLike, overwrite: bool = False, inputs: Inputs | None = None):
        self.dest = Path(dest)
        self.replacing = prepare_destination(self.dest, overwrite, inputs)
        self.tmp = temp_sibling(self.dest, "writing")
        (self.tmp / IMAGES_DIR).mkdir()
        self.posters: list[Poster] = []
        self.failures: list[Failure] = []
        self._committed = False

    def image_path(self, poster_id: str, ext: str = ".jpg") -> tuple[Path, str]:
        """Where to write a poster's image: (absolute temporary path, path relative to the collection)."""
        rel = f"{IMAGES_DIR}/{poster_id}{ext}"
        return self.tmp / rel, rel

    def add(self, poster: Poster) -> None:
        self.posters.append(poster)

    def fail(self, poster: Poster, reason: str, detail: str = "") -> None:
        """Record a title whose poster is unusable: it stays in posters.csv with its reason as status."""
        poster.status = reason
        poster.file = ""
        self.posters.append(poster)
        self.failures.append(Failure(poster.id, reason, detail))

    def commit(self) -> RawCollection:
        write_tables(self.tmp, self.posters, self.failures)
        replace_dir(self.tmp, self.dest, self.replacing)
        self._committed = True
        return RawCollection(self.dest, self.posters, self.failures)

    def __enter__(self) -> "RawCollectionWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            shutil.rmtree(self.tmp, ignore_errors=True)


def summary(collection: RawCollection, what: str) -> str:
    """One paragraph: how many posters are usable, and the failures counted by reason."""
    ok = len(collection.usable)
    counts = collection.failure_counts()
    failed = ", ".join(f"{n} {reason}" for reason, n in counts.most_common()) or "none"
    return (
        f"{what}: {ok} usable posters of {len(collection.posters)} titles written to "
        f"{collection.root}; failures: {failed}"
        + (f" (see {collection.root / FAILURES_CSV})" if counts else "")
        + "."
    )
