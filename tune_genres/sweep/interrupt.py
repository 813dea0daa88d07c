"""Ctrl-C (or SIGTERM) during a sweep: stop in good order, and remember that it happened.

Tune's own SIGINT handler stops the run and saves its state, but `fit()` then returns as if the
sweep had ended, so the driver could not tell an interrupted sweep from a finished one (and
exited 0). Here Tune's handler is left off (TUNE_DISABLE_SIGINT_HANDLER, set by the driver) and
ours asks Tune for the same graceful stop through SIGUSR1, which Tune always handles, and records
it. A second Ctrl-C stops at once (KeyboardInterrupt), as a user pressing it twice expects.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager


class SweepInterrupted(KeyboardInterrupt):
    """The sweep stopped on Ctrl-C or SIGTERM with its state saved; the message says how to go on."""


class StopRequest:
    """Whether a stop was asked for (`asked`), and whether Tune runs yet (`tune_running`): a Ctrl-C
    that comes before Tune (while Ray starts, or the trials' inputs go to the object store) is kept
    here, and the driver then does not start Tune at all. (Raised as a KeyboardInterrupt wherever
    the driver was, Ray's start included, one was seen not to stop the sweep: it ran to its end.)"""

    def __init__(self):
        self.asked = threading.Event()
        self.tune_running = threading.Event()

    def is_set(self) -> bool:
        return self.asked.is_set()


@contextmanager
def graceful_interrupt():
    """Yields a StopRequest, set once a stop was asked for inside the block."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signals reach only the main thread: nothing to catch here
        return

    def stop(signum, frame):
        if request.asked.is_set():
            raise KeyboardInterrupt
        request.asked.set()
        if request.tune_running.is_set():
            os.kill(os.getpid(), signal.SIGUSR1)  # Tune's graceful stop: save the state, end the trials

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
