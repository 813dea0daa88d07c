"""An experiment folder's trials: each one's config and one metrics row per epoch, and its summary row.

Reads each trial's params.json, result.json (one JSON line per epoch, written by Tune's driver)
and the metrics history its latest checkpoint carries (rows result.json lost when the driver died
before syncing it), and trial_status.json (how it ended).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dataset_builder.errors import BadInput

from ..training.hyperparameters import HYPERPARAMETERS
from .trial_status import read_status

# The metrics of the summary rows (val_* and test_*), in the order tables show them.
SHOWN = ("map", "roc_auc_macro", "f1_macro", "f1_micro", "categorical_accuracy", "subset_accuracy", "hamming_loss")


@dataclass
class Trial:
    folder: Path
    name: str
    config: dict
    rows: list[dict]

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}


def read_trials(exp_dir: Path) -> list[Trial]:
    trials = []
    for params in sorted(exp_dir.glob("*/params.json")):
        folder = params.parent
        config = json.loads(params.read_text())
        rows = merge_rows(logged_rows(folder / "result.json"), checkpoint_history(folder))
        trials.append(Trial(folder, folder.name, config, rows))
    return trials


def logged_rows(result: Path) -> list[dict]:
    """result.json's rows in order; a line cut off by a crash is skipped."""
    rows = []
    if result.is_file():
        for line in result.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    # Cut off by a crash; a resumed run appends after it, so the rows after it stand too.
                    continue
    return rows


def checkpoint_history(folder: Path) -> list[dict]:
    """The per-epoch rows carried by the trial's furthest readable checkpoint ([] when none)."""
    from ..training.checkpoint import load_checkpoint  # torch: only when there are checkpoints to read

    furthest = None
    for directory in sorted(folder.glob("checkpoint_*")):
        try:
            state = load_checkpoint(directory)
        except BadInput:
            continue  # cut off mid-upload (a crash, a full disk): the checkpoints before it stand
        if furthest is None or state["epoch"] >= furthest["epoch"]:
            furthest = state
    return furthest["history"] if furthest else []


def merge_rows(logged: list[dict], history: list[dict]) -> list[dict]:
    """One row per epoch: the checkpoint's history for the epochs it covers (the final model's own
    lineage, kept even where result.json lost them), result.json for the epochs after it. A trial
    restored from a checkpoint logs the epochs after it twice: the later row is the one that counts."""
    by_epoch = {row["epoch"]: row for row in logged if row.get("epoch") is not None}
    for row in history:
        # Tune's own fields (time_total_s, node_ip) exist only in result.json's row: keep them.
        by_epoch[row["epoch"]] = {**by_epoch.get(row["epoch"], {}), **row}
    return [by_epoch[e] for e in sorted(by_epoch)]


def trial_state(trial: Trial, epochs_done: int, epochs: int) -> str:
    """finished | stopped early (by the scheduler) | error | running (or interrupted) | not started."""
    ended = read_status(trial.folder)
    if epochs_done == epochs:
        return "finished"
    if ended is not None:
        return "error" if ended["status"] == "ERROR" else "stopped early"
    return "running" if trial.rows else "not started"


def trial_row(trial: Trial) -> dict:
    last = trial.last
    row = {k: trial.config.get(k) for k in HYPERPARAMETERS}
    row["trial"] = trial.name
    row["epochs_done"] = last.get("epoch", 0)
    row["epochs"] = trial.config.get("epochs")
    row["status"] = trial_state(trial, row["epochs_done"], row["epochs"])
    row["best_epoch"] = last.get("best_epoch")
    row["best_val_map"] = last.get("best_val_map")
    for split in ("val", "test"):
        row[f"{split}_loss"] = last.get(f"{split}_loss")
        for metric in SHOWN:
            row[f"{split}_{metric}"] = last.get(f"{split}_{metric}")
    row["train_images_per_s"] = last.get("train_images_per_s")
    # Tune's total; for a row only a checkpoint kept, the epochs' own time (startup not counted).
    row["wall_s"] = last.get("time_total_s", sum(r.get("epoch_s", 0.0) for r in trial.rows) or None)
    row["node_id"] = last.get("node_id")
    row["node_ip"] = last.get("node_ip")
    row["gpu_ids"] = last.get("gpu_ids")
    row["device"] = last.get("device")
    return row


def grouping_keys(table) -> list[str]:
    """The swept keys besides lr and ratio (loss, batch size, ...): one table or panel per value."""
    return [k for k in HYPERPARAMETERS if k not in ("lr", "ratio") and table[k].nunique() > 1]
