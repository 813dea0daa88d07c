"""A whole trial on the CPU, checked for memory: it copies no pixels, and it evaluates in bounded batches."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_builder.store import open_dataset
from tune_genres.training import trial
from tune_genres.training.data import ResidentSplit, trial_arrays
from tune_genres.training.loop import EVAL_BATCH

# The study's settings (sweep_file's defaults), one short epoch in fp32.
CONFIG = {
    "lr": 1e-3, "ratio": 30, "loss": "bce", "batch_size": 32, "dropout": 0.5, "seed": 0, "epochs": 1,
    "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "checkpoint_every": 1, "threshold": 0.5, "precision": "fp32",
}


@pytest.fixture
def arrays(tiny_dataset):
    # 400 posters: val and test (80 each) are larger than one evaluation batch.
    arrays = trial_arrays(open_dataset(tiny_dataset(count=400)), 30)
    arrays["images"].setflags(write=False)  # as Ray's object store hands them to a trial
    assert len(arrays["val"]) > EVAL_BATCH and len(arrays["test"]) > EVAL_BATCH
    return arrays


def run(arrays: dict) -> list[dict]:
    reports = []
    trial.run_trial(dict(CONFIG), arrays, lambda metrics, checkpoint_dir=None: reports.append(metrics))
    return reports


def test_a_cpu_trial_indexes_the_shared_images_and_copies_no_pixels(arrays, monkeypatch):
    built = []
    init = ResidentSplit.__init__

    def recording(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(ResidentSplit, "__init__", recording)
    reports = run(arrays)
    assert reports[-1]["epoch"] == 1 and "test_map" in reports[-1]
    assert sorted(len(split) for split in built) == sorted(len(arrays[name]) for name in ("train", "val", "test"))
    images = arrays["images"]
    for split in built:
        # The split's pixels are the handed array's own buffer, not a copy of its rows.
        assert split.images.untyped_storage().data_ptr() == images.__array_interface__["data"][0]
        assert np.shares_memory(split.images.numpy(), images)


def test_a_trial_evaluates_in_batches_no_larger_than_the_bound(arrays, monkeypatch):
    forwards = []  # (training mode, batch size) of every forward pass
    create = trial.create_model

    def recording_model(*args, **kwargs):
        model = create(*args, **kwargs)
        model.register_forward_pre_hook(lambda module, inputs: forwards.append((module.training, inputs[0].shape[0])))
        return model

    monkeypatch.setattr(trial, "create_model", recording_model)
    run(arrays)
    evaluated = [size for training, size in forwards if not training]
    # Each epoch scores val; at the end the last weights score test, and the chosen (best-epoch)
    # weights score val (to tune thresholds) and test.
    val, test = len(arrays["val"]), len(arrays["test"])
    assert sum(evaluated) == CONFIG["epochs"] * val + test + val + test
    assert max(evaluated) <= EVAL_BATCH
    assert max(size for training, size in forwards if training) == CONFIG["batch_size"]
