"""The benchmarks' one JSON writer: every --json file says which benchmark, when and how it ran.

Standard library and dataset_builder only, so the dataset benchmarks need no torch.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from dataset_builder.atomic import write_text_atomic


def write_json(path: Path, benchmark: str, **figures) -> None:
    """The figures with the benchmark's name, date and command line, written whole or not at all."""
    report = {
        "benchmark": benchmark,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        **figures,
    }
    write_text_atomic(path, json.dumps(report, indent=2) + "\n")
    print(f"Figures written to {path}")
