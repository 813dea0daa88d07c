"""The benchmarks' one JSON writer: every --json file says which benchmark, when and how it ran.

Standard library and dataset_builder only, so the dataset benchmarks need no torch.
"""

from __future__ import annotations

import datetime
import platform
import sys
from pathlib import Path

from dataset_builder.atomic import write_json_atomic


def write_json(path: Path, benchmark: str, **figures) -> None:
    """The figures with the benchmark's name, date and command line, written whole or not at all."""
    report = {
        "benchmark": benchmark,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        **figures,
    }
    write_json_atomic(path, report)
    print(f"Figures written to {path}")


def cpu_name() -> str:
    """The CPU's model name, for saying what a figure was measured on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
