"""Pretrained backbones through run_trial with a plain report (no Ray): a head trained on cached
features is the frozen network's trial exactly; what a checkpoint of either holds evaluates as the
trial scored it; the fine-tuning knobs (backbone_lr_scale, AdamW, the schedule, pos_weight)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dataset_builder.store import open_dataset
from support.tiny_dataset import write_tiny_dataset
from tune_genres.models.pretrained import load_imagenet_weights
from tune_genres.models.registry import create_model, load_body_weights
from tune_genres.results.evaluate import evaluate
from tune_genres.training.checkpoint import load_checkpoint
from tune_genres.training.data import trial_arrays
from tune_genres.training.features import extract_features
from tune_genres.training.loop import lr_factor, make_optimizer
from tune_genres.training.losses import balanced_pos_weight, loss_fn
from tune_genres.training.predictions import PREDICTIONS_FILE, predictions_from_bytes
from tune_genres.training.trial import run_trial

CONFIG = {
    "lr": 1e-2, "ratio": 30, "loss": "bce", "batch_size": 8, "dropout": 0.5, "seed": 0, "epochs": 3,
    "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "checkpoint_every": 3, "threshold": 0.5,
    "precision": "fp32", "compile": False, "select_metric": "val_map",
    "model": "efficientnet_lite0", "weights": "imagenet", "freeze": "backbone",
}


def train(arrays: dict, out: Path, **changes) -> tuple[list[dict], Path]:
    """A trial's reported rows and its last checkpoint, copied to `out`."""
    rows, kept = [], []

    def report(metrics, checkpoint_dir=None):
        rows.append(metrics)
        if checkpoint_dir is not None:
            shutil.rmtree(out, ignore_errors=True)
            kept.append(Path(shutil.copytree(checkpoint_dir, out)))

    run_trial({**CONFIG, **changes}, arrays, report)
    return rows, kept[-1]


@pytest.fixture(scope="module")
def posters(tmp_path_factory):
    dataset = write_tiny_dataset(tmp_path_factory.mktemp("transfer") / "ds", count=60)
    return dataset, trial_arrays(open_dataset(dataset), 30)


def feature_arrays(arrays: dict, model: str = "efficientnet_lite0") -> dict:
    """The trial's arrays with `model`'s ImageNet features of its posters in place of the posters."""
    network = create_model(model, len(arrays["genres"]), 80, 55, frozen=True)
    load_body_weights(network, load_imagenet_weights(model))
    features = extract_features(network, arrays["images"])
    return {k: v for k, v in arrays.items() if k != "images"} | {"features": features, "size": [55, 80]}


def scores(rows: list[dict]) -> list[float]:
    return [r["train_loss"] for r in rows] + [r["val_map"] for r in rows] + [rows[-1]["test_map"]]


def test_a_head_on_cached_features_trains_exactly_as_the_frozen_network(posters, tmp_path):
    dataset, arrays = posters
    cached_rows, cached = train(feature_arrays(arrays), tmp_path / "cached")
    whole_rows, whole = train(arrays, tmp_path / "whole")
    assert scores(cached_rows) == pytest.approx(scores(whole_rows), rel=1e-4, abs=1e-5)
    # The cached trial's checkpoint holds the head alone; evaluate puts the ImageNet body back under it.
    state = load_checkpoint(cached)
    assert state["meta"]["holds"] == "head" and set(state["model"]) == {"1.weight", "1.bias"}
    for checkpoint in (cached, whole):
        result = evaluate(checkpoint, dataset, "test")
        assert result["metrics"]["map"] == pytest.approx(cached_rows[-1]["test_map"], abs=1e-5)


def test_a_frozen_body_keeps_its_imagenet_weights_and_statistics(posters, tmp_path):
    _, arrays = posters
    _, checkpoint = train(arrays, tmp_path / "frozen", augment="flip")
    imagenet = load_imagenet_weights("efficientnet_lite0")
    trained = load_checkpoint(checkpoint)["model"]
    for key in ("body.conv_stem.weight", "body.bn1.running_mean", "body.blocks.6.0.bn3.running_var"):
        assert torch.equal(trained[key], imagenet[key.removeprefix("body.")])


def test_fine_tuning_moves_the_body_at_its_own_learning_rate(posters, tmp_path):
    _, arrays = posters
    model = create_model("efficientnet_lite0", 3, 80, 55)
    optimizer = make_optimizer(model, 1e-3, optimizer="adamw", weight_decay=0.05, backbone_lr_scale=0.1)
    assert [g["lr"] for g in optimizer.param_groups] == [pytest.approx(1e-4), 1e-3]
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["weight_decay"] == 0.05
    rows, checkpoint = train(arrays, tmp_path / "tuned", freeze="none", lr=1e-3, backbone_lr_scale=0.1, epochs=1)
    trained = load_checkpoint(checkpoint)["model"]
    assert not torch.equal(trained["body.conv_stem.weight"], load_imagenet_weights("efficientnet_lite0")["conv_stem.weight"])


def test_the_study_s_optimizer_is_unchanged_by_default():
    model = create_model("minivgg", 3, 80, 55)
    optimizer = make_optimizer(model, 1e-3)
    assert type(optimizer) is torch.optim.Adam and len(optimizer.param_groups) == 1
    group = optimizer.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (1e-3, (0.9, 0.999), 1e-8, 0.0)
    assert [lr_factor(e, 50) for e in (1, 25, 50)] == [1.0, 1.0, 1.0]


def test_warm_up_then_cosine():
    factors = [lr_factor(e, 6, "cosine", warmup_epochs=2) for e in range(1, 7)]
    assert factors[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert factors[2] > factors[3] > factors[4] > factors[5] > 0
    assert [lr_factor(e, 6, "constant", warmup_epochs=1) for e in (1, 2, 6)] == [0.5, 1.0, 1.0]


def test_balanced_pos_weight_weighs_each_genre_by_its_negatives_per_positive():
    labels = np.array([[1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 1, 1]])
    assert balanced_pos_weight(labels).tolist() == [3.0, 3.0, 1.0]  # the last: no negatives, weight 1
    logits, targets = torch.zeros(2, 3), torch.tensor([[1.0, 0, 0], [0, 0, 0]])
    plain, weighted = loss_fn("bce")(logits, targets), loss_fn("bce", torch.tensor([3.0, 1, 1]))(logits, targets)
    assert weighted.item() == pytest.approx(plain.item() * 8 / 6)  # one positive term of 6 counts 3 times
    with pytest.raises(ValueError, match="cce"):
        loss_fn("cce", torch.ones(3))


def test_a_resumed_trial_augments_and_schedules_as_the_uninterrupted_one(posters, tmp_path):
    _, arrays = posters
    knobs = {"model": "minivgg", "weights": "none", "freeze": "none", "lr": 3e-3, "epochs": 4, "checkpoint_every": 2,
             "augment": "standard", "schedule": "cosine", "warmup_epochs": 1, "optimizer": "adamw", "weight_decay": 0.01}
    rows, kept = [], {}

    def report(metrics, checkpoint_dir=None):
        rows.append(metrics)
        if checkpoint_dir is not None:
            kept[metrics["epoch"]] = Path(shutil.copytree(checkpoint_dir, tmp_path / f"epoch-{metrics['epoch']}"))

    run_trial({**CONFIG, **knobs}, arrays, report)
    resumed = []
    run_trial({**CONFIG, **knobs}, arrays, lambda metrics, checkpoint_dir=None: resumed.append(metrics),
              resume=load_checkpoint(kept[2]))
    assert [r["epoch"] for r in resumed] == [3, 4]
    assert [(r["train_loss"], r["val_map"]) for r in resumed] == [(r["train_loss"], r["val_map"]) for r in rows[2:]]


@pytest.fixture(scope="module")
def cached_arrays(posters):
    return feature_arrays(posters[1])


@pytest.mark.parametrize("model", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_a_head_trial_on_cached_features_never_builds_the_body(model, posters, tmp_path, monkeypatch):
    import tune_genres.models.backbones as backbones

    features = feature_arrays(posters[1], model)
    whole_config = create_model(model, 3, 80, 55, dropout=0.5, frozen=True).config

    def no_body(name):
        raise AssertionError(f"{name}'s body was built for a trial that trains its head alone")

    monkeypatch.setattr(backbones, "build_body", no_body)
    rows, checkpoint = train(features, tmp_path / "head", model=model, epochs=2, checkpoint_every=2)
    assert [r["epoch"] for r in rows] == [1, 2] and features["features"].shape[1] == 1280
    # The checkpoint still describes the whole network, so that evaluate can put the body back.
    assert load_checkpoint(checkpoint)["meta"]["model_config"] == whole_config


def test_a_head_checkpoint_scores_on_cached_features_as_the_trial_scored_itself(posters, cached_arrays, tmp_path):
    from tune_genres.training.features import score_head_checkpoint

    rows, checkpoint = train(cached_arrays, tmp_path / "head")
    metrics, thresholds, val_probs, test_probs = score_head_checkpoint(load_checkpoint(checkpoint), cached_arrays)
    kept = predictions_from_bytes((checkpoint / PREDICTIONS_FILE).read_bytes(), "kept")
    assert np.allclose(val_probs, kept["val_probs"], atol=1e-6) and np.allclose(test_probs, kept["test_probs"], atol=1e-6)
    assert metrics["test_map"] == pytest.approx(rows[-1]["test_map"], abs=1e-6)
    assert metrics["test_f1_macro_tuned"] == pytest.approx(rows[-1]["test_f1_macro_tuned"], abs=1e-6)
    assert [float(t) for t in thresholds] == pytest.approx(rows[-1]["thresholds"])
    # A whole network's checkpoint is not a head's: refused, not scored on the wrong inputs.
    _, whole = train(posters[1], tmp_path / "whole", epochs=1, checkpoint_every=1)
    with pytest.raises(ValueError, match="not a head-only checkpoint"):
        score_head_checkpoint(load_checkpoint(whole), cached_arrays)
