"""The environment a trial's process runs in: how its OpenMP threads wait and how it allocates memory.

Both must be in place when the process starts (glibc reads GLIBC_TUNABLES as the program loads),
so the driver hands them to Ray as the job's runtime_env env_vars (cluster.connect), and the
benchmarks re-run themselves under them (rerun_under_trial_env). Settings the user exported win.

- OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep rather than spin. When a node's cores are
  busier than Ray knows, spinning threads of a 2-CPU trial made it up to 10x slower.
- glibc malloc keeps freed memory in the process instead of handing it back to the kernel. A
  training step allocates and frees the same large buffers every time (the first conv's output,
  the max-pool's indices and gradients: ~100 MB each at 182x268, batch 32); glibc maps every
  buffer over 32 MB afresh and unmaps it on free, and threads' arenas give theirs back too, so
  each step page-faulted and zeroed them again: on 2 cores that was about half of a step at
  100% (benchmarks/README.md). mmap_max=0 serves them from the heap, arena_max=1 puts the
  training thread (Ray runs trials in a thread) on the heap that keeps them, and trim_threshold
  stops it from shrinking. train_trial gives the memory back when a trial ends (release_freed_memory).

Not set: torch's THP_MEM_ALLOC_ENABLE (huge pages for its large buffers). Alone it gained less than
the malloc settings; with them, allocating and zeroing a 98 MB buffer in a loop took 107 ms
instead of 2.4 ms, and a profiled fp32 step at 182x268 spent 36% in zero-fills.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

GLIBC_MALLOC = {"mmap_max": "0", "arena_max": "1", "trim_threshold": str(2**31 - 1)}


def merged_tunables(existing: str) -> str:
    """GLIBC_TUNABLES with our malloc settings added where `existing` does not set them."""
    present = {item.split("=", 1)[0] for item in existing.split(":") if item}
    ours = [f"glibc.malloc.{key}={value}" for key, value in GLIBC_MALLOC.items() if f"glibc.malloc.{key}" not in present]
    return ":".join([existing, *ours] if existing else ours)


def trial_env(environ: os._Environ | dict | None = None) -> dict[str, str]:
    """The variables a trial process should start with, the user's own values kept."""
    environ = os.environ if environ is None else environ
    return {
        "OMP_WAIT_POLICY": environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "GLIBC_TUNABLES": merged_tunables(environ.get("GLIBC_TUNABLES", "")),
    }


def rerun_under_trial_env() -> None:
    """Start this script again under trial_env(), once: for benchmarks that must train as a trial does."""
    wanted = trial_env()
    if all(os.environ.get(key) == value for key, value in wanted.items()):
        return
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **wanted})


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The C library, loaded once per process (finding it runs ldconfig)."""
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def release_freed_memory() -> None:
    """Hand the heap's free memory back to the kernel (glibc's malloc_trim); elsewhere a no-op."""
    trim = getattr(libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)
