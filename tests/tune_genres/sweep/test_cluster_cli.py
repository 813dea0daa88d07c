"""A real multi-node cluster started as a user would: `ray start --head`, `ray start --address`,
then `tune-genres sweep --address`, with Ray's token authentication on.

The worker node runs in its own mount namespace, where the dataset's folder (and a storage
folder beside it) is an empty filesystem: seen from that node they do not exist, as on another
machine. So the trial it trains got its data through the object store, and storage on the
driver's disk alone is caught before the sweep starts.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from support.processes import killed_at_exit
from support.ray_nodes import RayCli, can_unshare_mounts
from support.sweeps import TUNE_GENRES, HoldTrials, learnable_dataset, read_results, write_sweep

pytestmark = pytest.mark.skipif(not can_unshare_mounts(), reason="needs mount namespaces (root) to give a node its own filesystem")


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-cluster")
    driver_only = root / "driver-only"  # what the worker node cannot see
    driver_only.mkdir()
    return {
        "root": root,
        "driver_only": driver_only,
        "dataset": learnable_dataset(driver_only / "data"),
        "shared": root / "shared",
        "sweep": write_sweep(root / "two.toml", "two", [3e-3, 1e-3], epochs=2, batch_size=4),
    }


@pytest.fixture(scope="module")
def cluster(places):
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    started = time.perf_counter()
    nodes = RayCli(env)
    try:
        nodes.start_head(num_cpus=1)
        nodes.add_node(num_cpus=1, hide=[places["driver_only"]])
        print(f"\ncluster of 2 nodes up in {time.perf_counter() - started:.1f} s (ray start x2, this 2-core machine)")
        yield nodes
    finally:
        nodes.stop()
    assert not nodes.owned_pids(), "a Ray process of this test outlived it"


def sweep_command(cluster: RayCli, places: dict, storage: Path) -> list[str]:
    return [TUNE_GENRES, "sweep", str(places["sweep"]), "--dataset", str(places["dataset"]),
            "--address", cluster.address, "--storage", str(storage), "--quiet"]


@pytest.fixture(scope="module", autouse=True)
def refused(cluster, places) -> dict[str, subprocess.Popen]:
    """Two drivers the cluster must turn away, started at once to run beside the sweep below
    (Ray retries a refused token for about 20 s before it gives up)."""
    wrong_token = dict(cluster.env, RAY_AUTH_TOKEN=secrets.token_hex(32))
    runs = {
        "node-local storage": (sweep_command(cluster, places, places["driver_only"] / "exps"), cluster.env),
        "wrong token": (sweep_command(cluster, places, places["root"] / "refused"), wrong_token),
    }
    drivers = {name: subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, (command, env) in runs.items()}
    with killed_at_exit(*drivers.values()):
        yield drivers


def refusal(driver: subprocess.Popen) -> str:
    """The one error line of a driver that must exit 2."""
    _, err = driver.communicate(timeout=180)
    assert driver.returncode == 2, err[-2000:]
    return err.strip().splitlines()[-1]


def test_trials_spread_over_both_nodes_with_token_auth(cluster, places):
    together = HoldTrials(places["shared"] / "two", 2)
    together.start()
    started = time.perf_counter()
    done = subprocess.run(sweep_command(cluster, places, places["shared"]), env=cluster.env,
                          capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    # Two 1-CPU nodes, two 1-CPU trials running at once: one on each node. One of the two nodes
    # cannot see the dataset's folder: its trial read the arrays from the object store.
    assert len({row["node_id"] for row in together.result().values()}) == 2
    rows = read_results(places["shared"] / "two")
    assert {(r["status"], r["epochs_done"]) for r in rows.values()} == {("finished", "2")}
    assert len({r["node_id"] for r in rows.values()}) == 2, rows
    print(f"\n2-trial sweep over 2 nodes: {took:.1f} s wall (driver start to report, this 2-core machine)")


def test_node_local_storage_is_refused_before_the_sweep_starts(refused, places):
    storage = places["driver_only"] / "exps"
    line = refusal(refused["node-local storage"])
    assert line.startswith(f"tune-genres: error: --storage {storage}: node ")
    assert "does not see it" in line and "storage every node shares" in line
    # Refused before any work: no experiment folder, and the probe file is cleaned up.
    assert not (storage / "two").exists()
    assert not list(storage.glob(".node-probe-*"))


def test_a_driver_without_the_clusters_token_is_refused(refused, cluster, places):
    line = refusal(refused["wrong token"])
    assert line.startswith(f"tune-genres: error: --address {cluster.address}: the cluster refused this driver's token")
    assert "RAY_AUTH_TOKEN" in line
    assert not (places["root"] / "refused" / "two").exists()  # no experiment begun
