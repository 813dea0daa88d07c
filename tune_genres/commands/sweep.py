"""`tune-genres sweep`: run a sweep file on a built dataset with Ray Tune, then write its report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from ..sweep.api import run_sweep
from ..sweep.sweep_file import load_sweep


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a sweep file's grid or search with Ray Tune",
        description="Train every combination in SWEEP.toml's [grid] (num_samples times over, repeat i with seed "
        "train.seed + i), or num_samples draws from its [space] "
        "([search] algorithm random or tpe; each draw [search] repeats times, one seed each), on DATASET with Ray "
        "Tune, on a local Ray "
        "or the cluster at --address; TensorBoard events, checkpoints and results go to STORAGE/NAME, and the "
        "report (results.csv, results.md, heatmap.png, learning-curves.png) is written at the end; a tpe search keeps "
        "its Optuna study in STORAGE/NAME/optuna.log as it runs (optuna-dashboard STORAGE/NAME/optuna.log). One driver per "
        "experiment (a second one is refused while it runs). Exit status: 0 every trial ended well, 1 some trial "
        "failed, 2 bad input (one line says what), 130 interrupted by Ctrl-C or SIGTERM (the state is saved and a "
        "partial report written: rerun with --resume).",
    )
    p.add_argument("sweep", type=Path, metavar="SWEEP.toml", help="sweep file (see sweeps/)")
    p.add_argument("--dataset", type=Path, required=True, help="built dataset folder (dataset-builder build)")
    p.add_argument("--address", help="Ray cluster to join ('auto' or HOST:PORT); default: start Ray here")
    p.add_argument("--storage", help="where experiments go: a path every node can reach, or a URI such as s3://bucket/x (default: $TUNE_GENRES_STORAGE, else ~/tune-genres/experiments)")
    p.add_argument("--name", help="experiment name (default: the sweep's name)")
    p.add_argument("--cpus-per-trial", type=float, help="CPUs per trial (default: the sweep file's resources.cpus_per_trial, else 1)")
    p.add_argument("--gpus-per-trial", type=float, help="GPUs per trial; fractions pack trials on a GPU "
                   "(default: the sweep file's resources.gpus_per_trial, else 0)")
    p.add_argument("--max-concurrent", type=int, help="at most this many trials at once (default: the sweep file's "
                   "max_concurrent, else as resources allow)")
    p.add_argument("--wait-for-resources", action="store_true",
                   help="let trials wait for nodes that can hold them (a cluster that autoscales); without it, "
                   "a trial that no node can hold is refused before any work")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override one sweep-file key, VALUE in TOML syntax (train.epochs=2, "
                   "'space.lr={loguniform=[1e-4,1e-2]}'); repeatable; the experiment's sweep.toml records the result")
    p.add_argument("--resume", action="store_true", help="finish an interrupted experiment of the same --storage/--name")
    p.add_argument("--warm-start", action="append", default=[], metavar="EXP",
                   help="tpe: begin the study with the trials of an earlier experiment on the same dataset (a folder, "
                   "a URI, or a name in --storage), not trained again and not counted in num_samples; repeatable; "
                   "adds to the sweep file's [search] warm_start")
    p.add_argument("--quiet", action="store_true", help="no per-epoch table from Tune")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.sweep, args.overrides)
    results = run_sweep(
        sweep,
        dataset=args.dataset,
        storage=args.storage,
        name=args.name,
        address=args.address,
        resume=args.resume,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        wait_for_resources=args.wait_for_resources,
        warm_start=args.warm_start,
        verbose=0 if args.quiet else 1,
    )
    exp_dir = results.path
    print(results.markdown)
    print(f"Report: {exp_dir}/results.md, results.csv, heatmap.png, learning-curves.png")
    print(f"Curves and the HParams table: tensorboard --logdir {exp_dir} --host 127.0.0.1")
    table = results.table
    failed = table[table["status"] == "error"]["trial"].tolist()
    if failed:
        print(f"tune-genres: {len(failed)} of {len(table)} trials failed ({', '.join(failed)}; why: error.txt in each "
              "trial's folder); run the same command with --resume to retry them", file=sys.stderr)
        return 1
    return 0
