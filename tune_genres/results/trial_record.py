"""THE record of one trial's outcome: `<trial>/trial.json`, small, whole (written atomically).

The driver writes it each time the trial reports and when it ends (sweep/record_callback.py),
and for a trial the scheduler stopped early, again once it has scored its test split
(sweep/stopped_trials.py). The report, compare and the searcher's bookkeeping read it, never a
checkpoint:

    format            RECORD_FORMAT
    trial             the trial's name (its folder's)
    config            the trial's configuration (hyperparameters, train settings, fingerprints)
    seed              the seed it trained with
    status            running | finished | stopped early (by the scheduler) | stopped on plateau (its
                      [scheduler] patience ran out; it scored its test split itself) | error
    epochs            epochs it was to train; epochs_done, how many it did
    select_metric     the validation metric that chose its best epoch; best_epoch (0: no epoch
                      scored a finite value) and best_value
    rows              one metrics row per epoch, of the run that counts (a trial restored from a
                      checkpoint drops the rows of the run it abandoned)
    scores            the chosen (best-epoch) weights' test_* scores, scored once, their *_tuned
                      scores at the thresholds, and the last epoch's last_test_*: {} until scored
    thresholds        per-genre thresholds tuned on validation for the chosen weights, or None
    test_scored_by    "trial" (it trained to the end), "driver" (it was stopped early), or None
    checkpoint        the latest checkpoint's folder (it holds the best epoch's weights too)
    predictions       the name of the file beside the record that holds the chosen weights' val and
                      test probabilities (training/predictions.py), or None: not scored yet, or
                      kept by no trial of an experiment older than it (then absent)
    dataset_fingerprint, sweep_fingerprint   what it trained on, and by which sweep
    seconds           seconds trained (Tune's time_total_s, restarts included)
"""

from __future__ import annotations

import json

from ..training.selection import DEFAULT_SELECT_METRIC, STOPPED_ON_PLATEAU
from .location import Where, location

RECORD_FILE = "trial.json"
RECORD_FORMAT = 1
RECORD_KEYS = {"trial": str, "config": dict, "status": str, "rows": list, "scores": dict}
# A record only the driver writes, whole: one that is broken was edited or copied over by hand.
RECORD_REMEDY = ("remove it to fall back on Tune's result.json for this trial, or restore it from a copy of the "
                 "experiment")
# Keys of a reported row that belong to the chosen weights' one-time scoring, not to an epoch.
SCORE_PREFIXES = ("test_", "last_test_")
# What Tune adds to a reported row that the record does not keep (the config is kept once).
TUNE_ONLY = ("config", "trial_id", "date", "hostname", "done", "training_iteration", "iterations_since_restore",
             "time_since_restore", "time_this_iter_s", "checkpoint_dir_name", "should_checkpoint")


def new_record(name: str, config: dict) -> dict:
    return {
        "format": RECORD_FORMAT,
        "trial": name,
        "config": config,
        "seed": config.get("seed"),
        "status": "running",
        "epochs": config.get("epochs"),
        "epochs_done": 0,
        "select_metric": config.get("select_metric", DEFAULT_SELECT_METRIC),
        "best_epoch": None,
        "best_value": None,
        "rows": [],
        "scores": {},
        "thresholds": None,
        "test_scored_by": None,
        "checkpoint": None,
        "predictions": None,
        "dataset_fingerprint": config.get("dataset_fingerprint"),
        "sweep_fingerprint": config.get("sweep_fingerprint"),
        "seconds": None,
    }


def epoch_row(result: dict) -> dict:
    """A reported row as the record keeps it: the epoch's metrics, without Tune's bookkeeping,
    the one-time scores or the thresholds (kept once, at the record's top)."""
    return {k: v for k, v in result.items()
            if k not in TUNE_ONLY and k != "thresholds" and not k.startswith(SCORE_PREFIXES)}


def add_result(record: dict, result: dict) -> None:
    """One reported row into the record. A row whose epoch the record holds already comes from a
    trial restored from an earlier checkpoint: the rows from that epoch on were the abandoned run's."""
    if result.get("epoch") is None:
        return
    row = epoch_row(result)
    rows = record["rows"]
    while rows and rows[-1]["epoch"] >= row["epoch"]:
        rows.pop()
    rows.append(row)
    follow_last_row(record)
    record["seconds"] = result.get("time_total_s", record["seconds"])
    take_scores(record, result)


def follow_last_row(record: dict) -> None:
    """Epochs done and the best epoch so far, as the record's last row says them."""
    last = record["rows"][-1]
    record["epochs_done"] = last["epoch"]
    record["best_epoch"] = last.get("best_epoch")
    record["best_value"] = last.get(f"best_{record['select_metric']}")


def take_scores(record: dict, row: dict) -> None:
    """The last row of a trial that trained to the end carries its chosen weights' test scores."""
    if "test_map" in row:
        record["scores"] = {k: v for k, v in row.items() if k.startswith(SCORE_PREFIXES) or k.endswith("_tuned")}
        record["thresholds"] = row.get("thresholds")
        record["test_scored_by"] = "trial"


def merge_history(record: dict, history: list[dict]) -> None:
    """A checkpoint's own rows (history.json) for the epochs it covers: rows a driver received
    but died before recording stay part of the trial's curve (and its scores, when the last did)."""
    if not history:
        return
    covered = max(row["epoch"] for row in history)
    kept = [row for row in record["rows"] if row["epoch"] > covered]
    record["rows"] = sorted([epoch_row(row) for row in history] + kept, key=lambda row: row["epoch"])
    follow_last_row(record)
    if not record["scores"]:
        take_scores(record, history[-1])


def ended(record: dict, errored: bool) -> None:
    if errored:
        record["status"] = "error"
    elif stopped_on_plateau(record):
        record["status"] = "stopped on plateau"
    else:
        record["status"] = "finished" if record["epochs_done"] == record["epochs"] else "stopped early"


def stopped_on_plateau(record: dict) -> bool:
    """Did the trial's patience end it (training/trial.py marks its last row)? It then scored its
    test split itself, as at a last epoch."""
    return bool(record["rows"]) and bool(record["rows"][-1].get(STOPPED_ON_PLATEAU))


def write_record(folder: Where, record: dict) -> None:
    """The trial's record, whole (a local folder is made when missing)."""
    location(folder).write_json(RECORD_FILE, record)


def read_record(folder: Where) -> dict | None:
    """The trial's record, or None for a trial that has none (it died before its first report, or
    its experiment predates records)."""
    return location(folder).read_json(RECORD_FILE, RECORD_REMEDY, RECORD_KEYS)


def record_from_rows(name: str, config: dict, rows: list[dict], history: list[dict] = ()) -> dict:
    """A record rebuilt from Tune's result.json rows and its latest checkpoint's history, for a
    trial that never got one of its own. How it ended is not known: all its epochs done, it
    finished; else it reads as running (or interrupted)."""
    record = new_record(name, config)
    for row in rows:
        add_result(record, row)
    merge_history(record, list(history))
    if stopped_on_plateau(record):
        ended(record, errored=False)
    else:
        record["status"] = "finished" if record["epochs_done"] and record["epochs_done"] == record["epochs"] else (
            "running" if record["rows"] else "not started")
    return record


def json_ready(value):
    """`value` with what json cannot write as plain values: numpy scalars and arrays as numbers and
    lists, anything else as its text."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
