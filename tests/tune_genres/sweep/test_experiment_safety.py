"""An experiment is never lost to the way it is run: one driver per experiment, a name that stays
inside --storage, no sweep over a user's folder, Ctrl-C that says what it did (exit 130), a
killed driver's Ray that goes with it, and trials no node could ever hold refused at once.

The lock and the signal handling are checked in milliseconds on their own; the drivers that use
them run as a user runs them (`tune-genres sweep` in a process of its own, on a real local Ray).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataset_builder.errors import BadInput
from support.processes import children_of, interruptible, is_alive, killed_at_exit, wait_for, while_running
from support.sweeps import TUNE_GENRES, learnable_dataset, write_sweep
from support.tiny_dataset import write_tiny_dataset
from tune_genres import cli
from tune_genres.sweep.experiment_lock import LOCK_FILE, experiment_lock
from tune_genres.sweep.interrupt import graceful_interrupt

# ---- one driver per experiment: the lock on its own -------------------------------------------


def test_a_held_lock_refuses_a_second_driver_naming_the_first(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from tune_genres.sweep.experiment_lock import experiment_lock\n"
         "with experiment_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    with killed_at_exit(holder):
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BadInput) as refused:
            with experiment_lock(tmp_path):
                pytest.fail("two drivers held one experiment")
    message = str(refused.value)
    assert f"pid {holder.pid} on host" in message and "another sweep is running" in message
    assert "\n" not in message


def test_the_lock_of_a_driver_that_died_is_taken_over_saying_so(tmp_path):
    # What a SIGKILLed driver leaves: its record in the lock file, the kernel's lock gone with it.
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "node7", "pid": 4242, "since": "2026-12-01 09:00:00 UTC"}))
    notes = []
    with experiment_lock(tmp_path, notify=notes.append):
        held = json.loads((tmp_path / LOCK_FILE).read_text())
        assert held["pid"] == os.getpid()
        fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # the kernel's lock, as another process would meet it
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert len(notes) == 1 and "took over" in notes[0] and "pid 4242 on host node7" in notes[0]
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released in good order: the next driver has nothing to note
    with experiment_lock(tmp_path, notify=notes.append):
        pass
    assert len(notes) == 1


def test_ctrl_c_before_tune_runs_is_kept_and_tune_is_not_asked():
    """A Ctrl-C while Ray starts: remembered, so the driver does not start Tune; no SIGUSR1 yet (Tune
    would not be there to take it)."""
    asked_tune = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: asked_tune.append(True))
    try:
        with graceful_interrupt() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            wait_for(stop.is_set, 5, "the Ctrl-C to be kept", every=0.01)
            time.sleep(0.1)
            assert not asked_tune
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_ctrl_c_asks_tune_for_its_graceful_stop_and_is_remembered():
    asked_tune = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: asked_tune.append(True))
    try:
        with graceful_interrupt() as stop:
            stop.tune_running.set()
            os.kill(os.getpid(), signal.SIGINT)
            wait_for(lambda: asked_tune, 5, "the SIGUSR1 that stops Tune", every=0.01)
            assert stop.is_set()
            with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C: stop now
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # pytest's own, given back
    finally:
        signal.signal(signal.SIGUSR1, previous)


# ---- names and folders, refused before Ray starts ---------------------------------------------


@pytest.fixture
def tiny(tmp_path) -> dict:
    dataset = write_tiny_dataset(tmp_path / "ds")
    sweep = write_sweep(tmp_path / "one.toml", "one", [1e-3], epochs=1)
    return {"dataset": dataset, "sweep": sweep, "storage": tmp_path / "exps"}


def sweep_cli(tiny: dict, *more: str) -> list[str]:
    return ["sweep", str(tiny["sweep"]), "--dataset", str(tiny["dataset"]), "--storage", str(tiny["storage"]),
            "--quiet", *more]


@pytest.mark.parametrize("name", ["../escape", "../../x", "/abs/path", "a/b", "..", ".hidden"])
def test_a_name_that_leaves_storage_is_refused(tiny, name, capsys):
    assert cli.main(sweep_cli(tiny, "--name", name)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tune-genres: error: --name") and "one folder name inside --storage" in err
    assert "\n" not in err
    assert not tiny["storage"].exists() or not any(tiny["storage"].iterdir())
    assert not (tiny["storage"].parent / "escape").exists() and not Path("/abs/path").exists()


def test_a_sweep_files_name_that_leaves_storage_is_refused_naming_the_file(tiny, capsys):
    tiny["sweep"].write_text(tiny["sweep"].read_text().replace("name = 'one'", "name = '../../escape'"))
    assert cli.main(sweep_cli(tiny)) == 2
    err = capsys.readouterr().err
    assert f"{tiny['sweep']}: name = '../../escape'" in err


def test_a_folder_of_the_users_or_a_dataset_is_never_written_into(tiny, capsys):
    users = tiny["storage"] / "mine"
    users.mkdir(parents=True)
    (users / "results.md").write_text("my thesis results\n")
    assert cli.main(sweep_cli(tiny, "--name", "mine")) == 2
    err = capsys.readouterr().err
    assert f"{users}: holds files that are not a tune-genres experiment (results.md)" in err
    assert sorted(p.name for p in users.iterdir()) == ["results.md"]
    assert (users / "results.md").read_text() == "my thesis results\n"

    write_tiny_dataset(tiny["storage"] / "posters")
    before = sorted(p.name for p in (tiny["storage"] / "posters").iterdir())
    assert cli.main(sweep_cli(tiny, "--name", "posters")) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert sorted(p.name for p in (tiny["storage"] / "posters").iterdir()) == before


# ---- drivers as users run them, on a real local Ray -------------------------------------------


def test_a_trial_no_node_can_hold_is_refused_naming_the_largest_node(tiny):
    for flags in (["--cpus-per-trial", "64"], ["--gpus-per-trial", "1"]):
        started = time.monotonic()
        run = subprocess.run([TUNE_GENRES, *sweep_cli(tiny, "--name", "greedy", *flags)], capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 2, run.stderr[-2000:]
        line = run.stderr.strip().splitlines()[-1]
        assert line.startswith("tune-genres: error: a trial asks for") and "--wait-for-resources" in line
        assert re.search(r"the largest has \d+ CPUs and 0 GPUs \(1 node\(s\)\)", line), line
        assert time.monotonic() - started < 90  # refused, not left waiting
        assert not (tiny["storage"] / "greedy").exists()  # the folder it made for the run is gone again


@pytest.fixture(scope="module")
def long_sweep(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("safety")
    dataset = learnable_dataset(root / "data")
    sweep = write_sweep(root / "long.toml", "long", [3e-3], epochs=400, batch_size=4)
    command = [TUNE_GENRES, "sweep", str(sweep), "--dataset", str(dataset), "--storage", str(root / "exps"), "--quiet"]
    return {"command": command, "exp": root / "exps" / "long"}


def start_driver(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=interruptible)


def trial_reported(exp: Path) -> bool:
    return any(p.stat().st_size > 0 for p in exp.glob("*/result.json"))


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        children = children_of(todo.pop())
        found.update(children)
        todo += children
    return found


def trial_process_of(driver: int) -> bool:
    """Whether a trial runs in a worker process under `driver` (Ray names it ray::ImplicitFunc...)."""
    for pid in descendants(driver):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::ImplicitFunc"):
                return True
        except OSError:
            continue
    return False


def test_one_driver_per_experiment_ctrl_c_exits_130_and_a_killed_drivers_ray_goes(long_sweep):
    command, exp = long_sweep["command"], long_sweep["exp"]
    first = start_driver(command)
    with killed_at_exit(first):
        wait_for(while_running(first, lambda: trial_reported(exp)), 180, "the first trial's first epoch")
        # A second driver on the running experiment, as a sweep and as --resume: refused, naming the first.
        for more in ([], ["--resume"]):
            second = subprocess.run(command + more, capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stderr[-2000:]
            assert f"another sweep is running on this experiment (pid {first.pid} on host" in second.stderr
        assert first.poll() is None  # and the first one runs on, untouched

        # Ctrl-C: the state saved, a partial report, a line saying how to go on, exit 130.
        first.send_signal(signal.SIGINT)
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 130, output[-3000:]
    assert output.strip().splitlines()[-1] == (
        f"tune-genres: interrupted; the sweep stopped; its state and a partial report are in {exp}: "
        "run the same command with --resume to finish it")
    assert (exp / "results.md").read_text().splitlines()[2].startswith("**Partial report: the sweep was interrupted.**")

    # SIGKILL: no handler runs, yet every process the driver started goes with it.
    resumed = start_driver(command + ["--resume"])
    with killed_at_exit(resumed):
        wait_for(while_running(resumed, lambda: trial_process_of(resumed.pid)), 180, "the resumed trial's process")
        started = descendants(resumed.pid)
        resumed.kill()
        resumed.wait(timeout=30)
    assert len(started) > 3  # the GCS, the raylet, its agents, the trial's worker
    wait_for(lambda: not any(is_alive(p) for p in started), 30, "the killed driver's Ray processes to end")

    # The dead driver's lock is taken over by the next one, which says so; a Ctrl-C right after (while
    # Ray starts, before Tune runs) stops it too (it was once lost there, and the sweep ran to its end).
    third = start_driver(command + ["--resume"])
    with killed_at_exit(third):
        wait_for(while_running(third, lambda: f'"pid": {third.pid}' in (exp / LOCK_FILE).read_text()), 180,
                 "the third driver to hold the lock")
        third.send_signal(signal.SIGINT)
        output, _ = third.communicate(timeout=120)
    assert f"took over the lock of a driver that is no longer running (pid {resumed.pid} on host" in output
    assert third.returncode == 130, output[-3000:]
    assert output.strip().splitlines()[-1].startswith("tune-genres: interrupted; the sweep stopped;")
