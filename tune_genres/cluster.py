"""Joining Ray and checking that the experiment's storage can take the results."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from dataset_builder.errors import BadInput


def connect(address: str | None) -> None:
    """Join the cluster at `address` ('auto' or host:port), or start a local Ray on this machine."""
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(address=address, include_dashboard=False if address is None else None, log_to_driver=True)
    except ConnectionError as e:
        raise BadInput(f"--address {address}: no Ray cluster there ({str(e).splitlines()[0]})") from None


def check_storage(storage: str) -> None:
    """Storage must take a write now, not halfway through the sweep."""
    if "://" in storage:
        return  # remote URIs are checked by pyarrow when Tune opens them
    root = Path(storage)
    probe = root / f".write-probe-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"x" * 4096)
        probe.unlink()
    except OSError as e:
        raise BadInput(f"--storage {storage}: cannot write there ({e.strerror or e})") from None
    finally:
        if probe.exists():
            os.unlink(probe)
