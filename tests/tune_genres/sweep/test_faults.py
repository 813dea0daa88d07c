"""Faults during a sweep, each on a real Ray started by a real `tune-genres sweep` driver:
a trial's worker killed mid-epoch, result rows the driver never got to storage, storage that
fills up mid-sweep or cannot be written at all. (The driver killed with SIGKILL and resumed is
in test_sweep.py; a node lost mid-sweep in test_cluster.py.)

Storage faults are real: the driver runs in its own mount namespace (root only), where the
storage folder is a tiny tmpfs that fills up, or a read-only bind mount.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.processes import killed_at_exit, wait_for, while_running
from support.ray_nodes import can_unshare_mounts, ray_worker
from support.sweeps import TUNE_GENRES, checkpointed_rows, learnable_dataset, logged_epochs, read_results, write_sweep
from tune_genres.training.checkpoint import load_checkpoint
from tune_genres.results.trials import logged_rows, read_trials

# The worker-kill trial's epochs.
EPOCHS = 24

needs_mount_namespaces = pytest.mark.skipif(not can_unshare_mounts(), reason="needs mount namespaces (root) for a full or read-only filesystem")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return learnable_dataset(tmp_path_factory.mktemp("faults-data"))


def sweep_command(sweep: Path, dataset: Path, storage: Path, *more: str) -> list[str]:
    return [TUNE_GENRES, "sweep", str(sweep), "--dataset", str(dataset), "--storage", str(storage), "--quiet", *more]


def curve_epochs(trial_dir: Path) -> list[int]:
    """The epochs TensorBoard shows for a trial: the driver writes them as it receives each report."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trial_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [e.step for e in events.Scalars("val/map")] if "val/map" in events.Tags()["scalars"] else []


def last_checkpoint_row(trial_dir: Path) -> dict | None:
    return checkpointed_rows(trial_dir.parent).get(trial_dir.name)


@pytest.fixture(scope="module")
def worker_killed(dataset, tmp_path_factory) -> dict:
    """One trial, EPOCHS epochs, a checkpoint every 2; its worker SIGKILLed once epoch 3 reached the
    driver: in epoch 4 or a little later, sometimes just after an epoch it checkpointed."""
    root = tmp_path_factory.mktemp("worker-kill")
    # Small batches and many epochs: an epoch takes 0.1-1 s here, so the kill mostly lands inside
    # one, and well before the last.
    sweep = write_sweep(root / "one.toml", "one", [3e-3], epochs=EPOCHS, checkpoint_every=2, batch_size=4)
    driver = subprocess.Popen(sweep_command(sweep, dataset, root / "exps"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    trial = root / "exps" / "one" / "lr=3e-3,r=30"
    with killed_at_exit(driver):
        row = wait_for(while_running(driver, lambda: last_checkpoint_row(trial)), 180, "the trial's first checkpoint")
        # Epoch 3 reached the driver, so it holds epoch 2's checkpoint; the worker is in epoch 4 or later.
        wait_for(while_running(driver, lambda: 3 in curve_epochs(trial)), 60, "epoch 3 in TensorBoard", every=0.05)
        os.kill(ray_worker(row["pid"]), signal.SIGKILL)
        killed_at = time.time()
        output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, output[-3000:]
    return {"exp": root / "exps" / "one", "trial": trial, "pid": row["pid"], "killed_at": killed_at}


def test_worker_killed_mid_epoch_resumes_from_its_last_checkpoint(worker_killed):
    # result.json: the new process logged the epochs from the one after its checkpoint on. (Tune
    # restarts a trial's result.json from the copy last synced to storage, so rows the killed
    # process logged since may be gone from it; the checkpoint's history keeps those it covers.)
    logged = logged_epochs(worker_killed["trial"])
    new = [epoch for epoch, pid in logged if pid != worker_killed["pid"]]
    old = [epoch for epoch, pid in logged if pid == worker_killed["pid"]]
    assert new, f"no epoch came from a new process: the kill landed after the trial's last epoch ({logged})"
    resumed_at = new[0]
    assert new == list(range(resumed_at, EPOCHS + 1)) and old == list(range(1, len(old) + 1))

    # TensorBoard's curve holds every report the driver received, in order: the killed process's
    # epochs 1..reached, then the new one's from resumed_at. Where the kill landed just after a
    # checkpointed epoch (reached even), the two parts meet without a repeat.
    curve = curve_epochs(worker_killed["trial"])
    restart = len(curve) - 1 - curve[::-1].index(resumed_at)
    reached = restart  # curve[:restart] is 1..reached
    assert curve[:restart] == list(range(1, reached + 1)) and 3 <= reached < EPOCHS and len(old) <= reached
    # It resumed from the last checkpoint the driver held (one every 2 epochs), not from scratch.
    # Tune holds a checkpoint once a separate save task returns, after the epoch's report and before
    # the next epoch's: if the last epoch it saw was a checkpointed one, the kill may have come first.
    last_checkpointed = reached // 2 * 2
    held = [last_checkpointed] if reached % 2 else [last_checkpointed, last_checkpointed - 2]
    assert resumed_at - 1 in held and curve[restart:] == list(range(resumed_at, EPOCHS + 1)), curve

    # The report: the trial finished, each epoch once, the rerun epochs from the new process.
    row = read_results(worker_killed["exp"])["lr=3e-3,r=30"]
    assert (row["status"], row["epochs_done"]) == ("finished", str(EPOCHS))
    rows = read_trials(worker_killed["exp"])[0].rows  # what learning-curves.png draws
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    assert all(r["pid"] != worker_killed["pid"] for r in rows[resumed_at - 1:])
    first_again = rows[resumed_at - 1]
    print(f"\nworker killed in epoch {reached + 1}: trial training again (epoch {resumed_at}) "
          f"{first_again['timestamp'] - first_again['epoch_s'] - worker_killed['killed_at']:.1f} s later "
          f"(death noticed, new worker started, checkpoint restored; this 2-core machine, shared); "
          f"result.json kept {len(old)} of the {reached} rows the killed process reported")


def test_rows_result_json_lost_come_back_from_the_checkpoint(worker_killed, tmp_path):
    """A driver killed before it recorded the trial, while syncing, leaves storage no trial.json
    and a result.json without its last rows (or cut mid-line); the trial's checkpoint carries
    every epoch (history.json), so the report loses none, nor the test scores."""
    exp = tmp_path / "one"
    shutil.copytree(worker_killed["exp"], exp)
    whole = read_trials(exp)[0]
    assert [r["epoch"] for r in whole.rows] == list(range(1, EPOCHS + 1)) and whole.record["status"] == "finished"
    (exp / "lr=3e-3,r=30" / "trial.json").unlink()
    result = exp / "lr=3e-3,r=30" / "result.json"
    lines = result.read_text().splitlines()
    result.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])
    rebuilt = read_trials(exp)[0]
    assert [r["epoch"] for r in rebuilt.rows] == list(range(1, EPOCHS + 1))
    assert [r["val_map"] for r in rebuilt.rows] == [r["val_map"] for r in whole.rows]
    assert rebuilt.record["scores"]["test_map"] == whole.record["scores"]["test_map"]
    assert rebuilt.record["thresholds"] == whole.record["thresholds"] and rebuilt.record["status"] == "finished"


def test_the_final_checkpoint_carries_every_epoch_and_loads_weights_only(worker_killed):
    import torch

    final = max(worker_killed["trial"].glob("checkpoint_*"))  # the highest index: the last epoch
    state = torch.load(final / "checkpoint.pt", weights_only=True)  # tensors and plain values only
    history = json.loads((final / "history.json").read_text())  # beside it: readable without the weights
    assert state["epoch"] == EPOCHS and [r["epoch"] for r in history] == list(range(1, EPOCHS + 1))
    # The same rows as the driver logged (each epoch's latest: the rerun ones after the kill).
    logged = {row["epoch"]: row for row in logged_rows(worker_killed["trial"] / "result.json")}
    assert {e: (r["val_map"], r["pid"]) for e, r in logged.items()} == {
        r["epoch"]: (r["val_map"], r["pid"]) for r in history if r["epoch"] in logged}


class Namespace:
    """A process holding a private mount namespace; commands run inside it with nsenter, and
    its files are reached from outside through /proc/PID/root."""

    def __init__(self, setup: str):
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                        f"{setup} && echo mounted && exec sleep 900"], stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline().strip() == "mounted", "mount inside the namespace failed"

    def path(self, path: Path) -> Path:
        return Path(f"/proc/{self.holder.pid}/root") / str(path).lstrip("/")

    def command(self, command: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m", "--", *command]

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == 28  # ENOSPC: full


@needs_mount_namespaces
def test_storage_full_or_read_only_gives_one_clear_line_and_keeps_what_was_saved(dataset, tmp_path):
    storage, read_only, full = tmp_path / "storage", tmp_path / "read-only", tmp_path / "full"
    for folder in (storage, read_only, full):
        folder.mkdir()
    # No retries: a trial whose checkpoint cannot be written fails at once (retrying is tested elsewhere).
    # 8 epochs of 0.1-1 s here: the trial is surely still running when it is frozen below.
    sweep = write_sweep(tmp_path / "full.toml", "full", [3e-3], epochs=8, checkpoint_every=1, batch_size=4,
                        extra="[run]\nmax_failures = 0\n")
    space = Namespace(f"mount -t tmpfs -o size=4m tmpfs '{storage}' && mount -t tmpfs -o size=64k tmpfs '{full}' "
                      f"&& mount --bind '{read_only}' '{read_only}' && mount -o remount,bind,ro '{read_only}' '{read_only}'")
    try:
        fill(space.path(full))
        drivers = {folder: subprocess.Popen(space.command(sweep_command(sweep, dataset, folder)),
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for folder in (read_only, full, storage)}
        with killed_at_exit(*drivers.values()):
            # Storage that takes no write at the start: one line, before Ray starts.
            for folder, why in ((read_only, "Read-only file system"), (full, "No space left on device")):
                _, err = drivers[folder].communicate(timeout=120)
                assert drivers[folder].returncode == 2, err[-3000:]
                # One line and nothing else: Ray, which logs as it starts, never started.
                assert err.strip().splitlines() == [f"tune-genres: error: --storage {folder}: cannot write there ({why})"]
                assert [p.name for p in space.path(folder).iterdir()] in ([], ["filler"])

            # Storage that fills up mid-sweep.
            driver, inside = drivers[storage], space.path(storage)
            trial = inside / "full" / "lr=3e-3,r=30"
            row = wait_for(while_running(driver, lambda: last_checkpoint_row(trial)), 180, "the first checkpoint", every=0.05)
            # Hold the trial still while the disk fills, so that its next checkpoint surely meets a full disk.
            worker = ray_worker(row["pid"])
            os.kill(worker, signal.SIGSTOP)
            try:
                fill(inside)
            finally:
                os.kill(worker, signal.SIGCONT)
            filled_at = time.time()
            _, err = driver.communicate(timeout=300)
            stopped_after = time.time() - filled_at
            assert driver.returncode == 2, err[-3000:]
            assert err.strip().splitlines()[-1] == (
                f"tune-genres: error: --storage {storage}: cannot write there any more (No space left on device); "
                "the sweep stopped, and what it had saved stands: free space or make it writable, then run the same command with --resume"
            )
            # What was saved stands: Tune's experiment state parses, the checkpoints load, and no
            # half-written file is left anywhere. (A checkpoint the full disk refused leaves at most
            # its empty folder, never part of a file.)
            for state in (inside / "full").glob("experiment_state-*.json"):
                json.loads(state.read_text())
            saved = [c for c in trial.glob("checkpoint_*") if any(c.iterdir())]
            assert saved and all(load_checkpoint(c)["epoch"] >= 1 for c in saved)
            assert not [p for p in (inside / "full").rglob("*.tmp")]

            (inside / "filler").unlink()
            started = time.time()
            resumed = subprocess.run(space.command(sweep_command(sweep, dataset, storage, "--resume")),
                                     capture_output=True, text=True, timeout=300)
            assert resumed.returncode == 0, resumed.stderr[-3000:]
            row = read_results(inside / "full")["lr=3e-3,r=30"]
            assert (row["status"], row["epochs_done"]) == ("finished", "8")
            assert [r["epoch"] for r in read_trials(inside / "full")[0].rows] == list(range(1, 9))
            print(f"\nstorage full: sweep stopped {stopped_after:.1f} s after the disk filled; "
                  f"--resume finished it in {time.time() - started:.1f} s (this 2-core machine, shared)")
    finally:
        space.close()
