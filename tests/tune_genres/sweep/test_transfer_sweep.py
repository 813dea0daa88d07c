"""Sweeps of pretrained backbones through the driver: frozen bodies' features computed once and
kept beside the dataset, weights checked before Ray starts, and every model's size checked."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from support.sweeps import learnable_dataset
from tune_genres.cli import main

HEADS = """
[grid]
lr = [1e-2, 1e-3]
ratio = [30]
model = ["efficientnet_lite0"]
[train]
weights = "imagenet"
freeze = "backbone"
loss = "bce"
epochs = 3
batch_size = 16
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return learnable_dataset(tmp_path_factory.mktemp("transfer-data"), count=80)


def sweep(path: Path, dataset: Path, storage: Path, name: str) -> int:
    return main(["sweep", str(path), "--dataset", str(dataset), "--storage", str(storage), "--name", name, "--quiet"])


def test_frozen_heads_train_on_features_computed_once_and_kept_beside_the_dataset(dataset, ray_local, tmp_path, capsys):
    (tmp_path / "heads.toml").write_text(HEADS)
    assert sweep(tmp_path / "heads.toml", dataset, tmp_path / "exps", "first") == 0
    kept = list((dataset / "features").glob("efficientnet_lite0-imagenet-r30-x1-*.npy"))
    assert len(kept) == 1 and "efficientnet_lite0 features of 66 posters at ratio 30 x1: 1280 each" in capsys.readouterr().err
    written = kept[0].stat().st_mtime_ns
    with open(tmp_path / "exps" / "first" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {(r["model"], r["weights"], r["freeze"]) for r in rows} == {("efficientnet_lite0", "imagenet", "backbone")}
    assert all(r["status"] == "finished" and float(r["test_map"]) > 0 for r in rows)
    checkpoint = next((tmp_path / "exps" / "first").glob("lr=1e-2,r=30/checkpoint_*"))
    assert main(["evaluate", str(checkpoint), str(dataset)]) == 0  # a head-only checkpoint, the body put back

    assert sweep(tmp_path / "heads.toml", dataset, tmp_path / "exps", "second") == 0
    assert f"efficientnet_lite0 features at ratio 30 x1 from {kept[0]}" in capsys.readouterr().err
    assert kept[0].stat().st_mtime_ns == written


def test_weights_not_on_this_machine_stop_the_sweep_before_ray_naming_the_command(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    (tmp_path / "s.toml").write_text(HEADS.replace("efficientnet_lite0", "resnet18"))
    assert sweep(tmp_path / "s.toml", dataset, tmp_path / "exps", "x") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith("get them with: tune-genres weights fetch resnet18")
    assert not (tmp_path / "exps").exists()


def test_a_ratio_too_small_for_a_model_stops_the_sweep_before_ray(dataset, tmp_path, capsys):
    (tmp_path / "s.toml").write_text("[grid]\nlr = [1e-3]\nratio = [30]\nmodel = ['resnet18']\ninput_scale = [1.0, 0.5]\n")
    assert sweep(tmp_path / "s.toml", dataset, tmp_path / "exps", "x") == 2
    err = capsys.readouterr().err.strip()
    assert "ratio 30: resnet18 needs at least 32 pixels a side, and 55x80 x input_scale 0.5 gives 27" in err  # 27.5 floored: what the network gets
    assert len(err.splitlines()) == 1 and not (tmp_path / "exps").exists()


def test_augmenting_a_frozen_body_says_it_turns_the_feature_cache_off(tmp_path):
    from tune_genres import Sweep
    from tune_genres.sweep.trial_inputs import cached_keys, uncached_notes

    heads = {"grid": {"lr": [1e-3], "ratio": [30]},
             "train": {"model": "efficientnet_lite0", "weights": "imagenet", "freeze": "backbone", "loss": "bce"}}
    assert cached_keys(Sweep.from_dict(heads)) == [("efficientnet_lite0", 30, 1.0)] and uncached_notes(Sweep.from_dict(heads)) == []
    flipped = Sweep.from_dict({**heads, "train": {**heads["train"], "augment": "flip"}})
    assert cached_keys(flipped) == [] and "no cached features for them" in uncached_notes(flipped)[0]


def test_heads_asha_stopped_keep_their_predictions_and_ensemble_with_their_bodies_put_back(dataset, ray_local, tmp_path, capsys):
    import json

    from tune_genres.training.metrics import compute_metrics
    from tune_genres.training.predictions import PREDICTIONS_FILE, predictions_from_bytes

    (tmp_path / "heads.toml").write_text(
        HEADS.replace("lr = [1e-2, 1e-3]", "lr = [1e-2, 1e-3, 1e-4, 1e-5]").replace("epochs = 3", "epochs = 4")
        + "checkpoint_every = 2\n[scheduler]\ntype = 'asha'\ngrace_period = 1\nreduction_factor = 2\n")
    assert sweep(tmp_path / "heads.toml", dataset, tmp_path / "exps", "heads") == 0
    exp = tmp_path / "exps" / "heads"
    records = [json.loads(p.read_text()) for p in exp.glob("*/trial.json")]
    assert {r["test_scored_by"] for r in records} == {"trial", "driver"}  # the driver scored heads on the cached features
    for record in records:
        kept = predictions_from_bytes((exp / record["trial"] / record["predictions"]).read_bytes(), record["trial"])
        assert record["predictions"] == PREDICTIONS_FILE
        assert compute_metrics(kept["test_probs"], kept["test_labels"])["map"] == pytest.approx(record["scores"]["test_map"], abs=1e-6)
    assert main(["ensemble", str(exp), "--size", "3", "--bootstrap", "0"]) == 0
    ensemble = json.loads((exp / "ensemble" / "ensemble.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(exp / "ensemble"), str(dataset), "--bootstrap", "0", "--out", str(tmp_path / "e.json")]) == 0
    evaluated = json.loads((tmp_path / "e.json").read_text())
    # The heads' bodies put back score the posters as the cached features did: the test scores the ensemble reported.
    assert evaluated["metrics"] == pytest.approx(ensemble["test"]["ensemble"]["metrics"], abs=1e-4)
