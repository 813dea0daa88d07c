"""The checkpoint that evaluate and predict score, wherever its trial lives.

    TRIAL                       its latest checkpoint_NNNNNN (which holds the best epoch's weights too)
    TRIAL/checkpoint_NNNNNN     that checkpoint
    .../checkpoint.pt           the file itself

each a local path (read in place, as training/checkpoint.py reads it) or a URI such as
s3://bucket/prefix/EXP/TRIAL (results/location.py). torch.load reads local files only: a remote
checkpoint's folder is downloaded into a temporary folder, loaded, and the copy deleted. Every
message names the checkpoint as given (a path) or by its URI (no secret in it), never the copy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dataset_builder.errors import BadInput

from ..training.checkpoint import CHECKPOINT_FILE, NO_CHECKPOINT, checkpoint_path, load_model
from .location import ExperimentLocation, Where, exist_all, location


@dataclass(frozen=True)
class FoundCheckpoint:
    """A checkpoint.pt: `file` is where it is, and names it in every message. `copied`, for one in an
    object store: what is downloaded to read it (its checkpoint folder, or the file alone)."""

    file: Path | ExperimentLocation
    copied: ExperimentLocation | None = None

    def __str__(self) -> str:
        return str(self.file)


def find_checkpoint(where: Where) -> FoundCheckpoint:
    """The checkpoint.pt that `where` names (see the module's docstring); BadInput when there is none."""
    at = location(where)
    if at.is_local:
        # The path as given, not made absolute: local messages read as they always have.
        return FoundCheckpoint(checkpoint_path(at.local_path if isinstance(where, ExperimentLocation) else where))
    return remote_checkpoint(at)


def remote_checkpoint(at: ExperimentLocation) -> FoundCheckpoint:
    """The checkpoint file in an object store: the file, a checkpoint folder's, or a trial folder's
    latest (Ray's zero-padded checkpoint_NNNNNN: the last name is the latest)."""
    if at.is_file():
        return FoundCheckpoint(at, at)
    if at.is_file(CHECKPOINT_FILE):
        return FoundCheckpoint(at.join(CHECKPOINT_FILE), at)
    folders = at.folders("checkpoint_*")  # in name order
    saved = [folder for folder, there in zip(folders, exist_all([f.join(CHECKPOINT_FILE) for f in folders])) if there]
    if not saved:
        raise BadInput(f"{at}: {NO_CHECKPOINT}")
    return FoundCheckpoint(saved[-1].join(CHECKPOINT_FILE), saved[-1])


@contextmanager
def on_this_machine(found: FoundCheckpoint) -> Iterator[Path]:
    """The checkpoint file's path on this machine: a local one as it is; a remote one in a temporary
    copy of what `copied` names, deleted when the block ends."""
    if found.copied is None:
        yield found.file
        return
    with tempfile.TemporaryDirectory(prefix="tune-genres-checkpoint-") as folder:
        copy = found.copied.download("", Path(folder) / found.copied.name)
        yield copy / CHECKPOINT_FILE if copy.is_dir() else copy


def load_found_model(found: FoundCheckpoint, device: torch.device | str = "cpu",
                     weights: str = "best") -> tuple[nn.Module, dict]:
    """training/checkpoint.py's load_model on the found checkpoint; a broken one is one line naming
    it where it is (its URI), not its temporary copy."""
    with on_this_machine(found) as path:
        try:
            return load_model(path, device, weights)
        except BadInput as e:
            raise BadInput(str(e).replace(str(path), str(found))) from None


def checkpoint_name(where: Where) -> str:
    """How output names a checkpoint as given: a path as pathlib writes it (not made absolute), a
    URI as results/location.py writes it (no secret in it)."""
    if isinstance(where, ExperimentLocation) or not location(where).is_local:
        return str(location(where))
    return str(Path(os.fspath(where)))
