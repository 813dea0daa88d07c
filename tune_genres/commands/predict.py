"""`tune-genres predict`: each poster's genres with the checkpoint's probabilities."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..results.predict import describe_checkpoint, format_prediction, predict
from ..training.checkpoint import WEIGHTS
from ..training.device import pick_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="print each poster's genres with probabilities",
        description="Resize each poster to the checkpoint's size (as the dataset builder does) and print its "
        "genres, most probable first, then the genres predicted (at the thresholds the checkpoint tuned on validation, when it has them). An unreadable poster is reported and skipped (exit status 1).",
    )
    # str, not Path: pathlib folds a URI's // (s3://bucket -> s3:/bucket).
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a trial's folder (its latest checkpoint), a checkpoint "
                   "directory, its checkpoint.pt, or an ensemble's folder (tune-genres ensemble); a path or a URI "
                   "(s3://bucket/prefix/NAME/TRIAL)")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="poster image files (JPEG, PNG, ...)")
    p.add_argument("--weights", choices=WEIGHTS, default="best",
                   help="the best epoch's weights (by the trial's select_metric) or the last epoch's (default %(default)s)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N] (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    meta, predictions, failures = predict(args.checkpoint, args.images, pick_device(args.device), weights=args.weights)
    print(describe_checkpoint(args.checkpoint, meta))
    for prediction in predictions:
        print(format_prediction(prediction))
    for path, error in failures:
        print(f"tune-genres: skipped {path}: {error}", file=sys.stderr)
    if failures:
        print(f"{len(predictions)} posters predicted, {len(failures)} skipped", file=sys.stderr)
    return 1 if failures else 0
