"""A file written whole or not at all: under a temporary name beside it, then renamed over it.

A reader never sees a half-written file, and a write that fails (a full disk, a crash) leaves the
old file, if any, as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(temporary path), then rename the result over `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when the write failed


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: Path, data: dict) -> None:
    """`data` as indented JSON ending in a newline: the form of every JSON file the tools write."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
