"""A real tiny sweep (ASHA stops some trials: the driver scores those) -> its trials' kept
predictions -> `tune-genres ensemble` -> `evaluate` and `predict` on the ensemble folder, each
checked against its members' probabilities computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset_builder.images import open_poster, resize_all
from dataset_builder.store import open_dataset
from support.sweeps import learnable_dataset
from tune_genres.cli import main
from tune_genres.results.ensemble import ENSEMBLE_FILE
from tune_genres.training.checkpoint import load_model
from tune_genres.training.data import ResidentSplit
from tune_genres.training.loop import predict_split
from tune_genres.training.metrics import compute_metrics, tune_thresholds, tuned_metrics
from tune_genres.training.predictions import PREDICTIONS_FILE, predictions_from_bytes

SWEEP = """
name = "ens"
[grid]
lr = [3e-3, 1e-3, 1e-5]
ratio = [30, 44]
[train]
loss = "bce"
epochs = 3
checkpoint_every = 3
batch_size = 16
[scheduler]
type = "asha"
grace_period = 1
reduction_factor = 2
"""


@pytest.fixture(scope="module")
def swept(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("ensemble-sweep")
    dataset = learnable_dataset(root, count=120, ratios=(30, 44))
    (root / "ens.toml").write_text(SWEEP)
    assert main(["sweep", str(root / "ens.toml"), "--dataset", str(dataset), "--storage", str(root / "exps"), "--quiet"]) == 0
    return dataset, root / "exps" / "ens"


def kept(trial: Path) -> dict:
    return predictions_from_bytes((trial / PREDICTIONS_FILE).read_bytes(), str(trial))


def probabilities_by_hand(checkpoint: str, dataset, rows: np.ndarray) -> np.ndarray:
    """A member's best weights' probabilities on the dataset's rows at its own ratio, without evaluate."""
    model, meta = load_model(checkpoint, "cpu", "best")
    split = ResidentSplit.from_indices(dataset.images(meta["ratio"]), dataset.labels, rows, "cpu")
    return predict_split(model, split, meta["loss"])[1]


def test_every_scored_trial_keeps_its_chosen_weights_predictions_beside_its_record(swept):
    dataset, exp = swept
    ds = open_dataset(dataset)
    records = [json.loads(p.read_text()) for p in exp.glob("*/trial.json")]
    assert {r["test_scored_by"] for r in records} == {"trial", "driver"}  # both ways of scoring were taken
    for record in records:
        assert record["predictions"] == PREDICTIONS_FILE
        predictions = kept(exp / record["trial"])
        assert (predictions["val_rows"] == ds.split("val")).all() and (predictions["test_rows"] == ds.split("test")).all()
        # What the record's scores and thresholds came from, whoever scored them.
        assert compute_metrics(predictions["test_probs"], predictions["test_labels"])["map"] == pytest.approx(
            record["scores"]["test_map"], abs=1e-9)
        assert tune_thresholds(predictions["val_probs"], predictions["val_labels"]).tolist() == pytest.approx(
            record["thresholds"])


def test_ensemble_then_evaluate_and_predict_score_the_weighted_mean_of_the_members(swept, tmp_path, capsys):
    dataset, exp = swept
    ds = open_dataset(dataset)
    assert main(["ensemble", str(exp), "--size", "4", "--bootstrap", "0"]) == 0
    ensemble = json.loads((exp / "ensemble" / ENSEMBLE_FILE).read_text())
    assert ensemble["val_score"] >= ensemble["best_single"]["val_score"]
    capsys.readouterr()

    # Evaluate takes the folder as it takes a checkpoint; by hand: each member's checkpoint at its
    # ratio, on the test rows, at its weight. The thresholds were tuned on the ensemble's validation.
    assert main(["evaluate", str(exp / "ensemble"), str(dataset), "--bootstrap", "0", "--out", str(tmp_path / "e.json"),
                 "--device", "cpu"]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    test_rows = np.asarray(ds.split("test"))
    by_hand = sum(m["weight"] * probabilities_by_hand(m["checkpoint"], ds, test_rows) for m in ensemble["members"])
    labels = np.asarray(ds.labels)[test_rows]
    assert result["metrics"] == pytest.approx(compute_metrics(by_hand, labels), abs=1e-9)
    assert result["metrics_tuned"] == pytest.approx(tuned_metrics(by_hand, labels, np.asarray(ensemble["thresholds"])))
    assert result["metrics"] == pytest.approx(ensemble["test"]["ensemble"]["metrics"], abs=1e-6)  # what it reported
    assert capsys.readouterr().out.startswith(f"ensemble {exp / 'ensemble'}: the mean of {len(ensemble['members'])} trials'")

    # Members at two ratios, at weights of a hand's choosing: each is scored at its own size.
    trials = {json.loads(p.read_text())["config"]["ratio"]: json.loads(p.read_text()) for p in exp.glob("*/trial.json")}
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    members = [{**ensemble["members"][0], "trial": trials[r]["trial"], "checkpoint": trials[r]["checkpoint"],
                "ratio": r, "weight": w} for r, w in ((30, 0.25), (44, 0.75))]
    (mixed / ENSEMBLE_FILE).write_text(json.dumps({**ensemble, "members": members}))
    result = json_of_evaluate(mixed, dataset, tmp_path / "mixed.json", "val")
    val_rows = np.asarray(ds.split("val"))
    by_hand = sum(m["weight"] * probabilities_by_hand(m["checkpoint"], ds, val_rows) for m in members)
    assert result["metrics"] == pytest.approx(compute_metrics(by_hand, np.asarray(ds.labels)[val_rows]), abs=1e-9)
    # ... the very probabilities the trials' records keep (their val rows, in the same order).
    recorded = sum(m["weight"] * kept(exp / m["trial"])["val_probs"].astype(np.float64) for m in members)
    assert np.allclose(by_hand, recorded, atol=1e-6)

    # predict: each member resizes the poster to its own size; the mean at the ensemble's weights.
    poster = tmp_path / "poster.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (268, 182, 3), dtype=np.uint8)).save(poster)
    capsys.readouterr()
    assert main(["predict", str(mixed), str(poster), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"ensemble {mixed}: the mean of 2 trials' probabilities")
    shown = dict(pair.rsplit(" ", 1) for pair in printed[1].split(": ", 1)[1].split(" -> ")[0].split(", "))
    expected = np.zeros(len(ds.genres))
    for m in members:
        model, meta = load_model(m["checkpoint"], "cpu", "best")
        pixels = resize_all(open_poster(poster), [tuple(meta["size"])])[0][None]
        split = ResidentSplit.from_indices(pixels, np.zeros((1, len(ds.genres))), np.arange(1), "cpu")
        expected += m["weight"] * predict_split(model, split, meta["loss"])[1][0]
    assert {g: float(p) for g, p in shown.items()} == pytest.approx(dict(zip(ds.genres, expected)), abs=6e-4)


def json_of_evaluate(folder: Path, dataset: Path, out: Path, split: str) -> dict:
    assert main(["evaluate", str(folder), str(dataset), "--split", split, "--bootstrap", "0", "--out", str(out),
                 "--device", "cpu"]) == 0
    return json.loads(out.read_text())
