"""An experiment folder's trials: each one's config and one metrics row per epoch, and its summary row.

Reads each trial's params.json, result.json (one JSON line per epoch, written by Tune's driver)
and the metrics history its latest checkpoint carries (rows result.json lost when the driver died
before syncing it), trial_status.json (how it ended) and final_scores.json (test scores the
driver gave a trial the scheduler stopped).

A trial's summary row describes its chosen weights, those of its best epoch by the experiment's
select_metric: val_* are that epoch's validation scores, test_* the test split scored once with
those weights; last_val_* and last_test_* are the last epoch's, for comparison only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dataset_builder.errors import BadInput
from dataset_builder.reading import read_bytes, read_json_object

from ..training.hyperparameters import HYPERPARAMETERS, format_setting
from ..training.metrics import THRESHOLDED
from ..training.selection import DEFAULT_SELECT_METRIC
from .records import read_experiment, read_final_scores, read_status

# The metrics of the summary rows (val_* and test_*), in the order tables show them.
SHOWN = ("map", "roc_auc_macro", "f1_macro", "f1_micro", "categorical_accuracy", "subset_accuracy", "hamming_loss")
# Tune writes params.json as a trial starts: every trial's config has a learning rate, a ratio and its epochs.
PARAMS_KEYS = {"lr": (int, float), "ratio": int, "epochs": int}
PARAMS_REMEDY = "restore it or remove the trial's folder"


@dataclass
class Trial:
    folder: Path
    name: str
    config: dict
    rows: list[dict]
    checkpoint: Path | None = None  # the furthest checkpoint: it holds the best weights so far

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}


def check_experiment_folder(exp_dir: Path) -> None:
    """An experiment folder (STORAGE/NAME) is wanted: one line for a missing one, a file, or a trial's folder."""
    if not exp_dir.is_dir():
        raise BadInput(f"{exp_dir}: {'a file, not an' if exp_dir.exists() else 'no such'} experiment folder")
    if (exp_dir / "params.json").is_file():
        raise BadInput(f"{exp_dir}: a trial's folder, not an experiment's; pass its experiment folder, {exp_dir.parent}")


def read_trials(exp_dir: Path) -> list[Trial]:
    trials = []
    for params in sorted(exp_dir.glob("*/params.json")):
        folder = params.parent
        config = read_json_object(params, PARAMS_REMEDY, PARAMS_KEYS)
        checkpoint, history = furthest_checkpoint_history(folder)
        rows = merge_rows(logged_rows(folder / "result.json"), history)
        trials.append(Trial(folder, folder.name, config, rows, checkpoint))
    return trials


def select_metric(exp_dir: Path, trials: list[Trial]) -> str:
    """The validation metric the experiment chose by (experiment.json, else the trials' config)."""
    record = read_experiment(exp_dir)
    if record is not None:
        return record["select_metric"]
    chosen = {t.config.get("select_metric", DEFAULT_SELECT_METRIC) for t in trials}
    return chosen.pop() if len(chosen) == 1 else DEFAULT_SELECT_METRIC


def logged_rows(result: Path) -> list[dict]:
    """result.json's rows in order. A line that is not a JSON object (cut off by a crash, or bytes
    that are not UTF-8) is skipped: a resumed run appends after it, so the rows after it stand,
    and the furthest checkpoint's history holds the epochs a lost row described."""
    if not result.is_file():
        return []
    rows = []
    for line in read_bytes(result).splitlines():
        try:
            row = json.loads(line.decode("utf-8"))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def furthest_checkpoint(folder: Path) -> tuple[Path, dict] | None:
    """The trial's furthest readable checkpoint, (its directory, its state), or None."""
    from ..training.checkpoint import load_checkpoint  # torch: only when there are checkpoints to read

    found = None
    for directory in sorted(folder.glob("checkpoint_*")):
        try:
            state = load_checkpoint(directory)
        except BadInput:
            continue  # cut off mid-upload (a crash, a full disk): the checkpoints before it stand
        if found is None or state["epoch"] >= found[1]["epoch"]:
            found = (directory, state)
    return found


def furthest_checkpoint_history(folder: Path) -> tuple[Path | None, list[dict]]:
    """The trial's furthest readable checkpoint and the per-epoch rows it carries ((None, []) when none)."""
    found = furthest_checkpoint(folder)
    return (found[0], found[1]["history"]) if found else (None, [])


def current_lineage(logged: list[dict]) -> list[dict]:
    """result.json's rows of the run that counts. A trial restored from a checkpoint logs again
    from the epoch after it: every earlier row from that epoch on belongs to the abandoned run
    (which may have got further than the restored one has yet), so it goes."""
    rows: list[dict] = []
    for row in logged:
        if row.get("epoch") is None:
            continue
        while rows and rows[-1]["epoch"] >= row["epoch"]:
            rows.pop()
        rows.append(row)
    return rows


def merge_rows(logged: list[dict], history: list[dict]) -> list[dict]:
    """One row per epoch: the checkpoint's history for the epochs it covers (the final model's own
    lineage, kept even where result.json lost them), result.json's current lineage for the epochs after it."""
    by_epoch = {row["epoch"]: row for row in current_lineage(logged)}
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


def trial_row(trial: Trial, select: str = DEFAULT_SELECT_METRIC) -> dict:
    last = trial.last
    row = {k: trial.config.get(k) for k in HYPERPARAMETERS}
    row["trial"] = trial.name
    row["epochs_done"] = last.get("epoch", 0)
    row["epochs"] = trial.config.get("epochs")
    row["status"] = trial_state(trial, row["epochs_done"], row["epochs"])
    # best_epoch 0: no epoch scored a finite value (a diverged trial); its best value is NaN.
    row["best_epoch"] = last.get("best_epoch")
    row[f"best_{select}"] = last.get(f"best_{select}", float("nan")) if trial.rows else None
    chosen = next((r for r in trial.rows if r["epoch"] == row["best_epoch"]), {})
    final = read_final_scores(trial.folder)
    scored = final["metrics"] if final else last  # the chosen weights' test scores
    for name in ("loss", *SHOWN):
        row[f"val_{name}"] = chosen.get(f"val_{name}")
        row[f"test_{name}"] = scored.get(f"test_{name}")
    for split in ("val", "test"):
        for name in THRESHOLDED:
            row[f"{split}_{name}_tuned"] = scored.get(f"{split}_{name}_tuned")
    for name in ("loss", *SHOWN):
        row[f"last_val_{name}"] = last.get(f"val_{name}")
        row[f"last_test_{name}"] = last.get(f"last_test_{name}")
    row["test_scored_by"] = "driver" if final else "trial" if "test_map" in last else None
    row["best_checkpoint"] = final["checkpoint"] if final else str(trial.checkpoint) if trial.checkpoint else None
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


def tabled_as_grid(table, search: str) -> bool:
    """Are the trials shown as lr x ratio tables (else ranked, best first)? A grid with at most one
    other swept key, unless lr and ratio hold one value each while that key varies (a seed sweep):
    its tables would be one cell each."""
    others = grouping_keys(table)
    cells = len(table.drop_duplicates(["lr", "ratio"]))
    return search == "grid" and len(others) <= 1 and (cells > 1 or not others)


def group_label(others: list[str], key) -> str:
    """A group of trials sharing the `others` keys' values, as "loss=bce" ("loss=bce, seed=1")."""
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{k}={format_setting(k, v)}" for k, v in zip(others, key))
