"""How each trial ended, written beside its results: Tune's own result rows do not say.

`trial_status.json` in a trial's folder holds {"status": "TERMINATED" | "ERROR", "epochs": N}.
A trial without it is still running, or its driver died. The report tells "finished" (all
epochs) from "stopped early" (ended by the scheduler, e.g. ASHA) and "error" with it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ray import tune

from .storage import writes_in_place

STATUS_FILE = "trial_status.json"


def write_status(folder: Path, status: str, epochs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{STATUS_FILE}.tmp"
    try:
        tmp.write_text(json.dumps({"status": status, "epochs": epochs}) + "\n")
        os.replace(tmp, folder / STATUS_FILE)
    finally:
        tmp.unlink(missing_ok=True)  # a write that failed (a full disk) leaves nothing behind


def read_status(folder: Path) -> dict | None:
    path = folder / STATUS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


class TrialStatusCallback(tune.Callback):
    def _write(self, trial, status: str) -> None:
        local = writes_in_place(trial.storage.storage_filesystem)
        folder = Path(trial.path if local else trial.local_path)
        epochs = int((trial.last_result or {}).get("epoch", 0))
        write_status(folder, status, epochs)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._write(trial, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._write(trial, "ERROR")
