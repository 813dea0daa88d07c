"""`tune-genres report`: results.csv, results.md and charts for an experiment, finished or partial."""

from __future__ import annotations

import argparse

from ..results.report import write_report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the results report of an experiment folder",
        description="Write results.csv, results.md (learning rate x ratio table of --metric, baselines beside "
        "it, the best trial as the experiment's select_metric chose it on validation), heatmap.png and learning-curves.png into EXP_DIR, a folder or a URI such as s3://bucket/prefix/NAME. Works on a "
        "partial experiment.",
    )
    # str, not Path: pathlib folds a URI's // (s3://bucket -> s3:/bucket).
    p.add_argument("exp_dir", metavar="EXP_DIR", help="experiment folder (STORAGE/NAME), or its URI (s3://bucket/prefix/NAME)")
    p.add_argument("--metric", help="metric of the table and heatmap, any val_/test_/last_ column (default: the "
                   "experiment's select_metric); the best trial is always the one select_metric chose")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = write_report(args.exp_dir, args.metric)
    print(report["markdown"])
    return 0
