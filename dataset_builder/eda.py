"""Exploratory analysis of a raw collection: what the posters and their labels look like.

Genre counts, genres per title, the genre co-occurrence matrix and the poster sizes (read from
the image headers, no decoding), over the titles whose poster is usable (what `build` can use).
Written as report.md plus PNG charts into a temporary folder renamed into place when whole.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .destination import FolderKind, replace_dir, temp_sibling
from .errors import BadInput
from .genres import by_frequency, genre_counts, multi_hot
from .images import BASE_SIZE
from .raw import OK, RawCollection

REPORT = "report.md"
CHARTS = {
    "genre_counts": "genre_counts.png",
    "cardinality": "genres_per_title.png",
    "cooccurrence": "cooccurrence.png",
    "sizes": "poster_sizes.png",
}
TITLE = "# EDA of "  # report.md's first line: how a report this module wrote is told from any report.md
# Most common poster sizes listed in the report (the chart shows them all).
TOP_SIZES = 10
TOP_PAIRS = 10


@dataclass
class Eda:
    source: Path
    titles: int  # rows of posters.csv
    failures: Counter  # failed titles by reason
    genres: list[str]  # most frequent first
    cooccurrence: np.ndarray  # G x G titles carrying both; the diagonal holds each genre's count
    cardinality: Counter  # genres per title -> titles
    sizes: Counter  # (width, height) -> posters
    unreadable: int  # usable posters whose header could not be read

    @property
    def analysed(self) -> int:
        return sum(self.cardinality.values())

    def count(self, genre: str) -> int:
        i = self.genres.index(genre)
        return int(self.cooccurrence[i, i])


def analyse(collection: RawCollection) -> Eda:
    usable = collection.usable
    if not usable:
        raise BadInput(f"{collection.root}: no usable posters to analyse ({len(collection.posters)} titles, all failed)")
    label_lists = [p.genres for p in usable]
    genres = by_frequency(genre_counts(label_lists))
    labels = multi_hot(label_lists, genres).astype(np.int64)
    sizes: Counter = Counter()
    unreadable = 0
    for poster in tqdm(usable, desc="eda: poster headers", unit="poster"):
        try:
            with Image.open(collection.path_of(poster)) as img:  # reads the header only
                sizes[img.size] += 1
        except (OSError, SyntaxError, ValueError):
            unreadable += 1
    return Eda(
        source=collection.root,
        titles=len(collection.posters),
        failures=Counter(p.status for p in collection.posters if p.status != OK),
        genres=genres,
        cooccurrence=labels.T @ labels,
        cardinality=Counter(len(set(p.genres)) for p in usable),
        sizes=sizes,
        unreadable=unreadable,
    )


def is_report(folder: Path) -> bool:
    try:
        with open(folder / REPORT, encoding="utf-8") as f:
            return f.readline().startswith(TITLE)
    except (OSError, UnicodeDecodeError):
        return False


EDA_REPORT = FolderKind("an EDA report", is_report, (REPORT, *CHARTS.values()))


def write_report(eda: Eda, out: Path, replacing: bool = False) -> Path:
    """report.md and the charts into `out`, atomically; returns the report's path.

    `replacing`: destination.prepare_destination found an old report there to replace.
    """
    tmp = temp_sibling(out, "eda")
    try:
        draw_charts(eda, tmp)
        (tmp / REPORT).write_text(markdown(eda), encoding="utf-8")
        replace_dir(tmp, out, replacing)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / REPORT


def markdown(eda: Eda) -> str:
    n = eda.analysed
    failed = ", ".join(f"{k} {r}" for r, k in eda.failures.most_common()) or "none"
    lines = [
        f"{TITLE}{eda.source}",
        "",
        f"{eda.titles} titles in posters.csv; {n} with a usable poster, analysed below; "
        f"failed titles by reason: {failed}.",
        "",
        "## Genre counts",
        "",
        f"{len(eda.genres)} genres; titles carrying each (a title counts once per genre).",
        "",
        f"![Genre counts]({CHARTS['genre_counts']})",
        "",
        "| genre | titles | share of titles |",
        "|---|---:|---:|",
    ]
    lines += [f"| {g} | {eda.count(g)} | {eda.count(g) / n:.1%} |" for g in eda.genres]
    mean = sum(k * v for k, v in eda.cardinality.items()) / n
    lines += [
        "",
        "## Genres per title",
        "",
        f"Mean {mean:.2f} genres per title.",
        "",
        f"![Genres per title]({CHARTS['cardinality']})",
        "",
        "| genres per title | titles | share of titles |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {k} | {v} | {v / n:.1%} |" for k, v in sorted(eda.cardinality.items())]
    lines += [
        "",
        "## Genre co-occurrence",
        "",
        "Cell (row, column): titles carrying both genres; the diagonal holds each genre's own count.",
        "",
        f"![Genre co-occurrence]({CHARTS['cooccurrence']})",
        "",
        "| | " + " | ".join(eda.genres) + " |",
        "|---|" + "---:|" * len(eda.genres),
    ]
    lines += [f"| {g} | " + " | ".join(str(int(c)) for c in row) + " |" for g, row in zip(eda.genres, eda.cooccurrence)]
    pairs = sorted(
        ((int(eda.cooccurrence[a, b]), eda.genres[a], eda.genres[b]) for a, b in itertools.combinations(range(len(eda.genres)), 2)),
        key=lambda t: -t[0],
    )
    if pairs:
        lines += ["", "Most frequent pairs: " + ", ".join(f"{a} + {b} ({k})" for k, a, b in pairs[:TOP_PAIRS]) + "."]
    lines += ["", "## Poster sizes", "", sizes_paragraph(eda), "", f"![Poster sizes]({CHARTS['sizes']})", ""]
    if eda.sizes:
        lines += ["| width x height | posters |", "|---|---:|"]
        lines += [f"| {w} x {h} | {k} |" for (w, h), k in eda.sizes.most_common(TOP_SIZES)]
        lines.append("")
    return "\n".join(lines)


def sizes_paragraph(eda: Eda) -> str:
    read = sum(eda.sizes.values())
    text = f"Read from the image headers of {read} posters"
    if eda.unreadable:
        text += f" ({eda.unreadable} unreadable headers left out)"
    if not read:
        return text + "."
    widths = np.repeat([w for w, _ in eda.sizes], list(eda.sizes.values()))
    heights = np.repeat([h for _, h in eda.sizes], list(eda.sizes.values()))
    return (
        text + f": {len(eda.sizes)} distinct sizes; width min {widths.min()}, median {np.median(widths):g}, "
        f"max {widths.max()}; height min {heights.min()}, median {np.median(heights):g}, max {heights.max()} "
        f"(pixels). The study's base size is {BASE_SIZE[0]} x {BASE_SIZE[1]}."
    )


def draw_charts(eda: Eda, folder: Path) -> None:
    # The object-oriented API renders through Agg without touching pyplot's global state.
    from matplotlib.figure import Figure

    for name, draw in (
        ("genre_counts", genre_counts_chart),
        ("cardinality", cardinality_chart),
        ("cooccurrence", cooccurrence_chart),
        ("sizes", sizes_chart),
    ):
        fig = Figure()
        draw(eda, fig)
        fig.tight_layout()
        fig.savefig(folder / CHARTS[name], dpi=100)


def genre_counts_chart(eda: Eda, fig) -> None:
    fig.set_size_inches(7, 0.25 * len(eda.genres) + 1.2)
    ax = fig.add_subplot()
    ax.barh(eda.genres[::-1], [eda.count(g) for g in eda.genres[::-1]], color="#4c72b0")
    ax.set_xlabel("titles")
    ax.set_title(f"Genre counts ({eda.analysed} titles with a usable poster)")


def cardinality_chart(eda: Eda, fig) -> None:
    fig.set_size_inches(6, 3.5)
    ax = fig.add_subplot()
    ks = sorted(eda.cardinality)
    ax.bar([str(k) for k in ks], [eda.cardinality[k] for k in ks], color="#55a868")
    ax.set_xlabel("genres per title")
    ax.set_ylabel("titles")
    ax.set_title("Genres per title")


def cooccurrence_chart(eda: Eda, fig) -> None:
    n = len(eda.genres)
    fig.set_size_inches(0.32 * n + 2.5, 0.32 * n + 2.5)
    ax = fig.add_subplot()
    # The diagonal (each genre's own count) would dwarf every pair on the colour scale: left blank.
    pairs = np.ma.masked_array(eda.cooccurrence, mask=np.eye(n, dtype=bool))
    image = ax.imshow(pairs, cmap="viridis")
    ax.set_xticks(range(n), eda.genres, rotation=90)
    ax.set_yticks(range(n), eda.genres)
    fig.colorbar(image, ax=ax, shrink=0.7, label="titles with both")
    ax.set_title("Genre co-occurrence (diagonal blank: see genre counts)")


def sizes_chart(eda: Eda, fig) -> None:
    fig.set_size_inches(5, 5)
    ax = fig.add_subplot()
    if eda.sizes:
        ws, hs = [w for w, _ in eda.sizes], [h for _, h in eda.sizes]
        ks = np.asarray(list(eda.sizes.values()))
        ax.scatter(ws, hs, s=20 + 400 * np.sqrt(ks / ks.max()), alpha=0.6, color="#c44e52")
    ax.scatter([BASE_SIZE[0]], [BASE_SIZE[1]], marker="x", color="black", label=f"study base {BASE_SIZE[0]} x {BASE_SIZE[1]}")
    ax.set_xlabel("width (pixels)")
    ax.set_ylabel("height (pixels)")
    ax.legend(loc="lower right")
    ax.set_title("Poster sizes (area ~ posters)")
