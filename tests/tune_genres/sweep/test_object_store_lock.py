"""The experiment lock on an object store (a real S3-compatible server: tests/support/s3_server.py):
a live driver's heartbeat keeps a second one out, naming it; a dead one's lock goes stale and is
taken over, saying so; two drivers racing for it leave one holder; a driver whose lock was taken
says so. Heartbeats of a fraction of a second keep these tests to seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dataset_builder.errors import BadInput
from support.processes import killed_at_exit, wait_for
from tune_genres.results.location import ExperimentLocation
from tune_genres.sweep.experiment_lock import LOCK_FILE, STALE_AFTER, TIME_RESOLUTION_S, experiment_lock

HEARTBEAT_S = 0.3
CONFIRM_S = 0.3
STALE_S = STALE_AFTER * HEARTBEAT_S + TIME_RESOLUTION_S

# A driver holding the lock of the experiment at argv[1] until killed (or, when argv[2] is a time,
# one that starts taking it then and reports whether it won).
DRIVER = f"""
import sys, time
from dataset_builder.errors import BadInput
from tune_genres.sweep.experiment_lock import experiment_lock
if len(sys.argv) > 2:
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
try:
    with experiment_lock(sys.argv[1], heartbeat_s={HEARTBEAT_S}, confirm_s=float(sys.argv[3]) if len(sys.argv) > 3 else {CONFIRM_S}):
        print("held", flush=True)
        time.sleep(60 if len(sys.argv) == 2 else 2.0)
except BadInput as e:
    print("refused:", e, flush=True)
"""


def start_driver(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_a_live_drivers_lock_refuses_a_second_and_a_dead_ones_is_taken_over(s3):
    where = s3.uri("exp")
    holder = start_driver(where)
    with killed_at_exit(holder):
        assert holder.stdout.readline().strip() == "held"
        time.sleep(STALE_S + 0.5)  # longer than a lock lives unrefreshed: only the heartbeat keeps it
        with pytest.raises(BadInput) as refused:
            with experiment_lock(where, heartbeat_s=HEARTBEAT_S, confirm_s=CONFIRM_S):
                pytest.fail("two drivers held one experiment")
        message = str(refused.value)
        assert message.startswith(f"{where}: another sweep is running on this experiment (pid {holder.pid} on host ")
        assert "\n" not in message and s3.server.secret not in message
        holder.send_signal(signal.SIGKILL)  # no release: its lock object stays, its heartbeat stops
        holder.wait()

    notes = []

    def take_over():
        try:
            with experiment_lock(where, notify=notes.append, heartbeat_s=HEARTBEAT_S, confirm_s=CONFIRM_S) as held:
                record = json.loads(ExperimentLocation(where).read_bytes(LOCK_FILE))
                assert record["pid"] == os.getpid() and not held.lost.is_set()
            return True
        except BadInput as e:
            assert "another sweep is running" in str(e)  # still fresh: not yet
            return False

    # Its process is gone from this host: taken over at once, its heartbeat's age notwithstanding.
    started = time.monotonic()
    assert take_over()
    assert time.monotonic() - started < CONFIRM_S + 2
    assert len(notes) == 1 and notes[0].startswith(f"note: {where}: took over the lock of a driver that is no longer "
                                                   f"running (pid {holder.pid} on host ")
    assert LOCK_FILE not in ExperimentLocation(where).list()  # released: deleted


def test_another_hosts_lock_is_taken_over_once_its_heartbeat_stops(s3):
    where = ExperimentLocation(s3.uri("exp"))
    where.write_json(LOCK_FILE, {"host": "node9", "pid": 4242, "since": "2026-12-05 10:00:00 UTC", "token": "theirs",
                                 "heartbeat_s": HEARTBEAT_S, "heartbeat": time.time()})
    with pytest.raises(BadInput, match=r"another sweep is running on this experiment \(pid 4242 on host node9"):
        with experiment_lock(where, heartbeat_s=HEARTBEAT_S, confirm_s=CONFIRM_S):
            pass  # fresh: node9's driver may well be running
    time.sleep(STALE_S + 0.5)
    notes = []
    with experiment_lock(where, notify=notes.append, heartbeat_s=HEARTBEAT_S, confirm_s=CONFIRM_S):
        pass
    assert len(notes) == 1 and "took over the lock of a driver that is no longer running (pid 4242 on host node9" in notes[0]


def test_two_drivers_starting_at_once_leave_one_holder(s3):
    where = s3.uri("exp")
    at = f"{time.time() + 2.5:.3f}"  # after both have started Python and imported the lock
    drivers = [start_driver(where, at, "1.0"), start_driver(where, at, "1.0")]
    with killed_at_exit(*drivers):
        outcomes = [d.communicate(timeout=30)[0].strip() for d in drivers]
    assert sorted(o.split(":")[0] for o in outcomes) == ["held", "refused"], outcomes
    assert not any(s3.server.secret in o for o in outcomes)


def test_the_stores_clock_judges_a_heartbeat_not_the_holders(s3):
    where = ExperimentLocation(s3.uri("exp"))
    # A holder whose clock is an hour behind, its lock refreshed just now.
    where.write_json(LOCK_FILE, {"host": "laptop", "pid": 77, "since": "2026-12-05 09:00:00 UTC", "token": "theirs",
                                 "heartbeat_s": HEARTBEAT_S, "heartbeat": time.time() - 3600})
    with pytest.raises(BadInput, match=r"\(pid 77 on host laptop since 2026-12-05 09:00:00 UTC; its heartbeat 0 s ago\)"):
        with experiment_lock(where, heartbeat_s=HEARTBEAT_S, confirm_s=CONFIRM_S):
            pass


def test_a_driver_whose_lock_was_taken_says_so_and_leaves_the_new_holders(s3):
    where = ExperimentLocation(s3.uri("exp"))
    notes = []
    with experiment_lock(where, notify=notes.append, heartbeat_s=HEARTBEAT_S, confirm_s=CONFIRM_S) as held:
        theirs = {"host": "node9", "pid": 4242, "since": "2026-12-05 10:00:00 UTC", "token": "theirs",
                  "heartbeat_s": HEARTBEAT_S, "heartbeat": time.time()}
        where.write_json(LOCK_FILE, theirs)  # what a driver that found ours stale would have written
        assert held.lost.wait(HEARTBEAT_S * 5)
    assert len(notes) == 1 and "this driver lost the experiment's lock (holder now: pid 4242 on host node9" in notes[0]
    assert where.read_json(LOCK_FILE, "") == theirs  # theirs stays


def test_a_local_location_takes_the_flock(tmp_path):
    with experiment_lock(ExperimentLocation(tmp_path)) as held:
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid() and not held.lost.is_set()
