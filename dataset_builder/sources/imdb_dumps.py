"""Titles from IMDb's dataset dumps: the study's selection (tvSeries, 1950 or later, 1000+ votes).

Two ways in, same answer:
- the dump files themselves (title.basics.tsv.gz and title.ratings.tsv.gz), streamed in chunks
  with only the needed columns, so the ~1 GB basics file is never held whole;
- a cinemagoer database built from those dumps by cinemagoer's own `s32cinemagoer.py`.

IMDb's TSV has no quoting at all (titles hold bare double quotes), `\\N` for null, and genres
comma-joined, at most 3.
"""

from __future__ import annotations

import csv
import gzip
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm
from tqdm.utils import CallbackIOWrapper

from ..errors import BadInput
from ..raw import Poster

BASICS = "title.basics.tsv.gz"
RATINGS = "title.ratings.tsv.gz"
DUMP_FILES = (BASICS, RATINGS)
BASICS_COLUMNS = ["tconst", "titleType", "primaryTitle", "startYear", "genres"]
RATINGS_COLUMNS = ["tconst", "numVotes"]
NULL = "\\N"
# IMDb's title types, as its dumps spell them.
TITLE_TYPES = (
    "movie", "short", "tvSeries", "tvMiniSeries", "tvMovie", "tvEpisode",
    "tvShort", "tvSpecial", "tvPilot", "video", "videoGame",
)
# Rows per chunk: a chunk of basics with five string columns stays in the tens of megabytes.
CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Selection:
    """Which titles to keep. The defaults are the study's selection."""

    types: tuple[str, ...] = ("tvSeries",)
    since: int = 1950  # startYear >= since
    min_votes: int = 1000  # numVotes >= min_votes

    def __post_init__(self) -> None:
        unknown = [t for t in self.types if t not in TITLE_TYPES]
        if unknown or not self.types:
            raise BadInput(
                f"--types {','.join(self.types)}: unknown type(s) {', '.join(unknown) or '(none given)'}; "
                f"IMDb's types are {', '.join(TITLE_TYPES)}"
            )

    def describe(self) -> str:
        return f"types {', '.join(self.types)}, start year >= {self.since}, votes >= {self.min_votes}"


@dataclass(frozen=True)
class Title:
    id: str  # tt0903747
    title: str
    year: int
    genres: tuple[str, ...]
    votes: int

    def to_poster(self) -> Poster:
        return Poster(id=self.id, genres=list(self.genres), title=self.title, year=str(self.year))


def id_order(title: Title) -> tuple[int, str]:
    """Numeric order of IMDb ids: tt9999999 before tt10000000."""
    return len(title.id), title.id


@dataclass
class TitleSelection:
    """The selected titles (in id order) and what was left out on the way."""

    titles: list[Title]
    without_genres: int  # selected titles that IMDb gives no genre: useless for a genre model
    source: str

    def most_voted(self, limit: int | None) -> list[Title]:
        """The `limit` most-voted titles (all when None), still in id order."""
        if limit is None or limit >= len(self.titles):
            return self.titles
        top = sorted(self.titles, key=lambda t: (-t.votes, id_order(t)))[:limit]
        return sorted(top, key=id_order)


@contextmanager
def _tsv_chunks(path: Path, columns: list[str]) -> Iterator[Iterator[pd.DataFrame]]:
    """Chunks of a gzipped IMDb TSV, only `columns`, every cell a string ("\\N" kept as is).

    A progress bar follows the compressed bytes read: the real basics file takes a minute or more.
    """
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, desc=path.name, unit="B", unit_scale=True, unit_divisor=1024) as bar:
        yield pd.read_csv(
            CallbackIOWrapper(bar.update, f, "read"),
            sep="\t",
            usecols=columns,
            dtype=str,
            quoting=csv.QUOTE_NONE,  # IMDb never quotes; a title like 'The "Show"' is literal
            na_filter=False,  # "\N" handled per column: faster than NaN detection on every cell
            chunksize=CHUNK_ROWS,
            compression="gzip",
            # The dumps are machine-written; a malformed line (never seen in recent dumps) is skipped
            # rather than losing a whole run to it.
            on_bad_lines="skip",
            engine="c",
        )


def check_header(path: Path, columns: list[str]) -> None:
    """Fail early, naming the file, when it is absent, not gzip, or lacks a needed column."""
    if not path.is_file():
        raise BadInput(f"{path}: not found (fetch the dumps with: dataset-builder imdb-dumps {path.parent})")
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            header = f.readline().rstrip("\r\n").split("\t")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not a gzipped IMDb TSV ({e})") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise BadInput(f"{path}: missing column(s) {', '.join(missing)} (header has {', '.join(header)})")


def _read_votes(path: Path, min_votes: int) -> dict[str, int]:
    """tconst -> numVotes for titles with at least `min_votes` votes."""
    votes: dict[str, int] = {}
    with _tsv_chunks(path, RATINGS_COLUMNS) as chunks:
        for chunk in chunks:
            n = pd.to_numeric(chunk["numVotes"], errors="coerce")
            keep = n >= min_votes
            votes.update(zip(chunk["tconst"][keep], n[keep].astype(int)))
    return votes


def select_from_dumps(dumps: str | Path, selection: Selection = Selection()) -> TitleSelection:
    """Stream the two dump files in `dumps` and return the titles the selection keeps."""
    dumps = Path(dumps)
    basics, ratings = dumps / BASICS, dumps / RATINGS
    check_header(basics, BASICS_COLUMNS)
    check_header(ratings, RATINGS_COLUMNS)
    votes = _read_votes(ratings, selection.min_votes)
    voted = set(votes)
    titles: list[Title] = []
    without_genres = 0
    with _tsv_chunks(basics, BASICS_COLUMNS) as chunks:
        for chunk in chunks:
            # Cheapest test first: the type keeps a few percent of the rows.
            chunk = chunk[chunk["titleType"].isin(selection.types)]
            year = pd.to_numeric(chunk["startYear"], errors="coerce")  # "\N" -> NaN, never kept
            chunk = chunk[(year >= selection.since) & chunk["tconst"].isin(voted)]
            for tconst, title, start, genres in zip(chunk["tconst"], chunk["primaryTitle"], chunk["startYear"], chunk["genres"]):
                if genres in ("", NULL):
                    without_genres += 1
                    continue
                titles.append(Title(tconst, title, int(start), tuple(genres.split(",")), votes[tconst]))
    titles.sort(key=id_order)
    return TitleSelection(titles, without_genres, f"IMDb dumps in {dumps}")


def select_from_cinemagoer_db(uri: str, selection: Selection = Selection()) -> TitleSelection:
    """The same selection from a database that cinemagoer's `s32cinemagoer.py` built.

    cinemagoer's API looks titles up one by one (by id or by a title search); it has no query
    for "every title of these types, years and votes". So this runs that one query itself, on
    cinemagoer's own schema, naming things through cinemagoer's tables: its URI parsing, its
    type names ("tv series" for tvSeries) and its integer ids.
    """
    from imdb._exceptions import IMDbError
    from imdb.parser.s3.adapters import sqlite_path_from_uri
    from imdb.parser.s3.utils import KIND

    if not uri.startswith("sqlite:"):
        raise BadInput(f"--imdb-db {uri}: only sqlite:///FILE databases are supported (cinemagoer's default)")
    try:
        path = sqlite_path_from_uri(uri)
    except IMDbError as e:
        raise BadInput(f"--imdb-db {uri}: {e}") from None
    if path == ":memory:" or not Path(path).is_file():
        raise BadInput(f"--imdb-db {uri}: no database file at {path} (build one with: s32cinemagoer.py DUMPS_DIR {uri})")
    kinds = [KIND.get(t, t) for t in selection.types]
    # Read-only: a mistyped path must not leave an empty database behind.
    con = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True)
    try:
        rows = con.execute(
            f"""SELECT b.tconst, b.primaryTitle, b.startYear, b.genres, r.numVotes
                  FROM title_basics AS b JOIN title_ratings AS r ON r.tconst = b.tconst
                 WHERE b.titleType IN ({','.join('?' * len(kinds))})
                   AND b.startYear >= ? AND r.numVotes >= ?
                 ORDER BY b.tconst""",
            (*kinds, selection.since, selection.min_votes),
        ).fetchall()
    except sqlite3.DatabaseError as e:
        raise BadInput(f"--imdb-db {uri}: not a cinemagoer database ({e}); build one with: s32cinemagoer.py DUMPS_DIR {uri}") from None
    finally:
        con.close()
    titles = []
    without_genres = 0
    for tconst, title, start, genres, n in rows:  # ordered by the integer id, as id_order does
        if not genres:
            without_genres += 1
            continue
        titles.append(Title(f"tt{tconst:07d}", title, int(start), tuple(genres.split(",")), int(n)))
    return TitleSelection(titles, without_genres, f"cinemagoer database {path}")
