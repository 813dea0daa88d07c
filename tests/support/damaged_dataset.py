"""Damage a built dataset the way a hand edit would, sha256s rewritten to match.

A damage made this way passes every sha256 check, so only open_dataset's checks of what the
arrays mean can catch it: a test that uses these proves those checks, not the hashes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dataset_builder import store


def rewrite_sha256s(folder: Path) -> None:
    """Re-hash every array into the manifest, as a user covering their tracks would."""
    manifest = json.loads((folder / store.MANIFEST).read_text())
    del manifest["sha256"], manifest["format_version"]
    store.write_manifest(folder, manifest)


def edit_array(folder: Path, name: str, change: Callable[[np.ndarray], np.ndarray | None]) -> None:
    """Load `name`, let `change` edit it in place (or return a replacement), save it, re-hash."""
    array = np.load(folder / name)
    changed = change(array)
    np.save(folder / name, array if changed is None else changed)
    rewrite_sha256s(folder)


def edit_bytes(folder: Path, name: str, change: Callable[[bytes], bytes]) -> None:
    """Replace a file's bytes with change(bytes) (a cut, a scribbled header), then re-hash."""
    path = folder / name
    path.write_bytes(change(path.read_bytes()))
    rewrite_sha256s(folder)


def edit_manifest(folder: Path, change: Callable[[dict], None]) -> None:
    """Let `change` edit the manifest in place; written back as is (the arrays' sha256s still hold)."""
    path = folder / store.MANIFEST
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def leak_training_rows_into_test(folder: Path, count: int | None = None) -> None:
    """The first `count` (default: all) test rows replaced by training rows, sha256s rewritten."""
    train = np.load(folder / store.split_file("train"))

    def leak(test: np.ndarray) -> None:
        k = len(test) if count is None else count
        test[:k] = train[:k]

    edit_array(folder, store.split_file("test"), leak)
