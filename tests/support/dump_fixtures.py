"""IMDb dataset dumps written by the tests, in IMDb's exact schema.

title.basics.tsv.gz:  tconst titleType primaryTitle originalTitle isAdult startYear endYear runtimeMinutes genres
title.ratings.tsv.gz: tconst averageRating numVotes
Tab separated, no quoting, `\\N` for null, genres comma-joined (at most 3), gzipped.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

BASICS_HEADER = ["tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear", "endYear", "runtimeMinutes", "genres"]
RATINGS_HEADER = ["tconst", "averageRating", "numVotes"]
N = "\\N"

# (tconst, titleType, primaryTitle, startYear, genres, numVotes or None for no ratings row)
# and whether the study's selection (tvSeries, >= 1950, >= 1000 votes) keeps it.
STUDY_CASES: list[tuple[tuple, bool]] = [
    (("tt0000001", "tvSeries", "Exactly 1950 and 1000 votes", "1950", "Drama", 1000), True),
    (("tt0000002", "tvSeries", "Too early", "1949", "Drama", 50000), False),
    (("tt0000003", "tvSeries", "One vote short", "1990", "Comedy", 999), False),
    (("tt0000004", "movie", "A film", "2000", "Action,Drama", 50000), False),
    (("tt0000005", "tvEpisode", "An episode", "2000", "Comedy", 50000), False),
    (("tt0000006", "tvMiniSeries", "A mini series", "2005", "Crime,Drama", 3000), False),
    (("tt0000007", "tvSeries", "No start year", N, "Drama", 9000), False),
    (("tt0000008", "tvSeries", "No genres", "2010", N, 2000), False),
    (("tt0000009", "tvSeries", "Never rated", "2011", "Horror", None), False),
    (("tt0000010", "tvSeries", 'The "Quoted" Show', "1995", "Comedy,Drama,Romance", 1500), True),
    (("tt0000011", "tvSeries", "Café Ünïcode", "2020", "Reality-TV", 1001), True),
    (("tt0000012", "tvSeries", "Adult but kept", "2015", "Sci-Fi,Talk-Show", 4000), True),
    (("tt12345678", "tvSeries", "Eight digit id", "2021", "Documentary", 100000), True),
]
STUDY_KEPT = sorted((case[0] for case, kept in STUDY_CASES if kept), key=lambda i: (len(i), i))  # numeric id order


def basics_line(tconst: str, kind: str, title: str, year: str, genres: str, adult: str = "0") -> str:
    return "\t".join([tconst, kind, title, title, adult, year, N, N, genres]) + "\n"


def write_dumps(folder: Path, cases: list[tuple] | None = None) -> Path:
    """Write both dump files for `cases` (default STUDY_CASES) into `folder`; return it."""
    cases = cases if cases is not None else [c for c, _ in STUDY_CASES]
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "title.basics.tsv.gz", "wt", encoding="utf-8", newline="") as f:
        f.write("\t".join(BASICS_HEADER) + "\n")
        for tconst, kind, title, year, genres, _votes in cases:
            f.write(basics_line(tconst, kind, title, year, genres, "1" if "Adult" in title else "0"))
    with gzip.open(folder / "title.ratings.tsv.gz", "wt", encoding="utf-8", newline="") as f:
        f.write("\t".join(RATINGS_HEADER) + "\n")
        for tconst, _kind, _title, _year, _genres, votes in cases:
            if votes is not None:
                f.write(f"{tconst}\t7.5\t{votes}\n")
    return folder


def series_cases(count: int, first: int = 1_000_000) -> list[tuple]:
    """`count` titles the study's selection keeps: ids tt1000000, tt1000001, ..."""
    genres = ["Drama", "Comedy", "Action,Drama", "Horror", "Romance,Comedy", "Documentary"]
    return [
        (f"tt{first + i:07d}", "tvSeries", f"Series {i}", str(1950 + i % 70), genres[i % len(genres)], 1000 + i)
        for i in range(count)
    ]


def write_large_basics(folder: Path, rows: int, seed: int = 0) -> int:
    """A realistic title.basics of `rows` rows (and its ratings); returns how many the study keeps.

    Type mix as in IMDb's real file: mostly episodes, some movies and shorts, ~2.5% tvSeries.
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ["tvEpisode"] * 70 + ["short"] * 9 + ["movie"] * 7 + ["video"] * 3 + ["tvMovie"] * 3 + ["tvSeries"] * 3 + ["tvMiniSeries"] * 1 + ["videoGame", "tvSpecial", "tvShort", "tvPilot"]
    genre_pool = ["Drama", "Comedy", "Action", "Crime", "Documentary", "Horror", "Romance", "Reality-TV", "Animation", "Family", N]
    kept = 0
    with gzip.open(folder / "title.basics.tsv.gz", "wt", encoding="utf-8", newline="", compresslevel=1) as basics, \
            gzip.open(folder / "title.ratings.tsv.gz", "wt", encoding="utf-8", newline="", compresslevel=1) as ratings:
        basics.write("\t".join(BASICS_HEADER) + "\n")
        ratings.write("\t".join(RATINGS_HEADER) + "\n")
        lines, rlines = [], []
        for i in range(rows):
            tconst = f"tt{i + 1:07d}"
            kind = rng.choice(kinds)
            year = N if rng.random() < 0.05 else str(rng.randint(1900, 2025))
            genre = rng.choice(genre_pool)
            lines.append(basics_line(tconst, kind, f"Title number {i} of the generated set", year, genre))
            if rng.random() < 0.15:  # about 1.5 of 11 million titles are rated
                votes = int(rng.paretovariate(0.5) * 20)  # heavy-tailed: ~14% of rated titles reach 1000
                rlines.append(f"{tconst}\t6.8\t{votes}\n")
                if kind == "tvSeries" and year != N and int(year) >= 1950 and votes >= 1000 and genre != N:
                    kept += 1
            if len(lines) >= 100_000:
                basics.writelines(lines)
                ratings.writelines(rlines)
                lines, rlines = [], []
        basics.writelines(lines)
        ratings.writelines(rlines)
    return kept


def rng_seed_cases(count: int, seed: int) -> list[tuple]:
    """Random mixed cases, for property-style comparisons between two readers."""
    rng = random.Random(seed)
    kinds = ["tvSeries", "tvMiniSeries", "movie", "tvEpisode"]
    out = []
    for i in range(count):
        year = N if rng.random() < 0.1 else str(rng.randint(1940, 2024))
        genres = N if rng.random() < 0.05 else ",".join(rng.sample(["Drama", "Comedy", "Action", "Horror"], rng.randint(1, 3)))
        votes = None if rng.random() < 0.1 else rng.randint(0, 3000)
        out.append((f"tt{2_000_000 + i:07d}", rng.choice(kinds), f"T{i}", year, genres, votes))
    return out
