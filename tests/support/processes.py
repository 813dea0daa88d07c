"""Processes under test: polling with a deadline, drivers that must not outlive a test, and the
children a process leaves behind (read from /proc: Linux)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def while_running(process: subprocess.Popen, condition: Callable[[], T]) -> Callable[[], T]:
    """`condition` for wait_for, failing at once (with the driver's output) if the driver ended."""
    def check():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the driver ended (exit {process.returncode}) first:\n{output[-3000:]}")
        return condition()
    return check


@contextmanager
def killed_at_exit(*processes: subprocess.Popen) -> Iterator[None]:
    """Kill whichever of `processes` still runs when the block ends: a test that failed, or a
    driver that hung past its timeout, leaves none behind."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


def interruptible() -> None:
    """Popen's preexec_fn for a process the test stops with SIGINT: Ctrl-C's default handling.
    A shell script's background job (`pytest ... &`) ignores SIGINT, and so would every process
    it starts, so a test run that way would see its SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`, now."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def is_alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
