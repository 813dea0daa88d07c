"""Poster tables: the study's published CSV, Kaggle's MovieGenre.csv, or any CSV, as raw.Poster rows.

Each reader checks the whole table before any work starts: a missing column, an unparseable
genres cell or a duplicate id is a BadInput naming the file and line. Kaggle's MovieGenre.csv
lists some imdbIds twice: there the first row is kept and each later one is recorded as a
`duplicate` failure (failures.csv) instead. `unify_genre_case` spells each genre one way.
"""

from __future__ import annotations

import ast
import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput
from ..raw import Failure, Poster

FORMATS = ("authors", "kaggle", "csv")


@dataclass
class TableRow:
    """A poster row plus where its image should be (None: only a URL, to download)."""

    poster: Poster
    line: int
    image: Path | None


@dataclass
class CsvColumns:
    """Column names for `--format csv`."""

    id: str = "id"
    genres: str = "genres"
    url: str = "url"
    file: str = "file"
    title: str = "title"
    year: str = "year"
    genres_sep: str = "|"


def imdb_id(raw: str) -> str:
    """'0042114', '42114', 'tt0042114' -> 'tt0042114' (IMDb pads to at least 7 digits)."""
    digits = raw.strip().removeprefix("tt")
    if not digits.isdigit():
        raise ValueError(f"{raw!r} is not an IMDb id")
    return "tt" + digits.zfill(7)


def read_table(
    fmt: str, csv_path: Path, images: Path | None, columns: CsvColumns | None = None
) -> tuple[list[TableRow], list[Failure]]:
    """(the rows to import, the rows skipped as failures: Kaggle's repeated imdbIds)."""
    if fmt not in FORMATS:
        raise BadInput(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if not csv_path.is_file():
        raise BadInput(f"{csv_path}: not found")
    if images is not None and not images.is_dir():
        raise BadInput(f"--images {images}: not a folder")
    if fmt == "authors":
        rows = _read_authors(csv_path, images)
    elif fmt == "kaggle":
        rows = _read_kaggle(csv_path, images)
    else:
        rows = _read_generic(csv_path, images, columns or CsvColumns())
    if fmt == "kaggle":
        return _first_of_each_id(rows, csv_path)
    _check_unique(rows, csv_path)
    return rows, []


def _dict_rows(path: Path, required: list[str], encoding: str = "utf-8-sig"):
    """Yield (line number, row) of a CSV after checking its header has every required column."""
    try:
        with open(path, newline="", encoding=encoding) as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise BadInput(
                    f"{path}: missing column(s) {', '.join(missing)} (header has {', '.join(header) or 'nothing'})"
                )
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not {encoding} text ({e.reason} at byte {e.start})") from None


def _read_authors(path: Path, images: Path | None) -> list[TableRow]:
    """The study's layout: Id (zero-padded), Genres (a Python list literal), img-url; images by unpadded id."""
    rows = []
    for line, row in _dict_rows(path, ["Id", "Genres", "img-url"]):
        pid = _parse_id(row["Id"], path, line, "Id")
        genres = _parse_list_literal(row["Genres"], path, line)
        image = images / f"{int(pid[2:])}.jpg" if images else None
        rows.append(TableRow(Poster(id=pid, genres=genres, url=row["img-url"].strip()), line, image))
    return rows


def _read_kaggle(path: Path, images: Path | None) -> list[TableRow]:
    """Kaggle's MovieGenre.csv: ISO-8859-1, Genre joined by '|', title as 'Name (year)'."""
    rows = []
    for line, row in _dict_rows(path, ["imdbId", "Title", "Genre", "Poster"], encoding="iso-8859-1"):
        pid = _parse_id(row["imdbId"], path, line, "imdbId")
        title, year = _split_title_year(row["Title"])
        genres = _split(row["Genre"], "|")
        image = images / f"{int(pid[2:])}.jpg" if images else None
        rows.append(TableRow(Poster(id=pid, genres=genres, title=title, year=year, url=row["Poster"].strip()), line, image))
    return rows


def _read_generic(path: Path, images: Path | None, cols: CsvColumns) -> list[TableRow]:
    required = [cols.id, cols.genres]
    rows = []
    for line, row in _dict_rows(path, required):
        pid = row[cols.id].strip()
        if not pid:
            raise BadInput(f"{path} line {line}: empty {cols.id}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", pid):
            raise BadInput(f"{path} line {line}: {cols.id} {pid!r} has characters unfit for a file name")
        genres = _split(row[cols.genres], cols.genres_sep)
        if not genres:
            raise BadInput(f"{path} line {line}: empty {cols.genres}")
        image = None
        if images is not None:
            name = (row.get(cols.file) or "").strip() or f"{pid}.jpg"
            image = images / name
        poster = Poster(
            id=pid,
            genres=genres,
            title=(row.get(cols.title) or "").strip(),
            year=(row.get(cols.year) or "").strip(),
            url=(row.get(cols.url) or "").strip(),
        )
        rows.append(TableRow(poster, line, image))
    return rows


def _parse_id(raw: str, path: Path, line: int, column: str) -> str:
    try:
        return imdb_id(raw)
    except ValueError as e:
        raise BadInput(f"{path} line {line}: {column} {e}") from None


def _parse_list_literal(cell: str, path: Path, line: int) -> list[str]:
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, list) or not value or not all(isinstance(g, str) and g.strip() for g in value):
        raise BadInput(f"{path} line {line}: Genres {cell!r} is not a Python list of genre names such as ['Comedy', 'Family']")
    return [g.strip() for g in value]


def _split(cell: str, sep: str) -> list[str]:
    return [g.strip() for g in (cell or "").split(sep) if g.strip()]


def _split_title_year(title: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*(.*?)\s*\((\d{4})\)\s*", title or "")
    return (match.group(1), match.group(2)) if match else ((title or "").strip(), "")


def _first_of_each_id(rows: list[TableRow], path: Path) -> tuple[list[TableRow], list[Failure]]:
    first_line: dict[str, int] = {}
    kept, skipped = [], []
    for row in rows:
        pid = row.poster.id
        if pid in first_line:
            skipped.append(Failure(pid, "duplicate", f"{path.name} line {row.line}: same imdbId as line {first_line[pid]}, which was kept"))
        else:
            first_line[pid] = row.line
            kept.append(row)
    return kept, skipped


def _check_unique(rows: list[TableRow], path: Path) -> None:
    first_line: dict[str, int] = {}
    for row in rows:
        pid = row.poster.id
        if pid in first_line:
            raise BadInput(f"{path} line {row.line}: duplicate id {pid} (first at line {first_line[pid]})")
        first_line[pid] = row.line


def unify_genre_case(rows: list[TableRow]) -> str:
    """Spell each genre one way: names that differ only in case ('comedy' beside 'Comedy') take
    the spelling used most in the table (on a tie, a title-cased one). Returns what was merged,
    as "comedy into Comedy (2 titles)", or "" when nothing was."""
    spellings: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        for genre in row.poster.genres:
            spellings[genre.casefold()][genre] += 1
    chosen = {key: preferred_spelling(counts) for key, counts in spellings.items()}
    for row in rows:
        # dict.fromkeys: 'Comedy|comedy' in one cell is one genre, kept where it first appears.
        row.poster.genres = list(dict.fromkeys(chosen[g.casefold()] for g in row.poster.genres))
    return ", ".join(
        f"{spelling} into {chosen[key]} ({n} title{'s' * (n != 1)})"
        for key, counts in sorted(spellings.items())
        for spelling, n in sorted(counts.items())
        if spelling != chosen[key]
    )


def preferred_spelling(counts: Counter) -> str:
    """The spelling used most; on a tie a title-cased one, then one starting with a capital."""
    return min(counts, key=lambda s: (-counts[s], s != s.title(), not s[:1].isupper(), s))
