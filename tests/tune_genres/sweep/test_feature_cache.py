"""The feature cache's file name: everything that changes a frozen body's features changes it
(a stale matrix is never read), and the same inputs give the same name (a second sweep reuses it)."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

import tune_genres.models.pretrained as pretrained
import tune_genres.models.scaling as scaling
import tune_genres.training.features as features
from dataset_builder.store import open_dataset
from tune_genres.models.catalog import MODELS
from tune_genres.models.pretrained import WeightsSource
from tune_genres.sweep.feature_cache import cache_path

MODEL = "efficientnet_lite0"


@pytest.fixture
def dataset(tiny_dataset, tmp_path, monkeypatch):
    """A tiny dataset, and a weights file of our own standing in for the model's."""
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"first weights")
    monkeypatch.setattr(pretrained, "weights_source", lambda model: WeightsSource(model, weights, True, ""))
    return open_dataset(tiny_dataset(count=30, ratios=(30, 58))), weights


def test_the_same_inputs_give_the_same_path(dataset):
    data, _ = dataset
    path = cache_path(data, MODEL, 30, 2.0)
    assert path == cache_path(data, MODEL, 30, 2.0) and path.parent == data.root / "features"
    assert path.name.startswith(f"{MODEL}-imagenet-r30-x2-")


def changed_weights(weights):
    weights.write_bytes(b"other weights")  # same size
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # as a rewrite would, on any filesystem


CHANGES = {
    "normalisation": lambda mp, w: mp.setitem(MODELS, MODEL, dataclasses.replace(MODELS[MODEL], mean=(0.45, 0.45, 0.45))),
    "resize mode": lambda mp, w: mp.setattr(scaling, "RESIZE_MODE", "bicubic"),
    "antialiasing": lambda mp, w: mp.setattr(scaling, "ANTIALIAS_BELOW", 2.0),
    "weights file": lambda mp, w: changed_weights(w),
    "torch version": lambda mp, w: mp.setattr(torch, "__version__", "0.0.1"),
    "timm version": lambda mp, w: mp.setattr(__import__("timm"), "__version__", "0.0.1"),
    "extraction code": lambda mp, w: mp.setattr(features, "FEATURES_VERSION", features.FEATURES_VERSION + 1),
}


@pytest.mark.parametrize("change", CHANGES)
def test_changing_what_the_features_depend_on_changes_the_path(dataset, monkeypatch, change):
    data, weights = dataset
    before = cache_path(data, MODEL, 30, 2.0)
    CHANGES[change](monkeypatch, weights)
    assert cache_path(data, MODEL, 30, 2.0) != before


def test_input_scale_and_ratio_change_the_path(dataset):
    data, _ = dataset
    paths = {cache_path(data, MODEL, 30, s) for s in (1.0, 1.5, 1.51, 2.0)} | {cache_path(data, MODEL, 58, 1.0)}
    assert len(paths) == 5
