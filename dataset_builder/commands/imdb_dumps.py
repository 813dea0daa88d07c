"""`dataset-builder imdb-dumps DIR`: fetch IMDb's title.basics and title.ratings dumps, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..sources.dump_fetch import IMDB_DUMPS_URL, fetch_dumps
from ..sources.imdb_dumps import DUMP_FILES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "imdb-dumps",
        help="fetch IMDb's dataset dumps (titles and ratings) into a folder",
        description=f"Fetch {' and '.join(DUMP_FILES)} from IMDb's dataset site into DIR. "
        "An interrupted fetch resumes where it stopped (HTTP Range); a file is renamed into place only when whole.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="folder to hold the dump files")
    p.add_argument("--base-url", default=IMDB_DUMPS_URL, help=f"where the dumps are served (default {IMDB_DUMPS_URL})")
    p.add_argument("--refresh", action="store_true", help="fetch again even when a file is already here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files = fetch_dumps(args.dir, args.base_url, refresh=args.refresh)
    total = sum(f.stat().st_size for f in files)
    print(f"IMDb dumps ready in {args.dir}: {', '.join(f.name for f in files)} ({total / 2**20:.1f} MiB). "
          f"Next: dataset-builder imdb RAW --dumps {args.dir} --posters tmdb")
    return 0
