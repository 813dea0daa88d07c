"""The notebook API: `from tune_genres import Sweep, run_sweep`.

    sweep = Sweep.from_dict({"space": {"lr": {"loguniform": [1e-4, 1e-2]}, "ratio": [30]}, ...})
    results = run_sweep(sweep, dataset="dataset", storage="experiments", name="mine")
    results.best["test_map"], results.best_checkpoint, results.table

`tune-genres sweep` is a thin layer over run_sweep: the same checks, the same experiment, the same report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dataset_builder.errors import BadInput

from ..results.report import best_trial, write_report
from .driver import SweepOptions, run_sweep as drive
from .sweep_file import Sweep


@dataclass
class Results:
    """An experiment's results: `table` holds results.csv's rows, `best` the row of the trial the
    sweep's select_metric chose (None while no trial has a finite value), `best_checkpoint` the
    checkpoint with its best-epoch weights, `path` the experiment folder (or URI)."""

    path: str
    table: pd.DataFrame | None
    best: pd.Series | None
    markdown: str = ""

    @property
    def best_checkpoint(self) -> str | None:
        if self.best is None or pd.isna(self.best.get("best_checkpoint")):
            return None
        return self.best["best_checkpoint"]


def run_sweep(sweep: Sweep, *, dataset: str | os.PathLike, storage: str | os.PathLike | None = None,
              name: str | None = None, address: str | None = None, resume: bool = False,
              cpus_per_trial: float | None = None, gpus_per_trial: float | None = None,
              max_concurrent: int | None = None, verbose: int = 0) -> Results:
    """Run (or with resume=True, finish) `sweep` on the built dataset with Ray Tune, write its report,
    and return its Results. Bad input raises BadInput (one line) before Ray starts."""
    options = SweepOptions(
        dataset=Path(dataset), address=address, storage=str(storage) if storage is not None else None, name=name,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, max_concurrent=max_concurrent,
        resume=resume, verbose=verbose,
    )
    exp_dir = drive(sweep, options)
    if "://" in exp_dir:
        return Results(path=exp_dir, table=None, best=None)
    try:
        report = write_report(exp_dir)
    except OSError as e:
        raise BadInput(f"{exp_dir}: cannot write the report there ({e.strerror or e}); the experiment is intact: "
                       f"make room, then run `tune-genres report {exp_dir}`") from None
    table = report["table"].reset_index(drop=True)
    return Results(path=exp_dir, table=table, best=best_trial(table, report["select"]), markdown=report["markdown"])
