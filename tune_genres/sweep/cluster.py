"""Joining Ray and checking that the experiment's storage can take the results."""

from __future__ import annotations

import sys
import uuid

from dataset_builder.errors import BadInput

from ..results.location import ExperimentLocation, location, without_secrets

from .local_ray_reaper import start_reaper
from .worker_env import trial_runtime_env

# How long each node gets to answer the shared-storage probe (a worker process must start there).
PROBE_TIMEOUT_S = 60.0
TOKEN_HINT = (
    "run the driver with RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN or "
    "~/.ray/auth_token (`ray get-auth-token` on the head prints it)"
)
SHARED_STORAGE_HINT = (
    "a sweep on several nodes needs storage every node shares: a network filesystem mounted at the "
    "same path on each node, or a URI such as s3://bucket/experiments"
)


def connect(address: str | None) -> None:
    """Join the cluster at `address` ('auto' or host:port), or start a local Ray on this machine."""
    import ray

    if ray.is_initialized():
        return
    try:
        # The trial processes' environment goes with the job, so a cluster's nodes need no setup for it
        # (the object store's credentials included, outside what Ray logs: worker_env.py).
        context = ray.init(address=address, include_dashboard=False if address is None else None, log_to_driver=True,
                           runtime_env=trial_runtime_env())
    except ray.exceptions.AuthenticationError as e:  # token mode on here, but no token found
        raise BadInput(f"--address {address}: {e.message}; {TOKEN_HINT}") from None
    except ConnectionError as e:
        # Ray reports a refused token as a failed connection; the cause says which it was.
        if "InvalidAuthToken" in str(e.__cause__):
            raise BadInput(f"--address {address}: the cluster refused this driver's token (missing or wrong); {TOKEN_HINT}") from None
        raise BadInput(f"--address {address}: no Ray cluster there ({str(e).splitlines()[0]})") from None
    if address is None:  # a Ray of our own: it goes when this driver goes, even killed by SIGKILL
        start_reaper(context.address_info["session_dir"])


def check_resources(trial: dict[str, float], wait: bool) -> None:
    """A trial that no node can ever hold would wait forever, Ray warning once a minute: refuse it
    now, naming what the largest node has. `wait`: the cluster autoscales, so such nodes may come."""
    import ray

    if wait:
        return
    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
    if any(n.get("CPU", 0) >= trial["cpu"] and n.get("GPU", 0) >= trial["gpu"] for n in nodes):
        return
    largest = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)))
    raise BadInput(
        f"a trial asks for {trial['cpu']:g} CPUs and {trial['gpu']:g} GPUs (--cpus-per-trial, --gpus-per-trial or the "
        f"sweep file's [resources]), but no node of this Ray has that: the largest has {largest.get('CPU', 0):g} CPUs "
        f"and {largest.get('GPU', 0):g} GPUs ({len(nodes)} node(s)); ask for less, or on a cluster that autoscales "
        "pass --wait-for-resources"
    )


def check_storage(storage: ExperimentLocation | str) -> None:
    """Storage must take a write now, not halfway through the sweep (a full or read-only disk, a
    bucket that does not exist or refuses these credentials)."""
    storage = location(storage)
    probe = f".write-probe-{uuid.uuid4().hex}"
    try:
        if storage.is_local:
            storage.local_path.mkdir(parents=True, exist_ok=True)
        storage.write_bytes(probe, b"x" * 4096)
        storage.delete(probe)
    except OSError as e:
        raise BadInput(f"--storage {storage}: cannot write there ({without_secrets(e.strerror or str(e))})") from None
    finally:
        if storage.is_local and (storage.local_path / probe).exists():  # a read-only disk refuses even a no-op unlink
            (storage.local_path / probe).unlink()


def read_probe(storage: ExperimentLocation, probe: str, token: str) -> str | None:
    """On a node: None if it reads the driver's probe back, else why not (runs as a Ray task)."""
    try:
        found = storage.read_bytes(probe)
    except Exception as e:  # pyarrow raises OSError, FileNotFoundError, or its own errors per filesystem
        return f"cannot read the driver's probe file there: {without_secrets(str(e).splitlines()[0])}"
    return None if found == token.encode() else "another file is at that path there (a different filesystem)"


def check_shared_storage(storage: ExperimentLocation | str) -> list[str]:
    """Every node must see the storage the driver writes: a checkpoint saved by a node that
    cannot is lost, and Tune finds out only at a trial's first checkpoint, halfway through.

    The driver writes a probe file; a task pinned to each other live node reads it back through
    that node's own filesystem and credentials. Returns the ids of the nodes that saw it.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    storage = location(storage)
    here = ray.get_runtime_context().get_node_id()
    nodes = [n for n in ray.nodes() if n["Alive"] and n["NodeID"] != here]
    if not nodes:
        return [here]  # one node, the driver's own: check_storage has written there already
    token = uuid.uuid4().hex
    probe = f".node-probe-{token}"
    try:
        storage.write_bytes(probe, token.encode())
    except Exception as e:
        raise BadInput(f"--storage {storage}: cannot write there ({without_secrets(str(e).splitlines()[0])})") from None
    try:
        task = ray.remote(num_cpus=0, max_retries=0)(read_probe)
        pending = {
            task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(storage, probe, token): n
            for n in nodes
        }
        ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=PROBE_TIMEOUT_S)
        blind, seen = [], [here]
        for ref in ready:
            node = pending[ref]
            try:
                why = ray.get(ref)
            except ray.exceptions.RayError as e:  # the node died while answering
                why = f"the probe failed there ({type(e).__name__})"
            if why is None:
                seen.append(node["NodeID"])
            else:
                blind.append((node, why))
        for ref in late:
            ray.cancel(ref, force=True)
            node = pending[ref]
            print(f"tune-genres: warning: node {describe_node(node)} did not answer the storage probe within "
                  f"{PROBE_TIMEOUT_S:.0f} s; its trials fail at their first checkpoint if it cannot see {storage}",
                  file=sys.stderr)
    finally:
        try:
            storage.delete(probe)
        except Exception:
            pass  # the probe is a hidden few-byte file; never mask the real outcome
    if blind:
        node, why = blind[0]
        more = f" (and {len(blind) - 1} more node(s))" if len(blind) > 1 else ""
        raise BadInput(f"--storage {storage}: node {describe_node(node)}{more} does not see it ({why}); {SHARED_STORAGE_HINT}")
    return seen


def describe_node(node: dict) -> str:
    return f"{node['NodeManagerAddress']} (id {node['NodeID'][:12]})"
