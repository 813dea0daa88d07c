"""A TPE sweep whose driver is killed (SIGKILL) mid-way resumes with --resume: exactly num_samples
trials in the end, no finished trial rerun, the searcher keeps the trials it had learned from, and
the study goes on in the same journal (optuna.log), each trial in it once."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from support.sweeps import kill_driver_mid_sweep, learnable_dataset, read_results

SEARCH_SWEEP = """
name = "t"
[space]
lr = {loguniform = [1e-4, 1e-2]}
ratio = [30]
dropout = {uniform = [0.2, 0.6]}
[train]
loss = "bce"
epochs = 16
checkpoint_every = 2
[search]
algorithm = "tpe"
num_samples = 4
seed = 3
max_concurrent = 1
"""


def test_a_killed_tpe_sweep_resumes_its_search(tmp_path):
    dataset = learnable_dataset(tmp_path / "data")
    (tmp_path / "s.toml").write_text(SEARCH_SWEEP)
    command = [str(Path(sys.executable).with_name("tune-genres")), "sweep", str(tmp_path / "s.toml"),
               "--dataset", str(dataset), "--storage", str(tmp_path / "exps"), "--quiet"]
    env = dict(os.environ, TUNE_GLOBAL_CHECKPOINT_S="1")
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    exp = tmp_path / "exps" / "t"
    kill_driver_mid_sweep(driver, exp, "0001_*/checkpoint_*", 300)
    [first] = exp.glob("0000_*")
    first_rows = (first / "result.json").read_text()
    assert not list(exp.glob("0002_*")), "the sweep was not interrupted mid-way"

    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = read_results(exp)
    assert sorted(name[:4] for name in rows) == ["0000", "0001", "0002", "0003"]  # exactly num_samples, each once
    assert all(r["status"] == "finished" and r["epochs_done"] == "16" for r in rows.values())
    assert (first / "result.json").read_text() == first_rows  # the finished trial was not run again

    # The searcher Tune restored held the trials from before the kill: its study ends with all four,
    # each told the trial's best val_map.
    # One state file per driver session, named by its start time (Tune's sync rewrites them all at
    # the end, so their mtimes say nothing): the killed session's, then the resumed one's.
    states = sorted(exp.glob("searcher-state-*.pkl"))
    assert len(states) == 2, f"expected the killed and the resumed sessions' searcher states: {sorted(p.name for p in exp.iterdir())}"
    with open(states[-1], "rb") as f:
        state = pickle.load(f)
    study = state["_ot_study"]
    told = sorted(round(t.params["lr"], 12) for t in study.trials if t.value is not None)
    assert told == sorted(round(float(r["lr"]), 12) for r in rows.values())
    by_lr = {round(float(r["lr"]), 12): float(r["best_val_map"]) for r in rows.values()}
    assert all(abs(t.value - by_lr[round(t.params["lr"], 12)]) < 1e-9 for t in study.trials)

    # The killed session's journal is the resumed one's: one study, each trial in it once, told its best
    # val_map (a trial drawn after Tune's last snapshot would be there as FAIL: none is, with max_concurrent 1).
    import optuna

    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(exp / "optuna.log")))
    assert [s.study_name for s in optuna.get_all_study_summaries(journal)] == ["t"]
    journaled = optuna.load_study(study_name="t", storage=journal).trials
    assert [t.state.name for t in journaled] == ["COMPLETE"] * 4
    assert sorted((round(t.params["lr"], 12), t.value) for t in journaled) == sorted(by_lr.items())
