"""Shuts down the local Ray a sweep started, once its driver is gone, however it went.

Ray ties its head processes (GCS, raylet) to the driver that started them, but the raylet's own
children (the dashboard and runtime-env agents) outlive a driver killed with SIGKILL or by the
OOM killer, and stay running for good. The driver starts this watcher beside its local Ray; it
waits for the driver to exit, then ends every process still holding a file in that Ray's session
folder. (A driver that exits in good order shut its Ray down already: the watcher finds nothing.)

A standalone script on purpose: the standard library only, so it costs a few MB, not an import of Ray.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5  # how soon after the driver's death its Ray goes
GRACE_S = 3.0  # how long the processes get to exit on SIGTERM before SIGKILL


def start_reaper(session_dir: str) -> None:
    """Watch this process; when it exits, end what is left of the Ray session at `session_dir`."""
    subprocess.Popen([sys.executable, os.path.abspath(__file__), str(os.getpid()), session_dir],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)  # Ctrl-C on the driver's terminal must not reach it


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def session_processes(session_dir: str) -> list[int]:
    """Processes (not this one) holding an open file under `session_dir`: that Ray's processes."""
    prefix = session_dir.rstrip("/") + "/"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}").startswith(prefix) for fd in fds):
                found.append(int(entry))
        except OSError:
            continue  # gone meanwhile, or not ours to look at
    return found


def end_session(session_dir: str) -> list[int]:
    pids = session_processes(session_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + GRACE_S
        while (pids := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
    return pids


def main(driver_pid: int, session_dir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while alive(driver_pid) and os.getppid() == driver_pid:
        time.sleep(POLL_S)
    end_session(session_dir)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
