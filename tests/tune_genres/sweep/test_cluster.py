"""Sweeps on a multi-node Ray cluster (ray.cluster_utils.Cluster: several raylets on this machine):
trials spread over the nodes, logical GPUs packed as asked, a node lost mid-sweep.

The cluster is shared by the tests in this file, in order: CPU nodes first; the node-loss test
adds and removes its own node; the GPU tests add a GPU node last. `RAY_TMPDIR` keeps this
cluster's files (and the address file `ray.init()` would otherwise find) away from any other
Ray on this machine.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support.processes import killed_at_exit, wait_for, while_running
from support.ray_nodes import ray_worker
from support.sweeps import TUNE_GENRES, HoldTrials, checkpointed_rows, learnable_dataset, read_results, write_sweep
from tune_genres.cli import main
from tune_genres.results.trials import read_trials
from tune_genres.sweep.worker_env import trial_env


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return learnable_dataset(tmp_path_factory.mktemp("cluster-data"))


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="tg-", dir="/tmp")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", temp)
        started = time.perf_counter()
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        nodes.add_node(num_cpus=1)
        nodes.wait_for_nodes()
        # This process drives the in-process sweeps, its trials in the environment connect() gives them.
        ray.init(address=nodes.address, log_to_driver=False, runtime_env={"env_vars": trial_env()})
        print(f"\nCluster of 2 raylets up in {time.perf_counter() - started:.1f} s (this 2-core machine)")
        try:
            yield nodes
        finally:
            ray.shutdown()
            nodes.shutdown()
            shutil.rmtree(temp, ignore_errors=True)


def alive_node_ids() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def trial_on(exp: Path, node_id: str) -> dict | None:
    """The last checkpointed row of a trial on `node_id`, from its second checkpoint on: a trial
    goes on to epoch 2 only once the driver took epoch 1's report, so by then the driver holds a
    checkpoint of it to restore from."""
    for trial, row in checkpointed_rows(exp).items():
        if row["node_id"] == node_id and row["epoch"] >= 2:
            return {**row, "trial": trial}
    return None


def test_trials_spread_over_the_nodes_and_a_lost_nodes_trial_finishes_on_the_others(cluster, dataset, tmp_path):
    from tune_genres.sweep.cluster import check_shared_storage

    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    # Every node sees the storage: the driver's check passes, and says which nodes it probed.
    assert set(check_shared_storage(str(tmp_path / "exps"))) == alive_node_ids() and len(alive_node_ids()) == 3
    # Small batches and 8 epochs (0.1-1 s each here): the trial is surely caught mid-run.
    sweep = write_sweep(tmp_path / "three.toml", "three", [3e-3, 1e-3, 5e-4], epochs=8, checkpoint_every=1, batch_size=4)
    exp = tmp_path / "exps" / "three"
    driver = subprocess.Popen(
        [TUNE_GENRES, "sweep", str(sweep), "--dataset", str(dataset), "--address", cluster.address,
         "--storage", str(tmp_path / "exps"), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    with killed_at_exit(driver):
        # Three 1-CPU trials on three 1-CPU nodes: one runs on the doomed node. Once it has
        # checkpointed there twice, freeze it where it is (so the loss surely lands mid-trial)
        # and take the node away: its raylet and every process on it are killed.
        row = wait_for(while_running(driver, lambda: trial_on(exp, doomed.node_id)), 180,
                       "a second checkpoint from the trial on the doomed node", every=0.05)
        victim, epoch_at_loss = row["trial"], row["epoch"]
        frozen = ray_worker(row["pid"])
        os.kill(frozen, signal.SIGSTOP)
        cluster.remove_node(doomed, allow_graceful=False)
        # A lost machine takes its processes with it; a frozen one would not notice its raylet die.
        os.kill(frozen, signal.SIGKILL)
        removed_at = time.time()
        output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, output[-3000:]

    rows = read_results(exp)
    assert {(r["status"], r["epochs_done"]) for r in rows.values()} == {("finished", "8")}, rows
    # The two trials that kept their node each ran on its own; the third ended on one of them.
    assert len({r["node_id"] for r in rows.values()}) == 2
    trials = {t.name: t for t in read_trials(exp)}
    history = trials[victim].rows
    assert [r["epoch"] for r in history] == list(range(1, 9))  # none lost, none twice
    nodes = [r["node_id"] for r in history]
    # It resumed from the last checkpoint the driver had of it on the doomed node (the one seen,
    # or the one before if that report was still on its way), not from scratch: those epochs
    # were trained there, the rest on a node still alive.
    assert epoch_at_loss < 8
    on_doomed = len(list(itertools.takewhile(lambda n: n == doomed.node_id, nodes)))
    assert epoch_at_loss - 1 <= on_doomed <= epoch_at_loss, nodes
    assert set(nodes[on_doomed:]) <= alive_node_ids() - {doomed.node_id}
    first_after = next(r for r in history if r["node_id"] != doomed.node_id)
    print(f"\nnode lost after epoch {epoch_at_loss} of {victim}: its trial trained again "
          f"{first_after['timestamp'] - first_after['epoch_s'] - removed_at:.1f} s after the node was removed "
          f"(failure noticed, a free node awaited, the actor restarted and restored; this 2-core machine, shared)")


@pytest.fixture(scope="module")
def gpu_node(cluster):
    """A node declaring 2 logical GPUs and 4 CPUs; trials asking for GPUs can only run there."""
    node = cluster.add_node(num_cpus=4, num_gpus=2)
    cluster.wait_for_nodes()
    return node


def run_gpu_sweep(cluster, dataset, tmp_path, gpus: str, lrs: list[float]) -> list[list[str]]:
    """Runs a sweep over `lrs`, all its trials held until running at once; returns their GPU ids."""
    sweep = write_sweep(tmp_path / "gpus.toml", "gpus", lrs, epochs=2, batch_size=4)
    exp = tmp_path / "exps" / "gpus"
    together = HoldTrials(exp, len(lrs))
    together.start()
    assert main(["sweep", str(sweep), "--dataset", str(dataset), "--address", cluster.address,
                 "--storage", str(tmp_path / "exps"), "--gpus-per-trial", gpus, "--quiet"]) == 0
    rows = read_results(exp)
    assert {(r["status"], r["epochs_done"]) for r in rows.values()} == {("finished", "2")}
    # Ray gave each trial GPU ids, and the trainable ran on the CPU (no CUDA on this machine).
    assert {r["device"] for r in rows.values()} == {"cpu"}
    return sorted(row["gpu_ids"] for row in together.result().values())


def test_quarter_gpus_pack_four_trials_on_one_gpu(cluster, gpu_node, dataset, tmp_path):
    # Four trials running at once (each in its own process), all on the same single GPU.
    assert run_gpu_sweep(cluster, dataset, tmp_path, "0.25", [5e-3, 3e-3, 1e-3, 5e-4]) in ([["0"]] * 4, [["1"]] * 4)


def test_whole_gpus_give_concurrent_trials_distinct_gpus(cluster, gpu_node, dataset, tmp_path):
    # Two trials running at once, one on each GPU.
    assert run_gpu_sweep(cluster, dataset, tmp_path, "1", [3e-3, 1e-3]) == [["0"], ["1"]]


def test_more_than_one_gpu_per_trial_is_refused(dataset, tmp_path, capsys):
    sweep = write_sweep(tmp_path / "s.toml", "s", [1e-3], epochs=1)
    code = main(["sweep", str(sweep), "--dataset", str(dataset), "--gpus-per-trial", "1.5", "--storage", str(tmp_path)])
    assert code == 2 and "--gpus-per-trial 1.5: a trial of this model uses one GPU" in capsys.readouterr().err
