"""An experiment folder's trials: each one's record (results/trial_record.py), and its summary row.

Reads each trial's record, trial.json; a trial without one (its driver died before the trial's
first report was recorded, or the experiment predates records) is read from Tune's params.json
and result.json, and its latest checkpoint's history.json. Never a checkpoint's weights. The
experiment is read where it lives (results/location.py): a local folder or a URI such as s3://.

A trial's summary row describes its chosen weights, those of its best epoch by the experiment's
select_metric: val_* are that epoch's validation scores, test_* the test split scored once with
those weights; last_val_* and last_test_* are the last epoch's, for comparison only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dataset_builder.errors import BadInput

from ..training.hyperparameters import HYPERPARAMETERS, format_setting
from ..training.metrics import THRESHOLDED
from ..training.selection import DEFAULT_SELECT_METRIC
from ..training.checkpoint import HISTORY_FILE
from .location import ExperimentLocation, Where, exist_all, location
from .records import read_experiment
from .repeats import repeated
from .trial_record import read_record, record_from_rows

# The metrics of the summary rows (val_* and test_*), in the order tables show them.
SHOWN = ("map", "roc_auc_macro", "f1_macro", "f1_micro", "categorical_accuracy", "subset_accuracy", "hamming_loss")
PARAMS_FILE = "params.json"
# Tune writes params.json as a trial starts: every trial's config has a learning rate, a ratio and its epochs.
PARAMS_KEYS = {"lr": (int, float), "ratio": int, "epochs": int}
PARAMS_REMEDY = "restore it or remove the trial's folder"


@dataclass
class Trial:
    folder: ExperimentLocation
    record: dict

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def config(self) -> dict:
        return self.record["config"]

    @property
    def rows(self) -> list[dict]:
        return self.record["rows"]

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}


def check_experiment_folder(exp_dir: Where) -> None:
    """An experiment folder (STORAGE/NAME) is wanted: one line for a missing one, a file, or a trial's folder."""
    exp = location(exp_dir)
    if not exp.is_dir():
        raise BadInput(f"{exp}: {'a file, not an' if exp.exists() else 'no such'} experiment folder")
    if exp.is_file(PARAMS_FILE):
        raise BadInput(f"{exp}: a trial's folder, not an experiment's; pass its experiment folder, {exp.parent}")


def read_trials(exp_dir: Where) -> list[Trial]:
    """Every trial of the experiment (a folder with Tune's params.json), in name order."""
    trials = []
    for folder in trial_folders(location(exp_dir)):
        record = read_record(folder) or record_from_tune(folder, folder.read_json(PARAMS_FILE, PARAMS_REMEDY, PARAMS_KEYS))
        trials.append(Trial(folder, record))
    return trials


def trial_folders(exp: ExperimentLocation) -> list[ExperimentLocation]:
    """The folders holding Tune's params.json, in name order (on an object store: one listing, then
    one lookup for them all)."""
    folders = exp.folders()
    return [folder for folder, there in zip(folders, exist_all([f.join(PARAMS_FILE) for f in folders])) if there]


def record_from_tune(folder: ExperimentLocation, config: dict) -> dict:
    """A trial's record from Tune's result.json rows and its latest checkpoint's history.json (the
    rows a driver that died had not logged), for a trial that has no record of its own."""
    checkpoints = folder.folders("checkpoint_*")  # zero-padded numbers, in name order: the last is the latest
    history = read_json_list(checkpoints[-1].join(HISTORY_FILE)) if checkpoints else []
    record = record_from_rows(folder.name, config, logged_rows(folder.join("result.json")), history)
    record["checkpoint"] = str(checkpoints[-1]) if checkpoints else None
    return record


def read_json_list(path: Where) -> list[dict]:
    """A history.json's rows; [] without one (a checkpoint from before it was written) or when cut off."""
    try:
        rows = json.loads(location(path).read_bytes().decode("utf-8"))
    except (BadInput, ValueError):  # BadInput: missing or unreadable; ValueError: not JSON, not UTF-8
        return []
    return [row for row in rows if isinstance(row, dict) and "epoch" in row] if isinstance(rows, list) else []


def select_metric(exp_dir: Where, trials: list[Trial], record: dict | None = None) -> str:
    """The validation metric the experiment chose by (experiment.json, else the trials' config).
    `record`: experiment.json, when the caller has read it already."""
    record = record if record is not None else read_experiment(exp_dir)
    if record is not None:
        return record["select_metric"]
    chosen = {t.config.get("select_metric", DEFAULT_SELECT_METRIC) for t in trials}
    return chosen.pop() if len(chosen) == 1 else DEFAULT_SELECT_METRIC


def logged_rows(result: Where) -> list[dict]:
    """result.json's rows in order. A line that is not a JSON object (cut off by a crash, or bytes
    that are not UTF-8) is skipped: a resumed run appends after it, so the rows after it stand,
    and the furthest checkpoint's history holds the epochs a lost row described."""
    result = location(result)
    if not result.is_file():
        return []
    rows = []
    for line in result.read_bytes().splitlines():
        try:
            row = json.loads(line.decode("utf-8"))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def trial_state(trial: Trial) -> str:
    """finished | stopped early (by the scheduler) | stopped on plateau (by its patience) | error |
    running (or interrupted) | not started."""
    status = trial.record["status"]
    if status == "running" and not trial.rows:
        return "not started"
    return status


def trial_row(trial: Trial, select: str = DEFAULT_SELECT_METRIC) -> dict:
    last = trial.last
    row = {k: trial.config.get(k) for k in HYPERPARAMETERS}
    row["trial"] = trial.name
    row["epochs_done"] = last.get("epoch", 0)
    row["epochs"] = trial.config.get("epochs")
    row["status"] = trial_state(trial)
    row["patience"] = trial.config.get("patience")  # [scheduler] patience: a plateau this long ends it
    # best_epoch 0: no epoch scored a finite value (a diverged trial); its best value is NaN.
    row["best_epoch"] = last.get("best_epoch")
    row[f"best_{select}"] = last.get(f"best_{select}", float("nan")) if trial.rows else None
    chosen = next((r for r in trial.rows if r["epoch"] == row["best_epoch"]), {})
    scored = trial.record["scores"]  # the chosen weights' test scores, and the last epoch's
    for name in ("loss", *SHOWN):
        row[f"val_{name}"] = chosen.get(f"val_{name}")
        row[f"test_{name}"] = scored.get(f"test_{name}")
    for split in ("val", "test"):
        for name in THRESHOLDED:
            row[f"{split}_{name}_tuned"] = scored.get(f"{split}_{name}_tuned")
    for name in ("loss", *SHOWN):
        row[f"last_val_{name}"] = last.get(f"val_{name}")
        row[f"last_test_{name}"] = scored.get(f"last_test_{name}")
    row["test_scored_by"] = trial.record["test_scored_by"]
    row["best_checkpoint"] = trial.record["checkpoint"]
    row["train_images_per_s"] = last.get("train_images_per_s")
    # Tune's total; for a trial whose rows only a checkpoint kept, the epochs' own time (startup not counted).
    row["wall_s"] = trial.record["seconds"] or sum(r.get("epoch_s", 0.0) for r in trial.rows) or None
    row["node_id"] = last.get("node_id")
    row["node_ip"] = last.get("node_ip")
    row["gpu_ids"] = last.get("gpu_ids")
    row["device"] = last.get("device")
    row["gpu_name"] = last.get("gpu_name")
    return row


def grouping_keys(table) -> list[str]:
    """The swept keys besides lr and ratio (loss, batch size, ...): one table or panel per value. A
    seed that repeats configurations is none: a configuration's repeats share a cell (mean ± sd)."""
    within_a_table = {"lr", "ratio", *(["seed"] if repeated(table) else [])}
    return [k for k in HYPERPARAMETERS if k not in within_a_table and k in table.columns and table[k].nunique() > 1]


def tabled_as_grid(table, search: str) -> bool:
    """Are the trials shown as lr x ratio tables (else ranked, best first)? A grid with at most one
    other swept key, unless lr and ratio hold one value each while that key or the seed varies (a
    seed sweep): its tables would be one cell each."""
    others = grouping_keys(table)
    cells = len(table.drop_duplicates(["lr", "ratio"]))
    return search == "grid" and len(others) <= 1 and (cells > 1 or not (others or repeated(table)))


def group_label(others: list[str], key) -> str:
    """A group of trials sharing the `others` keys' values, as "loss=bce" ("loss=bce, seed=1")."""
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{k}={format_setting(k, v)}" for k, v in zip(others, key))
