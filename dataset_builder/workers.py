"""Parallel work: `--workers`, the same on every command, and process pools for CPU work.

`--workers N` is how many posters are worked on at once, everywhere. Decoding, resizing and
drawing posters is CPU work: one process per worker, every core by default. Downloading mostly
waits on the network: one thread per worker, DOWNLOAD_WORKERS by default whatever the cores.

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
from argparse import ArgumentParser, _ArgumentGroup
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from .errors import BadInput

# How often a worker checks that its parent still lives: the longest an orphan outlives it.
ORPHAN_CHECK_S = 0.5
# Posters downloaded at once by default: a download mostly waits, so many, whatever the cores.
DOWNLOAD_WORKERS = 32


def every_core() -> int:
    """The cores this process may run on (its CPU affinity, which a container or taskset limits)."""
    return len(os.sched_getaffinity(0))


def cpu_workers_help(work: str) -> str:
    """--workers' help for CPU work, e.g. cpu_workers_help("decoded and resized")."""
    return f"posters {work} at once, one process each (default: every core, {every_core()} here)"


def download_workers_help() -> str:
    return f"posters downloaded at once, one thread each (default {DOWNLOAD_WORKERS}: a download mostly waits on the network)"


def add_workers_argument(parser: ArgumentParser | _ArgumentGroup, help: str) -> None:
    """--workers N; None when not given, so the command picks the default for its kind of work."""
    parser.add_argument("--workers", type=int, default=None, metavar="N", help=help)


def check_workers(workers: int | None) -> None:
    """--workers, refused the same way by every command, before any work."""
    if workers is not None and workers < 1:
        raise BadInput(f"--workers {workers}: expected at least 1")


def cpu_workers(workers: int | None) -> int:
    """How many processes for CPU work: `workers` when given (checked), else every core."""
    check_workers(workers)
    return workers or every_core()


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
