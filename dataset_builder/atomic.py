"""THE way the tools write a file: whole or not at all.

Each write goes to a temporary name beside the file, unique to that writer (two writers of the
same file never share one), is flushed and fsynced, then renamed over the file. A reader never
sees a half-written file, and a write that fails (a full disk, a crash, an exception) leaves the
old file, if any, as it was, and removes its temporary file.

- `AtomicFile`: a file object to write into (the checkpoint, the raw collection's CSVs, Tune's
  experiment files through sweep/storage.py); closing it after every write succeeded puts it in place.
- `write_atomic(path, write)`: for writers that want a path (pandas, matplotlib).
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

# Leftovers of a writer killed mid-write match this (in the folder of the file it was writing).
TEMPORARY_GLOB = ".*.*.tmp"


def temporary_name(path: str | os.PathLike) -> Path:
    """A name beside `path`, hidden, unique to this writer: .NAME.<8 hex>.tmp."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A file written under a temporary name and renamed over `path` when closed after every write
    succeeded; after a failed write (or an exception inside `with`), close() removes it instead.

    mode is "wb" or "w" (then `open_kwargs` such as newline= and encoding= go to open()).
    """

    def __init__(self, path: str | os.PathLike, mode: str = "wb", **open_kwargs):
        if mode not in ("wb", "w"):
            raise ValueError(f"AtomicFile writes new files: mode 'wb' or 'w', not {mode!r}")
        self.path = Path(path)
        self.tmp = temporary_name(self.path)
        self.file = open(self.tmp, mode, **open_kwargs)
        self.failed = False

    @property
    def closed(self) -> bool:
        return self.file.closed

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except BaseException:
            # Give the space back now: the caller may never close a stream that failed.
            self.discard()
            raise

    def flush(self) -> None:
        self.file.flush()

    def tell(self) -> int:
        return self.file.tell()

    def discard(self) -> None:
        """Close without putting the file in place: the old file stays as it was."""
        self.failed = True
        self.close()

    def close(self) -> None:
        if self.file.closed:
            return
        try:
            if not self.failed:
                self.file.flush()
                os.fsync(self.file.fileno())
        except BaseException:
            self.failed = True
            raise
        finally:
            try:
                self.file.close()
            except OSError:
                self.failed = True  # buffered bytes that did not fit
            if self.failed:
                os.unlink(self.tmp)
            else:
                os.replace(self.tmp, self.path)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.failed = True
        self.close()

    def __del__(self) -> None:
        # Dropped unclosed (the writer gave up on an error of its own): never rename it in.
        if hasattr(self, "file") and not self.file.closed:
            self.discard()


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(temporary path), fsync what it wrote, then rename it over `path`."""
    tmp = temporary_name(path)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when the write failed


def write_text_atomic(path: Path, text: str) -> None:
    with AtomicFile(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_json_atomic(path: Path, data: dict) -> None:
    """`data` as indented JSON ending in a newline: the form of every JSON file the tools write."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_csv_atomic(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    """Rows (dicts keyed by `columns`) as a CSV with a header, UTF-8."""
    with AtomicFile(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
