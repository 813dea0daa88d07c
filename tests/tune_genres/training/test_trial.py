"""One trial through run_trial with a plain report function (no Ray): what it chooses, keeps and scores."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from dataset_builder.errors import BadInput
from dataset_builder.store import open_dataset
from support.tiny_dataset import write_tiny_dataset
from tune_genres.cli import main
from tune_genres.results.evaluate import evaluate
from tune_genres.training.checkpoint import load_checkpoint
from tune_genres.training.data import trial_arrays
from tune_genres.training.metrics import compute_metrics, tune_thresholds
from tune_genres.training.predictions import PREDICTIONS_FILE, predictions_from_bytes
from tune_genres.training.trial import run_trial

CONFIG = {
    "lr": 3e-3, "ratio": 30, "loss": "bce", "batch_size": 8, "dropout": 0.5, "seed": 0, "epochs": 6,
    "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "checkpoint_every": 3, "threshold": 0.5,
    "precision": "fp32", "compile": False, "select_metric": "val_map",
}


def train(dataset: Path, out: Path, **changes) -> tuple[list[dict], dict[int, Path]]:
    """Run a trial; returns its reported rows and each reported checkpoint, copied to out/epoch-N."""
    rows, checkpoints = [], {}

    def report(metrics, checkpoint_dir=None):
        rows.append(metrics)
        if checkpoint_dir is not None:
            checkpoints[metrics["epoch"]] = Path(shutil.copytree(checkpoint_dir, out / f"epoch-{metrics['epoch']}"))

    run_trial({**CONFIG, **changes}, trial_arrays(open_dataset(dataset), 30), report)
    return rows, checkpoints


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trial")
    dataset = write_tiny_dataset(root / "ds", count=120)
    rows, checkpoints = train(dataset, root)
    return dataset, rows, checkpoints


def test_the_best_epoch_is_chosen_on_validation_and_its_weights_are_kept(trained):
    _, rows, checkpoints = trained
    val_maps = [r["val_map"] for r in rows]
    best_epoch = int(np.argmax(val_maps)) + 1  # the first of equal scores
    assert rows[-1]["best_epoch"] == best_epoch and rows[-1]["best_val_map"] == max(val_maps)
    state = load_checkpoint(checkpoints[6])
    assert state["best"] == {"epoch": best_epoch, "metric": "val_map", "value": max(val_maps)}
    assert state["best_model"] is not None and len(state["thresholds"]) == 3
    if best_epoch != 6:  # the best weights differ from the last ones
        assert any(not (state["best_model"][k] == state["model"][k]).all() for k in state["model"])


def test_the_test_score_is_the_best_weights_scored_once_as_evaluate_gives_it(trained):
    dataset, rows, checkpoints = trained
    last = rows[-1]
    assert all("test_map" not in r for r in rows[:-1])  # scored once, at the end
    best = evaluate(checkpoints[6], dataset, "test", weights="best")
    assert best["weights"] == "best" and best["epoch"] == last["best_epoch"]
    assert last["test_map"] == pytest.approx(best["metrics"]["map"], abs=1e-6)
    assert last["test_loss"] == pytest.approx(best["loss"], abs=1e-6)
    assert last["test_f1_macro_tuned"] == pytest.approx(best["metrics_tuned"]["f1_macro_tuned"], abs=1e-6)
    latest = evaluate(checkpoints[6], dataset, "test", weights="last")
    assert latest["epoch"] == 6 and last["last_test_map"] == pytest.approx(latest["metrics"]["map"], abs=1e-6)


def test_the_last_row_carries_the_thresholds_tuned_for_the_chosen_weights(trained):
    _, rows, checkpoints = trained
    assert all("thresholds" not in r for r in rows[:-1])
    thresholds = rows[-1]["thresholds"]
    assert len(thresholds) == 3 and all(isinstance(t, float) for t in thresholds)
    assert thresholds == load_checkpoint(checkpoints[6])["thresholds"]


def test_the_last_checkpoint_keeps_the_chosen_weights_probabilities_in_the_splits_row_order(trained):
    dataset, rows, checkpoints = trained
    assert not (checkpoints[3] / PREDICTIONS_FILE).exists()  # chosen weights are scored once, at the end
    kept = predictions_from_bytes((checkpoints[6] / PREDICTIONS_FILE).read_bytes(), "kept")
    ds = open_dataset(dataset)
    assert list(kept["genres"]) == ds.genres
    for split in ("val", "test"):
        assert (kept[f"{split}_rows"] == ds.split(split)).all()
        assert list(kept[f"{split}_ids"]) == [str(i) for i in np.asarray(ds.ids)[ds.split(split)]]
        assert (kept[f"{split}_labels"] == ds.labels[ds.split(split)]).all()
        assert kept[f"{split}_probs"].dtype == np.float32 and kept[f"{split}_probs"].shape == (len(ds.split(split)), 3)
    # They are what chose and what was scored: the best epoch's val_map, the test scores, the thresholds.
    assert compute_metrics(kept["val_probs"], kept["val_labels"])["map"] == rows[-1]["best_val_map"]
    assert compute_metrics(kept["test_probs"], kept["test_labels"])["map"] == pytest.approx(rows[-1]["test_map"], abs=1e-12)
    assert tune_thresholds(kept["val_probs"], kept["val_labels"]).tolist() == rows[-1]["thresholds"]


def test_a_resumed_trial_s_best_weights_are_read_onto_the_cpu_wherever_the_rest_goes(trained):
    _, _, checkpoints = trained
    # The meta device stands in for a GPU: a trial loads its checkpoint onto its own device.
    state = load_checkpoint(checkpoints[3], map_location="meta")
    assert {t.device.type for t in state["model"].values()} == {"meta"}
    assert {t.device.type for t in state["best_model"].values()} == {"cpu"}


def test_a_lower_is_better_select_metric_picks_the_lowest(trained, tmp_path):
    dataset, _, _ = trained
    rows, _ = train(dataset, tmp_path, select_metric="val_loss", epochs=4)
    losses = [r["val_loss"] for r in rows]
    assert rows[-1]["best_epoch"] == int(np.argmin(losses)) + 1 and rows[-1]["best_val_loss"] == min(losses)


def test_a_trial_that_never_scores_a_finite_value_reports_nan_not_minus_one(trained, tmp_path):
    dataset, _, _ = trained
    # An infinite learning rate: the first step makes every weight non-finite, every score NaN.
    with pytest.warns(UserWarning, match="not finite"):
        rows, _ = train(dataset, tmp_path, lr=float("inf"), epochs=2)
    assert all(math.isnan(r["val_map"]) for r in rows)
    assert rows[-1]["best_epoch"] == 0 and math.isnan(rows[-1]["best_val_map"]) and math.isnan(rows[-1]["test_map"])


def test_resuming_from_a_checkpoint_keeps_the_best_epoch_found_before_it(trained, tmp_path):
    dataset, rows, checkpoints = trained
    resumed_rows = []
    run_trial(CONFIG, trial_arrays(open_dataset(dataset), 30),
              lambda metrics, checkpoint_dir=None: resumed_rows.append(metrics), resume=load_checkpoint(checkpoints[3]))
    assert [r["epoch"] for r in resumed_rows] == [4, 5, 6]
    assert resumed_rows[-1]["best_epoch"] == rows[-1]["best_epoch"]
    assert resumed_rows[-1]["test_map"] == pytest.approx(rows[-1]["test_map"], abs=1e-6)


def test_evaluate_refuses_posters_the_checkpoint_was_trained_on(trained, tmp_path, capsys):
    _, _, checkpoints = trained
    # The same titles rebuilt with another split: some of its test posters were training posters.
    rebuilt = write_tiny_dataset(tmp_path / "rebuilt", count=120, seed=1)
    with pytest.raises(BadInput, match=r"posters of split test were in checkpoint .*'s training split"):
        evaluate(checkpoints[6], rebuilt, "test")
    assert main(["evaluate", str(checkpoints[6]), str(rebuilt)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--allow-train-overlap" in err
    assert evaluate(checkpoints[6], rebuilt, "test", allow_train_overlap=True)["count"] == 24
    assert evaluate(checkpoints[6], rebuilt, "train")["split"] == "train"


def test_a_checkpoint_without_fingerprints_still_evaluates_and_says_the_check_was_skipped(trained, tmp_path):
    import torch

    dataset, _, checkpoints = trained
    old = tmp_path / "old"
    old.mkdir()
    state = torch.load(checkpoints[6] / "checkpoint.pt", weights_only=True)
    for key in ("train_ids", "dataset_fingerprint", "sweep_fingerprint"):
        del state["meta"][key]
    for key in ("best_model", "thresholds"):
        del state[key]
    torch.save(state, old / "checkpoint.pt")
    result = evaluate(old, dataset, "test")
    assert result["weights"] == "last" and result["epoch"] == 6
    assert any("check that no scored poster was trained on was skipped" in n for n in result["notes"])
    assert any("tuned now" in n for n in result["notes"])


def test_predict_uses_the_thresholds_tuned_on_validation_and_says_so(trained, tmp_path):
    from PIL import Image

    from tune_genres.results.predict import describe_checkpoint, predict

    _, _, checkpoints = trained
    path = tmp_path / "poster.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (268, 182, 3), dtype=np.uint8)).save(path)
    meta, predictions, failures = predict(checkpoints[6], [path])
    thresholds = load_checkpoint(checkpoints[6])["thresholds"]
    assert not failures and meta["weights"] == "best" and meta["thresholds"] == thresholds
    assert "per-genre thresholds tuned on validation: Horror" in describe_checkpoint(checkpoints[6], meta)
    by_genre = dict(zip(meta["genres"], thresholds))
    assert predictions[0].predicted == [g for g, p in predictions[0].genres if p >= by_genre[g]]
