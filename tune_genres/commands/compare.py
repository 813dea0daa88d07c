"""`tune-genres compare`: several experiments side by side, chosen on validation, beside the baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..results.compare import PAGE, REPORT_FILES, write_comparison


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare experiments: each one's chosen trial, its lr x ratio tables, the baselines",
        description="Refresh each experiment's report and print one Markdown page: a row per experiment (the trial "
        "its select_metric chose on validation, that trial's test scores beside the baselines, the compute its "
        "trials took), then per experiment its learning rate x ratio tables of val and test scores and the epochs "
        "each trial trained (a search: its best trials).",
    )
    # str, not Path: pathlib folds a URI's // (s3://bucket -> s3:/bucket).
    p.add_argument("exp_dirs", nargs="+", metavar="EXP_DIR",
                   help="experiment folders (STORAGE/NAME) or their URIs (s3://bucket/prefix/NAME), mixed as you like")
    p.add_argument("--out", type=Path, metavar="DIR", help=f"also write DIR/{PAGE} and copy each experiment's "
                   f"report files ({', '.join(REPORT_FILES)}) into DIR/<experiment name>/")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(write_comparison(args.exp_dirs, args.out), end="")
    return 0
