"""`tune-genres ensemble`: Caruana's greedy ensemble of finished experiments' trials, chosen on
validation, its test split scored once beside the best single trial and the baselines."""

from __future__ import annotations

import argparse

from ..results.ensemble import DEFAULT_SIZE, ENSEMBLE_FILE, FOLDER, PAGE, write_ensemble
from ..results.ensemble_page import ensemble_markdown
from ..results.intervals import RESAMPLES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ensemble",
        help="choose an ensemble of trials on validation (Caruana's greedy selection) and score it on test once",
        description="Greedy forward selection with replacement over the trials of one or more experiments on one "
        "dataset (fingerprints checked), from the validation probabilities each trial's record keeps: step 1 is the "
        "best single trial by the experiments' select_metric, each further step adds the trial that most improves the "
        "averaged probabilities' score, and the best prefix is kept, so validation can only improve. Then the test "
        f"split is scored once, beside the best single trial and the baselines. Writes DIR/{ENSEMBLE_FILE} (which "
        f"evaluate and predict take as they take a checkpoint) and DIR/{PAGE}.",
    )
    # str, not Path: pathlib folds a URI's // (s3://bucket -> s3:/bucket).
    p.add_argument("exp_dirs", nargs="+", metavar="EXP_DIR",
                   help="experiment folders (STORAGE/NAME) or their URIs (s3://bucket/prefix/NAME), on one dataset")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, metavar="N",
                   help="selection steps, each adding one member (again, maybe) (default %(default)s; 1: the best "
                   "single trial alone)")
    p.add_argument("--out", metavar="DIR", help=f"folder or URI to write the ensemble into, new, empty or an earlier "
                   f"ensemble's (default: EXP_DIR/{FOLDER} of the first experiment, where compare shows it)")
    p.add_argument("--bootstrap", type=int, default=RESAMPLES, metavar="N",
                   help="draws behind each test metric's 95%% bootstrap interval (default %(default)s; 0: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out, record = write_ensemble(args.exp_dirs, args.size, args.out, args.bootstrap)
    print(ensemble_markdown(record), end="")
    print(f"wrote {out.join(ENSEMBLE_FILE)} and {out.join(PAGE)}")
    return 0
