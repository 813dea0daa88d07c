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
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from support.ray_nodes import wait_for
from support.sweeps import TUNE_GENRES, learnable_dataset, read_results, write_sweep
from tune_genres.checkpoint import load_checkpoint
from tune_genres.cli import main
from tune_genres.report import read_trials


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
        ray.init(address=nodes.address, log_to_driver=False)  # this process drives the in-process sweeps
        print(f"\nCluster of 2 raylets up in {time.perf_counter() - started:.1f} s (this 2-core machine)")
        try:
            yield nodes
        finally:
            ray.shutdown()
            nodes.shutdown()


def alive_node_ids() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def trial_on(exp: Path, node_id: str) -> dict | None:
    """The last epoch row of a checkpoint saved by a trial on `node_id`, from its second one on:
    a trial goes on to epoch 2 only once the driver took epoch 1's report, so by then the driver
    holds a checkpoint of it to restore from."""
    for checkpoint in exp.glob("*/checkpoint_*"):
        try:
            history = load_checkpoint(checkpoint)["history"]
        except Exception:
            continue  # still being written
        if history and history[-1]["node_id"] == node_id and history[-1]["epoch"] >= 2:
            return {**history[-1], "trial": checkpoint.parent.name}
    return None


def freeze(pid: int) -> None:
    """SIGSTOP a Ray worker of this test (its pid came from its own checkpoint on this machine)."""
    assert b"ray::" in Path(f"/proc/{pid}/cmdline").read_bytes(), f"pid {pid} is no longer a Ray worker"
    os.kill(pid, signal.SIGSTOP)


def test_trials_spread_over_the_nodes_and_a_lost_nodes_trial_finishes_on_the_others(cluster, dataset, tmp_path):
    from tune_genres.cluster import check_shared_storage

    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    # Every node sees the storage: the driver's check passes, and says which nodes it probed.
    assert set(check_shared_storage(str(tmp_path / "exps"))) == alive_node_ids() and len(alive_node_ids()) == 3
    # Small batches make epochs long enough (about a second here) to catch the trial mid-run.
    sweep = write_sweep(tmp_path / "three.toml", "three", [3e-3, 1e-3, 5e-4], epochs=4, checkpoint_every=1, batch_size=4)
    exp = tmp_path / "exps" / "three"
    driver = subprocess.Popen(
        [TUNE_GENRES, "sweep", str(sweep), "--dataset", str(dataset), "--address", cluster.address,
         "--storage", str(tmp_path / "exps"), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        def doomed_trial():
            assert driver.poll() is None, driver.stdout.read()[-3000:]
            return trial_on(exp, doomed.node_id)

        # Three 1-CPU trials on three 1-CPU nodes: one runs on the doomed node. Once it has
        # checkpointed there twice, freeze it where it is (so the loss surely lands mid-trial)
        # and take the node away: its raylet and every process on it are killed.
        row = wait_for(doomed_trial, 180, "a second checkpoint from the trial on the doomed node", every=0.05)
        victim, epoch_at_loss = row["trial"], row["epoch"]
        freeze(row["pid"])
        cluster.remove_node(doomed, allow_graceful=False)
        removed_at = time.time()
        output, _ = driver.communicate(timeout=300)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, output[-3000:]

    rows = read_results(exp)
    assert {(r["status"], r["epochs_done"]) for r in rows.values()} == {("finished", "4")}, rows
    # The two trials that kept their node each ran on its own; the third ended on one of them.
    assert len({r["node_id"] for r in rows.values()}) == 2
    trials = {t.name: t for t in read_trials(exp)}
    history = trials[victim].rows
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]  # none lost, none twice
    nodes = [r["node_id"] for r in history]
    # It resumed from the last checkpoint the driver had of it on the doomed node (the one seen,
    # or the one before if that report was still on its way), not from scratch: those epochs
    # were trained there, the rest on a node still alive.
    assert epoch_at_loss < 4
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


def intervals(exp: Path) -> dict[str, tuple[float, float, list[str]]]:
    """Each trial's (start of its first epoch, end of its last, GPU ids), from its epoch rows."""
    spans = {}
    for trial in read_trials(exp):
        first, last = trial.rows[0], trial.rows[-1]
        spans[trial.name] = (first["timestamp"] - first["epoch_s"], last["timestamp"], last["gpu_ids"])
    return spans


def run_gpu_sweep(cluster, dataset, tmp_path, gpus: str) -> tuple[Path, float]:
    """Runs a 4-trial sweep; returns its folder and the most GPUs Ray had handed out at once."""
    import ray

    peak, done = [0.0], threading.Event()

    def sample():  # what Ray's scheduler had allocated, as `ray status` shows it
        while not done.is_set():
            total, free = ray.cluster_resources().get("GPU", 0), ray.available_resources().get("GPU", 0)
            peak[0] = max(peak[0], total - free)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    sweep = write_sweep(tmp_path / "four.toml", "four", [5e-3, 3e-3, 1e-3, 5e-4], epochs=2)
    try:
        assert main(["sweep", str(sweep), "--dataset", str(dataset), "--address", cluster.address,
                     "--storage", str(tmp_path / "exps"), "--gpus-per-trial", gpus, "--quiet"]) == 0
    finally:
        done.set()
        sampler.join()
    exp = tmp_path / "exps" / "four"
    rows = read_results(exp)
    assert {(r["status"], r["epochs_done"]) for r in rows.values()} == {("finished", "2")}
    # Ray gave each trial GPU ids, and the trainable ran on the CPU (no CUDA on this machine).
    assert {r["device"] for r in rows.values()} == {"cpu"}
    return exp, peak[0]


def test_quarter_gpus_pack_four_trials_on_one_gpu(cluster, gpu_node, dataset, tmp_path):
    exp, peak = run_gpu_sweep(cluster, dataset, tmp_path, "0.25")
    spans = intervals(exp)
    # Every trial got the same single GPU, and at the peak four quarters of GPU were handed out:
    # the four trials held that one GPU at the same time.
    assert len(spans) == 4 and len({tuple(ids) for _, _, ids in spans.values()}) == 1
    assert len(next(iter(spans.values()))[2]) == 1
    assert peak == pytest.approx(1.0)


def test_whole_gpus_give_concurrent_trials_distinct_gpus(cluster, gpu_node, dataset, tmp_path):
    exp, peak = run_gpu_sweep(cluster, dataset, tmp_path, "1")
    spans = intervals(exp)
    assert all(len(ids) == 1 for _, _, ids in spans.values())
    assert {ids[0] for _, _, ids in spans.values()} == {"0", "1"}
    assert peak == pytest.approx(2.0)  # both GPUs busy at once, and never more
    for (s1, e1, g1), (s2, e2, g2) in itertools.combinations(spans.values(), 2):
        if s1 < e2 and s2 < e1:
            assert g1 != g2, "two trials trained on the same whole GPU at once"


def test_more_than_one_gpu_must_be_whole(dataset, tmp_path, capsys):
    sweep = write_sweep(tmp_path / "s.toml", "s", [1e-3], epochs=1)
    code = main(["sweep", str(sweep), "--dataset", str(dataset), "--gpus-per-trial", "1.5", "--storage", str(tmp_path)])
    assert code == 2 and "--gpus-per-trial 1.5: above 1 a trial takes whole GPUs" in capsys.readouterr().err
