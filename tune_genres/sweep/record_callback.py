"""The Tune callback that keeps each trial's record (results/trial_record.py) as the driver hears
of it: every reported row, every checkpoint, the end (finished, stopped early, stopped on plateau,
error); and, from a trial's last checkpoint, its chosen weights' predictions (training/predictions.py)
beside it."""

from __future__ import annotations

import json

from ray import tune

from ..results.location import ExperimentLocation, location
from ..results.trial_record import (add_result, ended, json_ready, merge_history, new_record, read_record,
                                    write_record)
from ..training.checkpoint import HISTORY_FILE
from ..training.predictions import PREDICTIONS_FILE
from .storage import trial_folder


def checkpoint_history(checkpoint) -> list[dict]:
    """The rows a Tune Checkpoint's history.json holds ([] without one): small, never the weights."""
    if checkpoint is None:
        return []
    try:
        with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{HISTORY_FILE}") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return []  # a checkpoint from before history.json: its rows are in result.json


def keep_predictions(checkpoint, folder) -> bool:
    """Copy the checkpoint's predictions.npz (a trial's last checkpoint holds its chosen weights'
    probabilities) beside the trial's record, where ensembles read it; False when it holds none."""
    try:
        with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{PREDICTIONS_FILE}") as f:
            data = f.read()
    except OSError:  # FileNotFoundError among them: a checkpoint before the trial's last
        return False
    location(folder).write_bytes(PREDICTIONS_FILE, data)
    return True


class TrialRecordCallback(tune.Callback):
    def __init__(self, experiment: ExperimentLocation, dataset_fingerprint: str | None = None):
        self.experiment = experiment  # where the checkpoints are, named in each record
        self.dataset_fingerprint = dataset_fingerprint
        self.records: dict[str, dict] = {}

    def record(self, trial) -> dict:
        """The trial's record: this driver's copy, else the one on disk (a resumed sweep), else a new
        one. A trial restored from a checkpoint gets that checkpoint's rows first: rows an earlier
        driver received but died before recording."""
        if trial.trial_id not in self.records:
            folder = trial_folder(trial)
            record = read_record(folder) or new_record(folder.name, json_ready(dict(trial.config)))
            record["dataset_fingerprint"] = record["dataset_fingerprint"] or self.dataset_fingerprint
            merge_history(record, checkpoint_history(trial.checkpoint))
            self.records[trial.trial_id] = record
        return self.records[trial.trial_id]

    def save(self, trial) -> None:
        write_record(trial_folder(trial), self.record(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        add_result(self.record(trial), json_ready(result))
        self.save(trial)

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        # Tune's path is in its filesystem's terms ("bucket/prefix/..." on S3): the record names the
        # checkpoint as readers take it, a path or a URI: <experiment>/<trial>/checkpoint_NNNNNN.
        trial_dir, checkpoint_dir = checkpoint.path.rstrip("/").split("/")[-2:]
        self.record(trial)["checkpoint"] = str(self.experiment.join(trial_dir, checkpoint_dir))
        if keep_predictions(checkpoint, trial_folder(trial)):
            self.record(trial)["predictions"] = PREDICTIONS_FILE
        self.save(trial)

    def on_trial_complete(self, iteration, trials, trial, **info):
        ended(self.record(trial), errored=False)
        self.save(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        ended(self.record(trial), errored=True)
        self.save(trial)
