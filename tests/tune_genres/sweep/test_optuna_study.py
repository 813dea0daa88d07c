"""A TPE sweep's Optuna study in its experiment (optuna.log, a journal): ASHA's cuts in it as PRUNED
with their epochs, the rest COMPLETE; a restored searcher goes on in the same journal without
telling a trial twice; a warm-started sweep's study begins with an earlier experiment's trials and
trains only its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from support.sweeps import learnable_dataset, read_results
from tune_genres.cli import main
from tune_genres.results.location import location
from tune_genres.sweep.optuna_study import STUDY_FILE, StudyJournal, journaled_searcher
from tune_genres.sweep.search import search_algorithm, searched_space
from tune_genres.sweep.sweep_file import Sweep

TPE_ASHA = """
name = "{name}"
[space]
lr = {{loguniform = [{low}, 3e-2]}}
ratio = [30]
[train]
loss = "bce"
epochs = 4
checkpoint_every = 2
batch_size = 16
[search]
algorithm = "tpe"
num_samples = {samples}
seed = 1
max_concurrent = 1
[scheduler]
type = "asha"
grace_period = 1
reduction_factor = 2
"""


def load_study(exp: Path, name: str | None = None):
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(exp / STUDY_FILE)))
    return optuna.load_study(study_name=name or exp.name, storage=storage)


def trial_records(exp: Path) -> dict[float, dict]:
    """Each trial's record by its lr, rounded (how a study's trial is matched with it)."""
    return {round(r["config"]["lr"], 12): r for r in (json.loads(p.read_text()) for p in exp.glob("*/trial.json"))}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return learnable_dataset(tmp_path_factory.mktemp("study-data"))


@pytest.fixture(scope="module")
def first(dataset, ray_local, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    (root / "first.toml").write_text(TPE_ASHA.format(name="first", low="1e-5", samples=6))
    assert main(["sweep", str(root / "first.toml"), "--dataset", str(dataset), "--storage", str(root / "exps"), "--quiet"]) == 0
    return root / "exps" / "first"


def test_the_study_on_disk_holds_ashas_cuts_as_pruned_with_their_epochs_and_the_rest_complete(first):
    from optuna.trial import TrialState

    study = load_study(first)
    records = trial_records(first)
    assert len(study.trials) == len(records) == 6  # one Optuna trial per trial, none twice
    states = []
    for trial in study.trials:
        record = records[round(trial.params["lr"], 12)]
        states.append(trial.state)
        assert trial.intermediate_values == {row["epoch"]: row["best_val_map"] for row in record["rows"]}
        if record["status"] == "stopped early":
            assert trial.state == TrialState.PRUNED and record["epochs_done"] < 4
        else:
            assert record["status"] == "finished" and trial.state == TrialState.COMPLETE
            assert trial.value == record["best_value"]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states, states


def test_a_warm_started_sweep_begins_with_the_earlier_trials_that_fit_and_trains_only_its_own(first, dataset, tmp_path, capsys):
    from optuna.trial import TrialState

    exps = first.parent
    # A narrower space: the earlier trials with an lr below it are listed and skipped.
    sweep_file = tmp_path / "second.toml"
    sweep_file.write_text(TPE_ASHA.format(name="second", low="1e-3", samples=2))
    capsys.readouterr()
    assert main(["sweep", str(sweep_file), "--dataset", str(dataset), "--storage", str(exps), "--quiet",
                 "--warm-start", "first"]) == 0
    said = capsys.readouterr().err
    second = exps / "second"

    earlier = trial_records(first)
    fitting = {lr: r for lr, r in earlier.items() if lr >= 1e-3}
    assert 0 < len(fitting) < len(earlier), "the test wants trials on both sides of the narrower space"
    line = next(line for line in said.splitlines() if line.startswith("tune-genres: warm start:"))
    assert line.startswith(f"tune-genres: warm start: {len(fitting)} trials of {first} enter the study; "
                           f"{len(earlier) - len(fitting)} skipped, not fitting this sweep: ")
    assert "outside this space" in line

    study = load_study(second)
    warm = [t for t in study.trials if "warm_start" in t.user_attrs]
    own = [t for t in study.trials if "warm_start" not in t.user_attrs]
    assert [t.number for t in warm] == list(range(len(fitting)))  # they came first, before any draw
    for trial in warm:
        record = fitting[round(trial.params["lr"], 12)]
        assert trial.user_attrs["warm_start"] == f"{first}/{record['trial']}"
        assert trial.state == (TrialState.COMPLETE if record["status"] == "finished" else TrialState.PRUNED)
        assert trial.intermediate_values == {row["epoch"]: row["best_val_map"] for row in record["rows"]}
    assert len(own) == 2 and all(t.state.is_finished() for t in own)

    rows = read_results(second)  # num_samples trials trained here, and only they
    assert len(rows) == 2 and len(list(second.glob("000*_*"))) == 2
    assert json.loads((second / "experiment.json").read_text())["warm_start"] == [
        {"experiment": str(first), "trials": len(fitting)}]
    assert f"The search was warm-started from {len(fitting)} trials of {first}" in (second / "results.md").read_text()


SPACE = {"lr": {"loguniform": [1e-4, 1e-2]}, "ratio": [30]}


SWEEP = Sweep.from_dict({"space": SPACE, "train": {"epochs": 4}, "search": {"algorithm": "tpe"}})


def searcher_in(exp: Path, started: bool = True):
    """The driver's searcher for a TPE sweep in `exp`; `started`: as Tune starts it (its study opened)."""
    algorithm = search_algorithm(SWEEP, 1, StudyJournal(location(exp)))
    if started:
        algorithm.set_search_properties("best_val_map", "max", searched_space(SWEEP))
    return algorithm


def report(searcher, trial_id: str, epochs: int, end: bool = True) -> None:
    """A trial as Tune hands it to the searcher: drawn, its epochs, and (if `end`) its end: the 4th epoch finishes it."""
    searcher.suggest(trial_id)
    for epoch in range(1, epochs + 1):
        searcher.on_trial_result(trial_id, {"best_val_map": epoch / 10, "training_iteration": epoch})
    if end:
        searcher.on_trial_complete(trial_id, {"best_val_map": epochs / 10, "epoch": epochs, "config/epochs": 4,
                                              "training_iteration": epochs})


def test_a_restored_searcher_goes_on_in_the_journal_telling_no_trial_twice(tmp_path):
    """Tune restores the searcher from its last snapshot, which the journal may have outrun: a trial
    that ended after it is not told again when Tune trains it again, one drawn after it (which Tune
    forgets) is closed as FAIL, and the study goes on with the next trials."""
    from optuna.trial import TrialState

    exp = tmp_path / "exp"
    exp.mkdir()
    searcher = searcher_in(exp)
    report(searcher, "a", 4)
    report(searcher, "b", 1)
    report(searcher, "c", 2, end=False)
    staging = tmp_path / "staging"  # Tune's driver staging folder
    staging.mkdir()
    searcher.save_to_dir(str(staging), "before")
    assert not (staging / STUDY_FILE).exists()  # a local experiment's journal is the experiment's own file
    searcher.on_trial_complete("c", {"best_val_map": 0.2, "epoch": 2, "config/epochs": 4, "training_iteration": 2})
    searcher.suggest("d")

    resumed = searcher_in(exp, started=False)  # as Tune pickled it into tuner.pkl at the start
    moved = tmp_path / "moved"  # the experiment moved between the sessions: the study goes where it went
    os.rename(exp, moved)
    journaled_searcher(resumed).journal = StudyJournal(location(moved))  # the driver's rebinding
    resumed.set_search_properties("best_val_map", "max", searched_space(SWEEP))  # Tune starts it...
    resumed.restore_from_dir(str(staging))  # ...then restores it from the snapshot
    report(resumed, "c", 2)
    report(resumed, "e", 4)

    study = load_study(moved, "exp")
    assert [(t.state, t.intermediate_values) for t in study.trials] == [
        (TrialState.COMPLETE, {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}),
        (TrialState.PRUNED, {1: 0.1}),
        (TrialState.PRUNED, {1: 0.1, 2: 0.2}),
        (TrialState.FAIL, {}),
        (TrialState.COMPLETE, {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}),
    ]


def test_resuming_a_tpe_sweep_whose_journal_is_gone_is_one_line(first, dataset, tmp_path, capsys):
    import shutil

    copy = tmp_path / "exps" / "copy"
    shutil.copytree(first, copy)
    (copy / STUDY_FILE).unlink()
    (tmp_path / "first.toml").write_text(TPE_ASHA.format(name="first", low="1e-5", samples=6))
    capsys.readouterr()
    assert main(["sweep", str(tmp_path / "first.toml"), "--dataset", str(dataset), "--storage", str(tmp_path / "exps"),
                 "--name", "copy", "--resume", "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"tune-genres: error: --resume: {copy / STUDY_FILE} is missing, and the TPE study goes on in it; restore it "
        "from a copy of the experiment, or start a new experiment with --name")
