"""`dataset-builder build`: a raw collection -> uint8 arrays at every shrink ratio, labels, splits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..build import DEFAULT_FRACTIONS, build, parse_ratios
from ..errors import BadInput
from ..images import STUDY_RATIOS
from ..workers import add_workers_argument, check_workers, cpu_workers_help


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="build a dataset (arrays per shrink ratio, labels, splits) from a raw collection",
        description="Decode each poster once, resize it to 182x268 and to every ratio's exact size "
        "(round(182r) x round(268r)), and write one uint8 NHWC .npy per ratio, multi-hot labels, ids, "
        "a seeded multi-label stratified train/val/test split and manifest.json. Atomic: OUT appears only when whole.",
    )
    p.add_argument("raw", type=Path, metavar="RAW", help="raw collection folder (posters.csv, images/)")
    p.add_argument("out", type=Path, metavar="OUT", help="dataset folder to write")
    p.add_argument(
        "--genres",
        required=True,
        help="genres to predict: a list (Horror,Romance,Action,Documentary), top:K (most frequent) "
        "or min-cooccurrence:K (the K that co-occur least, the study's way)",
    )
    p.add_argument(
        "--ratios",
        default=",".join(str(r) for r in STUDY_RATIOS),
        help="shrink ratios in percent of 182x268 (default: the study's %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default %(default)s)")
    p.add_argument(
        "--split",
        default=",".join(f"{f:g}" for f in DEFAULT_FRACTIONS),
        help="train,val,test fractions (default %(default)s)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace OUT when it holds what dataset-builder wrote "
                   "(never other files, nor RAW)")
    add_workers_argument(p, cpu_workers_help("decoded and resized"))
    p.set_defaults(func=run)


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        fractions = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise BadInput(f"--split {text}: expected three fractions such as 0.7,0.15,0.15") from None
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise BadInput(f"--split {text}: expected three positive fractions summing to 1, such as 0.7,0.15,0.15")
    return fractions


def run(args: argparse.Namespace) -> int:
    ratios = parse_ratios(args.ratios)
    fractions = parse_fractions(args.split)
    check_workers(args.workers)
    result = build(args.raw, args.out, args.genres, ratios, args.seed, fractions, args.overwrite, args.workers)
    print(result.summary())
    note = result.download_note()
    if note:
        # Not a refusal: the posters there are usable, but the dataset lacks titles it would hold.
        print(f"dataset-builder: note: {note}", file=sys.stderr)
    return 0
