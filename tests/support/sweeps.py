"""Small sweeps for the cluster and fault tests: a learnable built dataset, sweep files, results."""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from dataset_builder.build import build
from support.posters import learnable_raw
from support.processes import wait_for, while_running
from support.ray_nodes import ray_worker

TUNE_GENRES = str(Path(sys.executable).with_name("tune-genres"))


def learnable_dataset(root: Path, count: int = 160, ratios: tuple[int, ...] = (30,)) -> Path:
    """A built dataset whose posters show their genres as colour bands (so training learns)."""
    learnable_raw(root / "raw", count=count)
    build(root / "raw", root / "ds", "top:4", ratios=list(ratios), seed=0)
    return root / "ds"


def write_sweep(path: Path, name: str, lrs: list[float], epochs: int, checkpoint_every: int = 1,
                batch_size: int = 16, extra: str = "") -> Path:
    """A bce sweep over `lrs` at ratio 30; `extra` appends TOML sections ([resources], [run])."""
    path.write_text(
        f"name = '{name}'\n[grid]\nlr = {lrs!r}\nratio = [30]\n"
        f"[train]\nloss = 'bce'\nepochs = {epochs}\ncheckpoint_every = {checkpoint_every}\nbatch_size = {batch_size}\n"
        + extra
    )
    return path


def read_results(exp: Path) -> dict[str, dict]:
    """results.csv as {trial name: row}."""
    with open(exp / "results.csv", newline="") as f:
        return {row["trial"]: row for row in csv.DictReader(f)}


def checkpointed_rows(exp: Path) -> dict[str, dict]:
    """Each trial's last epoch row, from its furthest checkpoint that reads whole (so far)."""
    from tune_genres.training.checkpoint import load_checkpoint

    rows: dict[str, dict] = {}
    for checkpoint in exp.glob("*/checkpoint_*"):
        try:
            row = load_checkpoint(checkpoint)["history"][-1]
        except Exception:
            continue  # still being written
        if row["epoch"] > rows.get(checkpoint.parent.name, {}).get("epoch", 0):
            rows[checkpoint.parent.name] = row
    return rows


def logged_epochs(trial_dir: Path) -> list[tuple[int, int]]:
    """(epoch, pid) of each row in the trial's result.json, in the order Tune logged them."""
    rows = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]
    return [(row["epoch"], row["pid"]) for row in rows]


class HoldTrials(threading.Thread):
    """Proof that `count` trials ran at the same time: freezes each trial's process (SIGSTOP) at
    its first checkpoint until `count` different trials have checkpointed, then lets them all go
    on. (Tune may otherwise run trials one after another in a reused worker process, when one
    ends before the next one's process is up.) `rows` then holds each one's checkpointed row."""

    def __init__(self, exp: Path, count: int, timeout: float = 240):
        super().__init__(daemon=True)
        self.exp, self.count, self.timeout = exp, count, timeout
        self.rows: dict[str, dict] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        frozen: list[int] = []
        try:
            deadline = time.monotonic() + self.timeout
            while len(self.rows) < self.count:
                for trial, row in checkpointed_rows(self.exp).items():
                    if trial not in self.rows:
                        os.kill(ray_worker(row["pid"]), signal.SIGSTOP)
                        frozen.append(row["pid"])
                        self.rows[trial] = row
                if time.monotonic() > deadline:
                    raise AssertionError(f"only {len(self.rows)} of {self.count} trials checkpointed in {self.timeout:.0f} s")
                time.sleep(0.05)
        except BaseException as e:  # handed to the test by result()
            self.error = e
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)

    def result(self) -> dict[str, dict]:
        self.join()
        if self.error:
            raise self.error
        assert len({row["pid"] for row in self.rows.values()}) == self.count, "a process ran two of them"
        return self.rows


def kill_driver_mid_sweep(driver, exp: Path, second_checkpoint: str, timeout: float) -> None:
    """SIGKILL a sweep's driver, and the Ray it started, as a crash would: once the second trial has
    checkpointed (`second_checkpoint`, a glob under exp: the first trial is done, the second under
    way) and the driver has then saved its experiment state (every second with
    TUNE_GLOBAL_CHECKPOINT_S=1), so storage knows the first trial finished."""
    try:
        wait_for(while_running(driver, lambda: list(exp.glob(second_checkpoint))), timeout,
                 "the second trial's first checkpoint (the sweep must still run, to be interrupted)")
        seen = time.time()
        wait_for(while_running(driver, lambda: any(s.stat().st_mtime > seen for s in exp.glob("experiment_state-*.json"))),
                 30, "the experiment state saved after the second trial's first checkpoint", every=0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()


def sweep_file_error(folder: Path, text: str) -> str:
    """The error loading a sweep file of `text` raises: one line (BadInput) naming the file."""
    import pytest

    from dataset_builder.errors import BadInput
    from tune_genres.sweep.sweep_file import load_sweep

    path = folder / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadInput) as caught:
        load_sweep(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    return str(caught.value)
