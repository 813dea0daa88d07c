"""How each trial ended, written beside its results: Tune's own result rows do not say.

`trial_status.json` in a trial's folder holds {"status": "TERMINATED" | "ERROR", "epochs": N}.
A trial without it is still running, or its driver died. The report tells "finished" (all
epochs) from "stopped early" (ended by the scheduler, e.g. ASHA) and "error" with it. The driver
writes it through sweep/status_callback.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from dataset_builder.atomic import write_text_atomic

STATUS_FILE = "trial_status.json"


def write_status(folder: Path, status: str, epochs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / STATUS_FILE, json.dumps({"status": status, "epochs": epochs}) + "\n")


def read_status(folder: Path) -> dict | None:
    path = folder / STATUS_FILE
    return json.loads(path.read_text()) if path.is_file() else None
