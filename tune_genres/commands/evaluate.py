"""`tune-genres evaluate`: a checkpoint's metrics on a built dataset, beside the baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from dataset_builder.atomic import write_json_atomic
from dataset_builder.errors import BadInput

from ..results.evaluate import EVAL_SPLITS, evaluate, format_evaluation
from ..results.intervals import RESAMPLES
from ..results.outputs import check_output_file
from ..training.checkpoint import WEIGHTS
from ..training.device import pick_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a trained checkpoint (or an ensemble) on a built dataset",
        description="Print a checkpoint's (or an ensemble's: each member at its own ratio, averaged at its weight) "
        "loss and metrics on a built dataset's split, beside the label-prior and majority-genre baselines. The "
        "dataset must have the checkpoint's genres and ratio; posters the checkpoint was trained on are refused.",
    )
    # str, not Path: pathlib folds a URI's // (s3://bucket -> s3:/bucket).
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a trial's folder (its latest checkpoint), a checkpoint "
                   "directory, its checkpoint.pt, or an ensemble's folder (tune-genres ensemble); a path or a URI "
                   "(s3://bucket/prefix/NAME/TRIAL)")
    p.add_argument("dataset", type=Path, metavar="DATASET", help="built dataset folder")
    p.add_argument("--split", choices=EVAL_SPLITS, default="test", help="rows to score (default %(default)s; all: every row)")
    p.add_argument("--weights", choices=WEIGHTS, default="best",
                   help="the best epoch's weights (by the trial's select_metric) or the last epoch's (default %(default)s)")
    p.add_argument("--allow-train-overlap", action="store_true",
                   help="score posters the checkpoint was trained on (refused otherwise, except with --split train)")
    p.add_argument("--bootstrap", type=int, default=RESAMPLES, metavar="N",
                   help="draws behind each metric's 95%% bootstrap interval (default %(default)s; 0: none)")
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the result as JSON to FILE")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N] (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.bootstrap < 0:
        raise BadInput(f"--bootstrap {args.bootstrap}: expected a number of draws, 0 or more")
    if args.out:
        check_output_file(args.out, "--out")  # before the model is scored, not after
    result = evaluate(args.checkpoint, args.dataset, args.split, pick_device(args.device), weights=args.weights,
                      allow_train_overlap=args.allow_train_overlap, resamples=args.bootstrap)
    print(format_evaluation(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, result)
        print(f"wrote {args.out}")
    return 0
