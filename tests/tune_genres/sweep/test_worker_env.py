"""The trial processes' environment: what it holds, that Ray workers start with it, and what it buys.

The last is the point of it: a training step frees and allocates the same large buffers, and
under trial_env() glibc keeps them, so a buffer allocated again is not page-faulted in again.
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from tune_genres.sweep.worker_env import CREDENTIAL_VARIABLES, STORAGE_VARIABLES, merged_tunables, trial_env, trial_runtime_env

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


def test_the_object_stores_place_goes_in_env_vars_and_its_credentials_never_do():
    driver = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s",
              "AWS_DEFAULT_REGION": "eu-west-1", "AWS_PROFILE": "mine", "AWS_REGION": "", "HOME": "/home/me"}
    runtime_env = trial_runtime_env(driver)
    assert {k: v for k, v in runtime_env["env_vars"].items() if k.startswith("AWS_")} == {
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert callable(runtime_env["worker_process_setup_hook"])
    # None set, none passed, and no hook: a node's own role or profile serves.
    assert trial_runtime_env({}) == {"env_vars": trial_env({})} and set(trial_env({})) == {"OMP_WAIT_POLICY", "GLIBC_TUNABLES"}


# Starts a Ray node, THEN takes the driver's AWS variables (from stdin), so that its worker
# processes cannot inherit them: they have them only if connect() passed them on.
PASSED_ON = r"""
import json, os, sys, ray
from ray.cluster_utils import Cluster
nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
os.environ.update(json.loads(sys.stdin.readline()))
from tune_genres.sweep.cluster import connect
connect(nodes.address)
names = json.loads(sys.argv[1])
@ray.remote
def env():
    return {k: os.environ.get(k) for k in names}
print(json.dumps(ray.get(env.remote())))
ray.shutdown()
nodes.shutdown()
"""


def test_trials_get_the_drivers_aws_variables_and_no_log_or_output_holds_the_secret():
    secret = f"secret-{uuid.uuid4().hex}"
    aws = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "AKIDTRIALENV",
           "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1"}
    names = [*STORAGE_VARIABLES, *CREDENTIAL_VARIABLES]
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with tempfile.TemporaryDirectory(prefix="tg-", dir="/tmp") as ray_tmp:  # short: Ray's socket paths
        out = subprocess.run([sys.executable, "-c", PASSED_ON, json.dumps(names)], input=json.dumps(aws) + "\n",
                             env={**base, "RAY_TMPDIR": ray_tmp}, capture_output=True, text=True, timeout=180)
        logged = sorted(str(p.relative_to(ray_tmp)) for p in Path(ray_tmp).rglob("*") if secret.encode() in read_or_empty(p))
    assert out.returncode == 0, out.stderr[-2000:]
    answer = out.stdout.splitlines()[-1]
    assert json.loads(answer) == {**{k: None for k in names}, **aws}  # every one reached the worker process
    assert logged == []  # Ray's runtime-env agent logs env_vars whole: the secret was never among them
    assert secret not in out.stdout.replace(answer, "") + out.stderr


def read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes() if path.is_file() else b""
    except OSError:  # a file Ray removed meanwhile
        return b""
