"""`dataset-builder import`: a CSV of titles plus a folder of posters -> a raw collection."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..download import add_download_arguments, download_collection, download_options
from ..raw import summary
from ..sources.local_images import import_local
from ..sources.tables import FORMATS, CsvColumns, read_table, unify_genre_case
from ..workers import add_workers_argument, check_workers, cpu_workers_help, download_workers_help


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import a CSV of titles and a folder of posters as a raw collection",
        description="Import posters listed in a CSV into a raw collection (posters.csv, images/, failures.csv). "
        "Formats: authors (the study's Id,Genres,img-url with images named by unpadded id), "
        "kaggle (MovieGenre.csv), csv (any CSV; name the columns with the --*-column flags).",
    )
    p.add_argument("raw", type=Path, metavar="RAW", help="raw collection folder to write")
    p.add_argument("--format", required=True, choices=FORMATS, help="layout of the CSV")
    p.add_argument("--csv", required=True, type=Path, help="the CSV of titles")
    p.add_argument("--images", type=Path, help="folder of poster images")
    p.add_argument("--overwrite", action="store_true", help="replace RAW when it holds what dataset-builder wrote "
                   "(never other files, nor the CSV or images imported); the old collection stays whole until the new one is")
    add_workers_argument(p, f"with --images, {cpu_workers_help('checked')}; without, {download_workers_help()}")
    add_download_arguments(p, workers=False)  # used when --images is not given: the CSV's URLs are downloaded
    defaults = CsvColumns()
    for field in ("id", "genres", "url", "file", "title", "year"):
        p.add_argument(f"--{field}-column", default=getattr(defaults, field), help=f"--format csv: the {field} column")
    p.add_argument("--genres-sep", default=defaults.genres_sep, help="--format csv: separator inside the genres cell")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_workers(args.workers)
    columns = CsvColumns(
        id=args.id_column,
        genres=args.genres_column,
        url=args.url_column,
        file=args.file_column,
        title=args.title_column,
        year=args.year_column,
        genres_sep=args.genres_sep,
    )
    rows, skipped = read_table(args.format, args.csv, args.images, columns)
    merged = unify_genre_case(rows)
    if merged:
        print(f"dataset-builder: {args.csv}: genres differing only in case were merged: {merged}", file=sys.stderr)
    inputs = {"--csv": args.csv, "--images": args.images}
    if args.images is None:
        # No local images: download each row's URL (resumable; rerun to go on after a stop).
        report = download_collection([r.poster for r in rows], args.raw, download_options(args), overwrite=args.overwrite,
                                     skipped=skipped, inputs=inputs)
        print(report.summary())
        return 1 if report.replacing_later else 0
    collection = import_local(rows, args.raw, overwrite=args.overwrite, workers=args.workers, skipped=skipped, inputs=inputs)
    print(summary(collection, f"import of {args.csv}"))
    return 0
