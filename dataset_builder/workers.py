"""Process pools for the builder's CPU work (decoding, resizing, drawing posters).

Forked where the platform can fork: workers inherit the imports and need nothing pickled but
their arguments. Each worker ends when its parent does: a parent killed with SIGKILL never shuts
its pool down, and a forked worker holds both ends of its own task queue, so it would otherwise
wait for work forever.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

# How often a worker checks that its parent still lives: the longest an orphan outlives it.
ORPHAN_CHECK_S = 0.5


def process_pool(workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool of `workers` processes, each running `initializer(*initargs)` once as it starts."""
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def _start_worker(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="exit-when-orphaned", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(1)
