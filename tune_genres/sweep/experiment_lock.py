"""One driver per experiment: a lock file in the experiment folder, held while a sweep runs.

Two drivers on one experiment (a `--resume` while the sweep still runs, two sweeps of the same
--name) both restore and rewrite Tune's state and each other's trials, and the experiment is lost
for good. The lock is `fcntl.flock` on `.driver.lock`: the kernel drops it when its driver dies, by
any signal, SIGKILL included, so a dead driver's lock is never mistaken for a live one. The file
also holds who took it (host, pid, since), for the refusal's message and for the note that a new
driver took over from a dead one. flock works on local disks and on NFS (Linux maps it to NFS
byte-range locks); object storage (s3://) has no lock: see `unlocked_storage_note`.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from dataset_builder.errors import BadInput

LOCK_FILE = ".driver.lock"


def holder_record() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())}


def describe_holder(text: str) -> str:
    """'pid 123 on host h since 2026-12-05 10:31:07 UTC' from a lock file's content."""
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on host {holder['host']} since {holder['since']}"
    except (ValueError, KeyError, TypeError):
        return "a driver that left no record of itself"


@contextmanager
def experiment_lock(exp_dir: Path, notify=print):
    """Hold `exp_dir`'s lock for the block; refuse (BadInput) while another driver holds it.

    `notify` gets one line when the lock of a driver that died without releasing it is taken over."""
    path = exp_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(os.pread(fd, 4096, 0).decode(errors="replace"))
            raise BadInput(f"{exp_dir}: another sweep is running on this experiment ({holder}); wait for it to "
                           f"end, or stop it (Ctrl-C), then run the command again (with --resume to finish it)") from None
        left = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if left:  # a driver that died (killed, crashed) released its lock only through the kernel
            notify(f"note: {exp_dir}: took over the lock of a driver that is no longer running ({describe_holder(left)})")
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder_record()) + "\n").encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # an empty lock file: released in good order
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def unlocked_storage_note(exp_dir: str) -> str:
    return (f"note: {exp_dir} is on object storage, where tune-genres has no experiment lock yet: "
            "never run two drivers (a sweep and its --resume) on it at once")
