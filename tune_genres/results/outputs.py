"""Where a command is asked to write: refused before any work when it cannot be written (a folder
where a file is wanted, a file where a folder is), and a write that fails on the way (a full disk,
a read-only folder) said in one line. Every file is written atomically (dataset_builder/atomic.py),
so a refused or failed write leaves nothing half-written behind.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

from dataset_builder.errors import BadInput

from .location import location


def check_output_file(path: Path, flag: str) -> None:
    """`flag PATH` names a file to write: refuse a folder there, or a file where a folder above it should be."""
    if path.is_dir():
        raise BadInput(f"{flag} {path}: is a folder; name a file to write, such as {path / 'result.json'}")
    _check_folder_can_hold(path, flag)


def check_output_folder(path: Path, flag: str, subfolders: Sequence[str] = (), files: Sequence[str] = ()) -> None:
    """`flag DIR` names a folder to write into (created when missing): refuse a file where it, a
    folder above it or one of its `subfolders` should be, and a folder where one of its `files` should be."""
    if path.exists() and not path.is_dir():
        raise BadInput(f"{flag} {path}: is a file; name a folder to write into (it is created when missing)")
    _check_folder_can_hold(path, flag)
    for name in subfolders:
        if (path / name).exists() and not (path / name).is_dir():
            raise BadInput(f"{flag} {path}: {path / name} is a file, where a folder of that name is to be written; "
                           "move it away or choose another folder")
    for name in files:
        if (path / name).is_dir():
            raise BadInput(f"{flag} {path}: {path / name} is a folder, where a file of that name is to be written; "
                           "move it away or choose another folder")


def _check_folder_can_hold(path: Path, flag: str) -> None:
    """The nearest existing folder above `path` must be a folder this process may write in."""
    above = path.parent
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise BadInput(f"{flag} {path}: {above} is a file, not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise BadInput(f"{flag} {path}: cannot write in {above} (no permission)")


def report_write_failure(write_report):
    """An OSError while write_report(exp_dir, ...) writes into exp_dir (the disk filled, the folder
    is read-only, the bucket refused) -> one BadInput line. Each file goes in whole or not at all, so
    the experiment and the report files already written stand. (Its reads fail as BadInput of their
    own before this.)"""

    @functools.wraps(write_report)
    def writing(exp_dir, *args, **kwargs):
        try:
            return write_report(exp_dir, *args, **kwargs)
        except OSError as e:
            exp = location(exp_dir)  # as the report names it: a path, or the URI without secrets
            raise BadInput(f"{exp}: cannot write the report there ({e.strerror or e}); the experiment is intact: "
                           f"make room (or make it writable), then run `tune-genres report {exp}`") from None

    return writing
