"""One driver per experiment: a lock in the experiment folder, `.driver.lock`, held while a sweep runs.

Two drivers on one experiment (a `--resume` while the sweep still runs, two sweeps of the same
--name) both restore and rewrite Tune's state and each other's trials, and the experiment is lost
for good. `experiment_lock(where)` takes the lock that suits where the experiment lives; both
kinds hold who took it (host, pid, since), for the refusal's message and for the note that a new
driver took over from a dead one.

On a disk (local, NFS, EFS): `fcntl.flock` on the file. The kernel drops it when its driver dies, by
any signal, SIGKILL included, so a dead driver's lock is never mistaken for a live one. flock works
on local disks and on NFS (Linux maps it to NFS byte-range locks).

On an object store (s3://, gs://): nothing is dropped when a driver dies, so the lock object is
kept alive by a heartbeat. The holder rewrites it every `heartbeat_s` seconds (a daemon thread);
another driver refuses while it is fresh, and takes over, saying so, once it has not been refreshed
for STALE_AFTER heartbeats (plus a second: object stores give times to the second), or at once
when it was taken on this host by a process that is gone. Freshness
is judged by the store's clock, not this machine's: the lock object's modification time against
that of a probe object written just then, so two machines whose clocks disagree do not take a
live lock from each other. (Where a store gives no times, the record's heartbeat is compared with
this machine's clock.)

pyarrow offers no create-if-absent on an object store, so taking the lock is: read it (absent or
stale), write ours, wait `confirm_s`, read it back; only the driver whose record is there then
holds it (S3 reads are strongly consistent: both racers read the last write). The race that
remains: a driver whose read and write are further apart than `confirm_s` (a stall of seconds
between them) can write over a lock another driver confirmed meanwhile. Both then believe they
hold it until the next heartbeat, when the one overwritten finds another's record, sets `lost`
and says so loudly; it does not stop its sweep by itself. (S3's conditional writes, If-None-Match,
would close this; pyarrow does not expose them.) The heartbeat's read-then-rewrite has the same
window, only against a driver that took over a lock it found stale.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dataset_builder.destination import pid_alive
from dataset_builder.errors import BadInput

from ..results.location import ExperimentLocation, first_line, location

LOCK_FILE = ".driver.lock"
# The object-store lock: the holder refreshes it this often (seconds) ...
HEARTBEAT_S = 10.0
# ... and another driver takes it over once it is this many heartbeats old.
STALE_AFTER = 3
# Object stores give modification times to the second: a lock is stale only this much past STALE_AFTER.
TIME_RESOLUTION_S = 1.0
# How long a driver waits after writing the lock before reading it back to see whether it won.
CONFIRM_S = 2.0
RETRY_HINT = "wait for it to end, or stop it (Ctrl-C), then run the command again (with --resume to finish it)"


@dataclass
class HeldLock:
    """What `experiment_lock` yields: `lost` is set if another driver's record replaced ours (object
    stores only: see the module's docstring); the driver may check it before writing its results."""

    where: str
    lost: threading.Event = field(default_factory=threading.Event)


def died_here(record: dict | None) -> bool:
    """A lock taken on this host by a process that no longer runs: stale at once, whatever its
    heartbeat's age (a driver killed here is resumed here, most often, right after)."""
    if not record or record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    return not pid_alive(record["pid"])


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
def experiment_lock(exp_dir: Path | str | ExperimentLocation, notify=print, heartbeat_s: float = HEARTBEAT_S,
                    confirm_s: float = CONFIRM_S):
    """Hold the experiment's lock for the block; refuse (BadInput) while another driver holds it.
    Yields a HeldLock.

    `notify` gets one line when the lock of a driver that died without releasing it is taken over
    (and, on an object store, when this driver's lock was taken from it). `heartbeat_s` and
    `confirm_s` apply to object stores only."""
    where = location(exp_dir)
    if where.is_local:
        with file_lock(where.local_path, notify) as held:
            yield held
    else:
        lock = ObjectStoreLock(where, notify, heartbeat_s, confirm_s)
        lock.acquire()
        try:
            yield lock.held
        finally:
            lock.release()


@contextmanager
def file_lock(exp_dir: Path, notify):
    path = exp_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(os.pread(fd, 4096, 0).decode(errors="replace"))
            raise BadInput(f"{exp_dir}: another sweep is running on this experiment ({holder}); {RETRY_HINT}") from None
        left = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if left:  # a driver that died (killed, crashed) released its lock only through the kernel
            notify(f"note: {exp_dir}: took over the lock of a driver that is no longer running ({describe_holder(left)})")
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder_record()) + "\n").encode(), 0)
        try:
            yield HeldLock(str(exp_dir))
        finally:
            os.ftruncate(fd, 0)  # an empty lock file: released in good order
    finally:
        os.close(fd)  # closing the descriptor releases the flock


class ObjectStoreLock:
    """The lock object of an experiment on an object store, with its heartbeat (module docstring)."""

    def __init__(self, exp_dir: ExperimentLocation, notify=print, heartbeat_s: float = HEARTBEAT_S,
                 confirm_s: float = CONFIRM_S):
        self.folder = exp_dir
        self.object = exp_dir.join(LOCK_FILE)
        self.notify = notify
        self.heartbeat_s = heartbeat_s
        self.confirm_s = confirm_s
        self.token = uuid.uuid4().hex
        self.record = {**holder_record(), "token": self.token, "heartbeat_s": heartbeat_s, "beat": 0}
        self.held = HeldLock(str(exp_dir))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stale_after_s(self) -> float:
        return STALE_AFTER * self.heartbeat_s + TIME_RESOLUTION_S

    # -- reading the lock object -----------------------------------------------------------------

    def read(self) -> tuple[str, dict | None, float | None] | None:
        """(text, record or None if unreadable, modification time or None), or None: no lock object."""
        fs, path = self.object.filesystem()
        try:
            info = fs.get_file_info(path)
            if info.type.name != "File":
                return None
            with fs.open_input_stream(path) as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return None  # released between the two requests
        except OSError as e:
            raise BadInput(f"{self.object}: cannot read the experiment's lock ({first_line(e)})") from None
        try:
            record = json.loads(text)
            record = record if isinstance(record, dict) else None
        except ValueError:
            record = None
        return text, record, info.mtime.timestamp() if info.mtime is not None else None

    def store_now(self) -> float | None:
        """The object store's time now: the modification time of a probe object written for it."""
        probe = self.folder.join(f"{LOCK_FILE}.clock-{self.token}")
        try:
            probe.write_bytes("", b"")
            fs, path = probe.filesystem()
            mtime = fs.get_file_info(path).mtime
            probe.delete()
        except OSError:
            return None
        return mtime.timestamp() if mtime is not None else None

    def age(self, record: dict | None, mtime: float | None) -> float | None:
        """Seconds since the lock was last refreshed (None: no way to tell)."""
        if mtime is not None:
            now = self.store_now()
            if now is not None:
                return max(0.0, now - mtime)
        if record is not None and isinstance(record.get("heartbeat"), (int, float)):
            return max(0.0, time.time() - record["heartbeat"])  # this machine's clock against the holder's
        return None

    # -- taking, keeping and giving back ---------------------------------------------------------

    def acquire(self) -> None:
        found = self.read()
        takeover = None
        if found is not None:
            text, record, mtime = found
            holder = describe_holder(text)
            beat = float(record.get("heartbeat_s", self.heartbeat_s)) if record else self.heartbeat_s
            stale_after = STALE_AFTER * beat + TIME_RESOLUTION_S
            age = self.age(record, mtime)
            if age is not None and age < stale_after and not died_here(record):
                raise BadInput(
                    f"{self.folder}: another sweep is running on this experiment ({holder}; its heartbeat "
                    f"{age:.0f} s ago); {RETRY_HINT}; a driver that died without a word leaves its lock stale "
                    f"{stale_after:.0f} s after its last heartbeat")
            since = f"its last heartbeat {age:.0f} s ago" if age is not None else "its age unknown"
            takeover = (f"note: {self.folder}: took over the lock of a driver that is no longer running "
                        f"({holder}; {since})")
        self.write()
        time.sleep(self.confirm_s)
        back = self.read()
        if back is None or back[1] is None or back[1].get("token") != self.token:
            holder = describe_holder(back[0]) if back is not None else "a driver that released it at once"
            raise BadInput(f"{self.folder}: another driver took this experiment's lock at the same moment ({holder}); "
                           f"{RETRY_HINT}")
        if takeover:
            self.notify(takeover)
        self._thread = threading.Thread(target=self._heartbeat, name="experiment-lock-heartbeat", daemon=True)
        self._thread.start()

    def write(self) -> None:
        self.record["heartbeat"] = time.time()
        self.record["heartbeat_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.record["heartbeat"]))
        self.object.write_text("", json.dumps(self.record) + "\n")

    def _heartbeat(self) -> None:
        failing = False
        while not self._stop.wait(self.heartbeat_s):
            try:
                found = self.read()
                if found is None or found[1] is None or found[1].get("token") != self.token:
                    holder = describe_holder(found[0]) if found is not None else "none: its lock object is gone"
                    self.held.lost.set()
                    self.notify(f"warning: {self.folder}: this driver lost the experiment's lock (holder now: {holder}); "
                                "another driver may be writing this experiment: stop one of them")
                    return
                self.record["beat"] += 1
                self.write()
                failing = False
            except (OSError, BadInput) as e:
                if not failing:  # once per streak: a store that stays away lets the lock go stale
                    self.notify(f"warning: {self.folder}: cannot refresh the experiment's lock ({e}); trying again "
                                f"every {self.heartbeat_s:g} s")
                failing = True

    def release(self) -> None:
        """Stop the heartbeat and delete the lock object, if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.held.lost.is_set():
            return
        try:
            found = self.read()
            if found is not None and found[1] is not None and found[1].get("token") == self.token:
                self.object.delete()
        except (OSError, BadInput) as e:
            self.notify(f"warning: {self.folder}: cannot remove the experiment's lock ({e}); the next driver "
                        f"takes it over {self.stale_after_s:.0f} s from now")
