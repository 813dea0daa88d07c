"""`dataset-builder imdb RAW`: titles from IMDb's dumps, poster URLs from TMDb/OMDb/a CSV, downloaded.

The whole web path in one command; the result is a raw collection that `build` takes as is.
Rerunning it into the same RAW resumes: cached API answers are not asked again and images
already downloaded are not fetched again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..download import add_download_arguments, check_folder, download_collection, download_options, prepare_folder
from ..errors import BadInput
from ..raw import URL_CACHE
from ..sources.api_client import AnswerCache
from ..sources.imdb_dumps import TITLE_TYPES, Selection, select_from_cinemagoer_db, select_from_dumps
from ..sources.poster_urls import OMDB_API_BASE, TMDB_API_BASE, TMDB_IMAGE_BASE, TMDB_WIDTH, make_resolver, resolve_posters


def register(sub: argparse._SubParsersAction) -> None:
    study = Selection()
    p = sub.add_parser(
        "imdb",
        help="select IMDb titles from the dumps, find their posters (TMDb, OMDb or a CSV) and download them",
        description="Select titles from IMDb's dataset dumps (by default the study's selection: tvSeries, "
        "start year 1950 or later, 1000 votes or more), find each one's poster URL, download the posters, and "
        "write a raw collection. Keys come from the environment: TMDB_API_KEY or TMDB_BEARER_TOKEN, OMDB_API_KEY. "
        "Rerun the same command to resume.",
    )
    p.add_argument("raw", type=Path, metavar="RAW", help="raw collection folder to write (or resume)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dumps", type=Path, metavar="DIR", help="folder with title.basics.tsv.gz and title.ratings.tsv.gz (see imdb-dumps)")
    src.add_argument("--imdb-db", metavar="URI", help="a cinemagoer database built by s32cinemagoer.py, e.g. sqlite:///imdb.db")
    p.add_argument("--posters", required=True, metavar="SOURCE", help="where poster URLs come from: tmdb, omdb, or csv:FILE "
                   "(the study's Id,img-url CSV, Kaggle's MovieGenre.csv, or any CSV with id and url columns)")
    p.add_argument("--types", default=",".join(study.types), help=f"comma-separated title types (default {','.join(study.types)}; "
                   f"IMDb's types: {', '.join(TITLE_TYPES)})")
    p.add_argument("--since", type=int, default=study.since, help=f"earliest start year kept (default {study.since})")
    p.add_argument("--min-votes", type=int, default=study.min_votes, help=f"fewest IMDb votes kept (default {study.min_votes})")
    p.add_argument("--limit", type=int, help="keep only the N most-voted titles of the selection")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming: RAW is replaced once the new "
                   "collection is complete, and only when it holds what dataset-builder wrote (never other files, nor the inputs)")
    api = p.add_argument_group("poster APIs")
    api.add_argument("--tmdb-api-base", default=TMDB_API_BASE, help=f"(default {TMDB_API_BASE})")
    api.add_argument("--tmdb-image-base", default=TMDB_IMAGE_BASE, help=f"(default {TMDB_IMAGE_BASE})")
    api.add_argument("--tmdb-width", default=TMDB_WIDTH, help=f"TMDb poster size: w92 w154 w185 w342 w500 w780 original (default {TMDB_WIDTH}, nearest the study's 182x268)")
    api.add_argument("--omdb-api-base", default=OMDB_API_BASE, help=f"(default {OMDB_API_BASE})")
    api.add_argument("--api-rate", type=float, help="API requests per second (default: 20 for TMDb, 10 for OMDb)")
    api.add_argument("--api-retries", type=int, default=4, help="tries again per lookup on timeouts, resets, 429 and 5xx (default 4)")
    api.add_argument("--url-cache", type=Path, help=f"file of cached API answers (default RAW/{URL_CACHE})")
    add_download_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Every flag is checked before the long scan of the dumps starts.
    selection = Selection(tuple(t.strip() for t in args.types.split(",") if t.strip()), args.since, args.min_votes)
    if args.limit is not None and args.limit < 1:
        raise BadInput(f"--limit {args.limit}: expected at least 1")
    if args.api_rate is not None and args.api_rate <= 0:
        raise BadInput(f"--api-rate {args.api_rate}: expected a positive number")
    if args.api_retries < 0:
        raise BadInput(f"--api-retries {args.api_retries}: expected 0 or more")
    options = download_options(args)
    target = check_folder(args.raw, args.overwrite, inputs_of(args))
    resolver = make_resolver(args.posters, tmdb_api_base=args.tmdb_api_base, tmdb_image_base=args.tmdb_image_base,
                             tmdb_width=args.tmdb_width, omdb_api_base=args.omdb_api_base, rate_per_s=args.api_rate,
                             retries=args.api_retries)
    resolver.verify()

    picked = select_from_dumps(args.dumps, selection) if args.dumps else select_from_cinemagoer_db(args.imdb_db, selection)
    titles = picked.most_voted(args.limit)
    print(f"Selected {len(picked.titles)} titles ({selection.describe()}) from {picked.source}"
          + (f"; {picked.without_genres} more had no genres and were left out" if picked.without_genres else "")
          + (f"; kept the {len(titles)} most voted (--limit)" if len(titles) < len(picked.titles) else "") + ".")
    if not titles:
        raise BadInput(f"no title matches {selection.describe()} in {picked.source}")

    prepare_folder(target)
    posters = [t.to_poster() for t in titles]
    # The cache lives in the folder being downloaded: a staged --overwrite starts its own, and a rerun resumes it.
    cache = AnswerCache(args.url_cache or target.folder / URL_CACHE, resolver.namespace) if resolver.namespace else None
    try:
        resolution = resolve_posters(resolver, posters, cache)
    finally:
        if cache is not None:
            cache.close()
    print(resolution.summary(f"Poster URLs from {resolver.name}"))
    report = download_collection(resolution.posters, target, options, resolution.failures)
    print(report.summary())
    return 1 if report.replacing_later else 0


def inputs_of(args: argparse.Namespace) -> dict[str, Path | None]:
    """The files this command reads, which RAW must not hold (replacing it would delete them)."""
    posters_csv = Path(args.posters[len("csv:"):]) if args.posters.startswith("csv:") else None
    database = Path(args.imdb_db[len("sqlite:///"):]) if (args.imdb_db or "").startswith("sqlite:///") else None
    return {"--dumps": args.dumps, "--posters csv:FILE": posters_csv, "--imdb-db": database, "--url-cache": args.url_cache}
