"""The notebook API: `from tune_genres import Sweep, run_sweep`.

    sweep = Sweep.from_dict({"space": {"lr": {"loguniform": [1e-4, 1e-2]}, "ratio": [30]}, ...})
    results = run_sweep(sweep, dataset="dataset", storage="experiments", name="mine")
    results.best["test_map"], results.best_checkpoint, results.table

    results = Results.of("s3://bucket/experiments/mine")     # an experiment already run, local or a URI
    results.ensemble(size=25)["test"]["ensemble"]["metrics"]    # Caruana's ensemble of its trials, chosen on val

`tune-genres sweep` is a thin layer over run_sweep: the same checks, the same experiment, the same report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..results.ensemble import DEFAULT_SIZE, write_ensemble
from ..results.intervals import RESAMPLES
from ..results.location import Where, location
from ..results.report import best_trial, write_report
from .driver import SweepOptions, run_sweep as drive
from .interrupt import SweepInterrupted
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

    @classmethod
    def of(cls, exp_dir: Where, metric: str | None = None) -> Results:
        """The results of an experiment folder or URI (s3://bucket/prefix/NAME), its report refreshed
        (written into it, as `tune-genres report` does; `metric` as its --metric)."""
        return cls.from_report(str(location(exp_dir)), write_report(exp_dir, metric))

    @classmethod
    def from_report(cls, path: str, report: dict) -> Results:
        """From write_report's answer: its table (in the report's order, indexed from 0) and chosen trial."""
        table = report["table"].reset_index(drop=True)
        return cls(path=path, table=table, best=best_trial(table, report["select"]), markdown=report["markdown"])

    def ensemble(self, *others: Where, size: int = DEFAULT_SIZE, out: Where | None = None,
                 bootstrap: int = RESAMPLES) -> dict:
        """Caruana's greedy ensemble of this experiment's trials (and `others`', on the same dataset),
        chosen on validation, its test split scored once; written as `tune-genres ensemble` writes it
        (into `out`, by default the experiment's ensemble folder). Returns ensemble.json's record:
        ["members"], ["val_score"], ["test"]["ensemble"]["metrics"] beside ["test"]["best_single"]."""
        return write_ensemble([self.path, *others], size, out, bootstrap)[1]

    @property
    def best_checkpoint(self) -> str | None:
        if self.best is None or pd.isna(self.best.get("best_checkpoint")):
            return None
        return self.best["best_checkpoint"]


def run_sweep(sweep: Sweep, *, dataset: str | os.PathLike, storage: str | os.PathLike | None = None,
              name: str | None = None, address: str | None = None, resume: bool = False,
              cpus_per_trial: float | None = None, gpus_per_trial: float | None = None,
              max_concurrent: int | None = None, wait_for_resources: bool = False, verbose: int = 0,
              warm_start: list[str] = ()) -> Results:
    """Run (or with resume=True, finish) `sweep` on the built dataset with Ray Tune, write its report,
    and return its Results. Bad input raises BadInput (one line) before Ray starts; Ctrl-C stops the
    sweep in good order, writes the partial report and raises SweepInterrupted (a KeyboardInterrupt).
    warm_start: earlier experiments whose trials a tpe study begins with (as --warm-start)."""
    options = SweepOptions(
        dataset=Path(dataset), address=address, storage=str(storage) if storage is not None else None, name=name,
        cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, max_concurrent=max_concurrent,
        resume=resume, wait_for_resources=wait_for_resources, verbose=verbose, warm_start=list(warm_start),
    )
    outcome = drive(sweep, options)
    if outcome.interrupted:
        raise SweepInterrupted(f"the sweep stopped; its state and a partial report are in {outcome.path}: run the "
                               "same command with --resume to finish it")
    return Results.from_report(str(outcome.path), outcome.report)
