"""The environment a trial's process runs in: how its OpenMP threads wait, how it allocates memory,
and how it reaches the experiment's object store.

They must be in place when the process starts (glibc reads GLIBC_TUNABLES as the program loads),
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

- The AWS SDKs' variables the driver has, so that a trial on any node writes its checkpoints to
  the bucket the driver reads, as the driver reaches it (pyarrow's S3 client in the trial's
  process reads them). The endpoint and region (STORAGE_VARIABLES) go with the env_vars above. The
  credentials (CREDENTIAL_VARIABLES) do not: Ray's runtime-env agent logs a job's env_vars whole,
  at INFO, in every node's session logs (runtime_env_agent.log: "Creating runtime env: {...}",
  seen with Ray 2.60), so a secret there is a secret on every node's disk. They go in a
  `worker_process_setup_hook` instead (trial_runtime_env): a function Ray pickles into its GCS and
  runs as each worker process starts, which sets them in that process's environment; Ray logs
  only the function's key. tests/tune_genres/sweep/test_worker_env.py scans a real Ray's logs and
  output for the secret. A node's own credentials (an instance role) serve where the driver has
  none; a session token the driver passes expires there as it would for the driver.

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
# What leads a trial's process to the experiment's object store, passed on where the driver has them:
# where the store is (in the env_vars, which Ray logs), and the credentials (never in them).
STORAGE_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION")
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def merged_tunables(existing: str) -> str:
    """GLIBC_TUNABLES with our malloc settings added where `existing` does not set them."""
    present = {item.split("=", 1)[0] for item in existing.split(":") if item}
    ours = [f"glibc.malloc.{key}={value}" for key, value in GLIBC_MALLOC.items() if f"glibc.malloc.{key}" not in present]
    return ":".join([existing, *ours] if existing else ours)


def trial_env(environ: os._Environ | dict | None = None) -> dict[str, str]:
    """The variables a trial process should start with, the user's own values kept, and where the
    driver's object store is (STORAGE_VARIABLES). No credentials: see trial_runtime_env."""
    environ = os.environ if environ is None else environ
    return {
        "OMP_WAIT_POLICY": environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "GLIBC_TUNABLES": merged_tunables(environ.get("GLIBC_TUNABLES", "")),
        **{name: environ[name] for name in STORAGE_VARIABLES if environ.get(name)},
    }


def trial_credentials(environ: os._Environ | dict | None = None) -> dict[str, str]:
    """The driver's AWS credentials (CREDENTIAL_VARIABLES that are set). Secrets: never print them."""
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in CREDENTIAL_VARIABLES if environ.get(name)}


def trial_runtime_env(environ: os._Environ | dict | None = None) -> dict:
    """The job's runtime_env for Ray: trial_env() as env_vars, and the driver's AWS credentials set
    by a worker_process_setup_hook as each worker process starts (never in env_vars, which Ray
    logs); without credentials, no hook, and a node's own role or profile serves."""
    runtime_env = {"env_vars": trial_env(environ)}
    credentials = trial_credentials(environ)
    if credentials:
        def set_storage_credentials():  # runs in each worker process as it starts
            os.environ.update(credentials)

        runtime_env["worker_process_setup_hook"] = set_storage_credentials
    return runtime_env


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
