"""Experiment storage as Ray Tune is handed it: atomic writes on a local or shared path
(results/atomic_filesystem.py: each file to a temporary name, then renamed over the old one), an
object store's own filesystem for a URI (objects are replaced whole already).

AtomicWrites lives on the results floor now (readers use it through ExperimentLocation); its
name stays importable from here, where experiments started before the move pickled it (Tune keeps
the storage filesystem in its saved state, and a --resume unpickles it).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from ..results.atomic_filesystem import TYPE_NAME, AtomicWrites

__all__ = ["TYPE_NAME", "AtomicWrites", "writes_in_place", "trial_folder"]


def writes_in_place(filesystem: pafs.FileSystem) -> bool:
    """Whether the experiment folder is a local path this process can write files into directly."""
    return filesystem.type_name in ("local", f"py::{TYPE_NAME}")


def trial_folder(trial) -> Path:
    """Where the driver writes a trial's own files: its folder in the experiment when that is a
    local path, else the driver's staging copy, which Tune uploads to the URI."""
    return Path(trial.path if writes_in_place(trial.storage.storage_filesystem) else trial.local_path)
