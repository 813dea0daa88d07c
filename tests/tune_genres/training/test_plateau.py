"""Stopping on a plateau ([scheduler] patience): the rule alone, then a trial that follows it, with
its epochs' validation scores scripted so that the plateau falls where the test says."""

from __future__ import annotations

import pytest

from dataset_builder.store import open_dataset
from support.tiny_dataset import write_tiny_dataset
from tune_genres.results.trial_record import add_result, ended, new_record
from tune_genres.training import trial as trial_module
from tune_genres.training.checkpoint import load_checkpoint
from tune_genres.training.data import trial_arrays
from tune_genres.training.selection import STOPPED_ON_PLATEAU, plateaued

CONFIG = {
    "lr": 1e-3, "ratio": 30, "loss": "bce", "batch_size": 8, "dropout": 0.5, "seed": 0, "epochs": 8,
    "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "checkpoint_every": 8, "threshold": 0.5,
    "precision": "fp32", "compile": False, "select_metric": "val_map", "patience": 3,
}


@pytest.mark.parametrize("epoch, best_epoch, patience, stops", [
    (5, 2, 3, True),  # three epochs after its best, none better
    (4, 2, 3, False),
    (9, 9, 1, False),  # this epoch is the best
    (2, 0, 2, True),  # never a finite score: counted from the start
    (40, 1, None, False),  # no patience: never
])
def test_a_trial_plateaus_once_patience_epochs_pass_without_a_better_score(epoch, best_epoch, patience, stops):
    assert plateaued(epoch, best_epoch, patience) is stops


def test_a_trial_stops_on_its_plateau_keeps_its_best_epoch_and_scores_test_there(tmp_path, monkeypatch):
    # Epoch 4 only equals epoch 2's score: equal is no improvement, so epochs 3, 4 and 5 are the plateau.
    scripted = {1: 0.3, 2: 0.5, 3: 0.4, 4: 0.5, 5: 0.45, 6: 0.9}

    def scripted_epoch(trial, epoch):
        return {"epoch": epoch, "val_map": scripted[epoch]}

    monkeypatch.setattr(trial_module, "train_epoch", scripted_epoch)
    rows, checkpoints = [], {}

    def report(metrics, checkpoint_dir=None):
        rows.append(metrics)
        if checkpoint_dir is not None:
            checkpoints[metrics["epoch"]] = load_checkpoint(checkpoint_dir)

    dataset = open_dataset(write_tiny_dataset(tmp_path / "ds"))
    trial_module.run_trial(CONFIG, trial_arrays(dataset, 30), report)

    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    last = rows[-1]
    assert last[STOPPED_ON_PLATEAU] is True and all(STOPPED_ON_PLATEAU not in r for r in rows[:-1])
    assert last["best_epoch"] == 2 and last["best_val_map"] == 0.5
    assert "test_map" in last and all("test_map" not in r for r in rows[:-1])  # scored once, at the stop
    assert list(checkpoints) == [5] and checkpoints[5]["best"]["epoch"] == 2 and len(checkpoints[5]["thresholds"]) == 3

    record = new_record("t", CONFIG)
    for row in rows:
        add_result(record, row)
    ended(record, errored=False)
    assert record["status"] == "stopped on plateau" and record["test_scored_by"] == "trial"


def test_without_patience_the_same_scores_train_every_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr(trial_module, "train_epoch", lambda trial, epoch: {"epoch": epoch, "val_map": 0.5})
    rows = []
    dataset = open_dataset(write_tiny_dataset(tmp_path / "ds"))
    trial_module.run_trial({**CONFIG, "patience": None, "epochs": 4}, trial_arrays(dataset, 30),
                           lambda metrics, checkpoint_dir=None: rows.append(metrics))
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and STOPPED_ON_PLATEAU not in rows[-1]
