"""The small JSON records the driver writes into an experiment folder, beside Tune's own files.

    experiment.json          what the experiment is: the dataset (path and fingerprint), the sweep
                             file's fingerprint, the select_metric, the run's resources; --resume
                             and the report read it
    <trial>/trial_status.json   how the trial ended: {"status": "TERMINATED" | "ERROR", "epochs": N};
                             absent while it runs or when its driver died. The report tells
                             "finished" (all epochs) from "stopped early" (by ASHA) and "error" with it
    <trial>/final_scores.json   for a trial ASHA stopped early: its best-epoch weights' test scores,
                             scored once by the driver at the end of the sweep (a finished trial
                             reports its own in its last result row)
"""

from __future__ import annotations

import json
from pathlib import Path

from dataset_builder.atomic import write_json_atomic, write_text_atomic

EXPERIMENT_FILE = "experiment.json"
STATUS_FILE = "trial_status.json"
FINAL_SCORES_FILE = "final_scores.json"


def write_status(folder: Path, status: str, epochs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / STATUS_FILE, json.dumps({"status": status, "epochs": epochs}) + "\n")


def read_status(folder: Path) -> dict | None:
    return _read(folder / STATUS_FILE)


def write_experiment(exp_dir: Path, record: dict) -> None:
    write_json_atomic(exp_dir / EXPERIMENT_FILE, record)


def read_experiment(exp_dir: Path) -> dict | None:
    """experiment.json, or None for an experiment started before it was written."""
    return _read(exp_dir / EXPERIMENT_FILE)


def write_final_scores(folder: Path, scores: dict) -> None:
    write_json_atomic(folder / FINAL_SCORES_FILE, scores)


def read_final_scores(folder: Path) -> dict | None:
    return _read(folder / FINAL_SCORES_FILE)


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None
