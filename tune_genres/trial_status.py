"""How each trial ended, written beside its results: Tune's own result rows do not say.

`trial_status.json` in a trial's folder holds {"status": "TERMINATED" | "ERROR", "epochs": N}.
A trial without it is still running, or its driver died. The report tells "finished" (all
epochs) from "stopped early" (ended by the scheduler, e.g. ASHA) and "error" with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ray import tune

from dataset_builder.atomic import write_text_atomic

from .storage import trial_folder

STATUS_FILE = "trial_status.json"


def write_status(folder: Path, status: str, epochs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / STATUS_FILE, json.dumps({"status": status, "epochs": epochs}) + "\n")


def read_status(folder: Path) -> dict | None:
    path = folder / STATUS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


class TrialStatusCallback(tune.Callback):
    def _write(self, trial, status: str) -> None:
        epochs = int((trial.last_result or {}).get("epoch", 0))
        write_status(trial_folder(trial), status, epochs)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._write(trial, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._write(trial, "ERROR")
