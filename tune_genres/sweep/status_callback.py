"""The Tune callback that writes each trial's trial_status.json (results/trial_status.py) as it ends."""

from __future__ import annotations

from ray import tune

from ..results.records import write_status
from .storage import trial_folder


class TrialStatusCallback(tune.Callback):
    def _write(self, trial, status: str) -> None:
        epochs = int((trial.last_result or {}).get("epoch", 0))
        write_status(trial_folder(trial), status, epochs)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._write(trial, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._write(trial, "ERROR")
