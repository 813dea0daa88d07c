"""`dataset-builder synthetic`: generated posters whose genres show in the pixels -> a raw collection."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import BadInput
from ..raw import summary
from ..sources.synthetic import GENRES, write_collection
from ..workers import add_workers_argument, cpu_workers, cpu_workers_help


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synthetic",
        help="generate synthetic posters as a raw collection (the offline default set)",
        description="Generate 182x268 JPEG posters with the real set's 26 genres and a realistic multi-label "
        "distribution; each genre shows as a coarse cue (colour, shape, place) and a fine one (stripes that blur "
        "away when shrunk). Deterministic by seed. See docs/synthetic.md.",
    )
    p.add_argument("raw", type=Path, metavar="RAW", help="raw collection folder to write")
    p.add_argument("--count", type=int, default=2000, help="posters to generate (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives byte-identical posters (default 0)")
    add_workers_argument(p, cpu_workers_help("drawn"))
    p.add_argument("--overwrite", action="store_true", help="replace RAW when it holds what dataset-builder wrote "
                   "(never other files)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise BadInput(f"--count: expected a whole number of posters >= 1, got {args.count}")
    if args.seed < 0:
        raise BadInput(f"--seed: expected a whole number >= 0, got {args.seed}")
    workers = cpu_workers(args.workers)
    start = time.perf_counter()
    collection = write_collection(args.raw, args.count, args.seed, overwrite=args.overwrite, workers=workers)
    seconds = time.perf_counter() - start
    print(
        summary(collection, f"synthetic posters (seed {args.seed}, {len(GENRES)} genres)")
        + f" Generated in {seconds:.1f} s ({args.count / seconds:.0f} posters/s with {workers} "
        f"worker process{'es' if workers > 1 else ''}, JPEG encoding and writing included)."
    )
    return 0
