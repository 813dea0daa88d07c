"""The trial processes' environment: what it holds, that Ray workers start with it, and what it buys.

The last is the point of it: a training step frees and allocates the same large buffers, and
under trial_env() glibc keeps them, so a buffer allocated again is not page-faulted in again.
"""

import json
import os
import subprocess
import sys
import tempfile

from tune_genres.sweep.worker_env import merged_tunables, trial_env

# Allocates, fills and frees a 64 MiB torch buffer 16 times in a thread (Ray runs a trial in a
# thread, whose arena glibc would otherwise give back), printing each round's minor page faults.
FAULTS_PER_ROUND = r"""
import json, resource, threading, torch
torch.set_num_threads(1)
faults = []
def rounds():
    for _ in range(16):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffer = torch.empty(64 * 2**20, dtype=torch.uint8)
        buffer.fill_(1)
        del buffer
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=rounds)
thread.start()
thread.join()
print(json.dumps(faults))
"""

PAGES_IN_BUFFER = 64 * 2**20 // os.sysconf("SC_PAGE_SIZE")


def test_users_own_settings_win():
    env = trial_env({"OMP_WAIT_POLICY": "ACTIVE", "GLIBC_TUNABLES": "glibc.malloc.arena_max=4"})
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=4:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647"
    # Merging twice adds nothing: a benchmark re-run under it does not re-run again.
    assert merged_tunables(env["GLIBC_TUNABLES"]) == env["GLIBC_TUNABLES"]


def faults_per_round(env: dict) -> list[int]:
    base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_ROUND], env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_freed_buffers_are_not_faulted_in_again():
    default = faults_per_round({})
    kept = faults_per_round(trial_env({}))
    # glibc's defaults hand a 64 MiB buffer back on free: every round faults all its pages in again.
    assert min(default[1:]) >= PAGES_IN_BUFFER * 0.9, default
    # Under trial_env the heap keeps it: after a few rounds (seen: 2 to 9) glibc's aligned
    # allocations settle where the freed buffer was, and no round faults it in again.
    assert max(kept[-4:]) < PAGES_IN_BUFFER * 0.1, kept


def test_ray_workers_start_with_the_trial_env():
    """connect() hands the environment to the job, so a worker process has it from its start."""
    script = (
        "import json, os, ray\n"
        "from tune_genres.sweep.cluster import connect\n"
        "connect(None)\n"
        "@ray.remote\n"
        "def env():\n"
        "    return {k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'GLIBC_TUNABLES')}\n"
        "print(json.dumps(ray.get(env.remote())))\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "OMP_WAIT_POLICY")}
    # A Ray of its own: never an address file another test's Ray left in /tmp/ray.
    with tempfile.TemporaryDirectory(prefix="tg-", dir="/tmp") as ray_tmp:  # short: Ray's socket paths
        out = subprocess.run([sys.executable, "-c", script], env={**base, "RAY_TMPDIR": ray_tmp, "RAY_ADDRESS": "local"},
                             capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == trial_env({})
