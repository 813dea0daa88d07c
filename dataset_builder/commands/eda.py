"""`dataset-builder eda`: a raw collection's genres and poster sizes as a Markdown report with charts."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..destination import prepare_destination
from ..eda import CHARTS, analyse, write_report
from ..raw import read_raw


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eda",
        help="report a raw collection's genre counts, co-occurrence and poster sizes",
        description="Analyse a raw collection: genre counts, genres per title, the genre co-occurrence matrix "
        "and the poster sizes (from image headers). Writes DIR/report.md and PNG charts beside it.",
    )
    p.add_argument("raw", type=Path, metavar="RAW", help="raw collection folder to analyse")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write report.md and the charts into")
    p.add_argument("--overwrite", action="store_true", help="replace DIR when it holds what dataset-builder wrote "
                   "(never other files, nor RAW)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    collection = read_raw(args.raw)
    replacing = prepare_destination(args.out, args.overwrite, {"RAW": args.raw})  # refuse before the work, not after
    eda = analyse(collection)
    report = write_report(eda, args.out, replacing)
    top = ", ".join(f"{g} {eda.count(g)}" for g in eda.genres[:3])
    print(
        f"EDA of {args.raw}: {eda.analysed} titles with a usable poster of {eda.titles}, {len(eda.genres)} genres "
        f"(most frequent: {top}), {len(eda.sizes)} distinct poster sizes; report written to {report} "
        f"with {len(CHARTS)} charts."
    )
    return 0
