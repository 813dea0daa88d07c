"""Checkpoints: resuming from one gives exactly the run that never stopped."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dataset_builder.errors import BadInput
from dataset_builder.store import open_dataset
from tune_genres.training.checkpoint import CHECKPOINT_FILE, HISTORY_FILE, load_checkpoint, load_model, save_checkpoint
from tune_genres.training.data import ResidentSplit, trial_arrays
from tune_genres.models.minivgg import MiniVGG, model_config
from tune_genres.training.loop import make_optimizer, predict_split, train_one_epoch
from tune_genres.training.rng import generator_state, make_generator, seed_everything, set_rng_state

SEED, LR, BATCH = 3, 1e-3, 8


@pytest.fixture
def splits(tiny_dataset):
    arrays = trial_arrays(open_dataset(tiny_dataset(count=40)), 30)
    return ResidentSplit.from_arrays(arrays, "train", "cpu"), ResidentSplit.from_arrays(arrays, "val", "cpu")


def fresh(seed: int):
    seed_everything(seed)
    model = MiniVGG(num_classes=3, height=80, width=55).to(memory_format=torch.channels_last)
    return model, make_optimizer(model, LR), make_generator(seed)


def run_epochs(model, optimizer, generator, train, val, epochs, loss_name):
    """(train loss, val loss) per epoch."""
    history = []
    for _ in range(epochs):
        train_loss = train_one_epoch(model, optimizer, train, loss_name, BATCH, generator)
        val_loss, _ = predict_split(model, val, loss_name)
        history.append((train_loss, val_loss))
    return history


def draws() -> tuple[float, float]:
    """One draw from each global RNG besides torch's that a trainable might use."""
    return random.random(), float(np.random.rand())


def meta(loss_name):
    return {"genres": ["Horror", "Romance", "Action"], "ratio": 30, "size": (55, 80), "loss": loss_name,
            "model_config": model_config(3, 80, 55), "lr": LR, "config": {"lr": LR, "ratio": 30}}


@pytest.mark.parametrize("loss_name", ["cce", "bce"])
def test_two_plus_two_epochs_through_a_checkpoint_equal_four_straight(splits, tmp_path, loss_name):
    train, val = splits
    straight_model, optimizer, generator = fresh(SEED)
    straight = run_epochs(straight_model, optimizer, generator, train, val, 4, loss_name)
    straight_draws = draws()

    model, optimizer, generator = fresh(SEED)
    first = run_epochs(model, optimizer, generator, train, val, 2, loss_name)
    save_checkpoint(tmp_path / "ck", model=model, optimizer=optimizer, epoch=2, best={"val_loss": min(v for _, v in first)},
                    generator_state=generator_state(generator), meta=meta(loss_name))
    del model, optimizer, generator

    # A fresh process in miniature: different seed, different init, then restore everything.
    model, optimizer, generator = fresh(SEED + 100)
    state = load_checkpoint(tmp_path / "ck", "cpu")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator = make_generator(SEED, state["generator"])
    set_rng_state(state["rng"])
    assert state["epoch"] == 2 and state["best"] == {"val_loss": min(v for _, v in first)}
    second = run_epochs(model, optimizer, generator, train, val, 2, loss_name)
    resumed_draws = draws()

    assert first + second == straight  # exact: same floats, not approximately
    assert resumed_draws == straight_draws  # Python and numpy RNGs carried over too
    for (name, a), (_, b) in zip(straight_model.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), name


def test_load_model_rebuilds_a_usable_model_with_its_meta(splits, tmp_path):
    train, val = splits
    model, optimizer, generator = fresh(SEED)
    train_one_epoch(model, optimizer, train, "bce", BATCH, generator)
    save_checkpoint(tmp_path / "ck", model=model, optimizer=optimizer, epoch=1, best=None,
                    generator_state=generator_state(generator), meta=meta("bce"))
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [CHECKPOINT_FILE, HISTORY_FILE]  # no temp file left
    loaded, loaded_meta = load_model(tmp_path / "ck", "cpu")
    assert not loaded.training
    assert loaded_meta["size"] == (55, 80) and loaded_meta["genres"] == ["Horror", "Romance", "Action"]
    assert loaded_meta["config"] == {"lr": LR, "ratio": 30}
    np.testing.assert_array_equal(predict_split(loaded, val, "bce")[1], predict_split(model, val, "bce")[1])
    # The file itself works as well as its directory.
    assert load_checkpoint(tmp_path / "ck" / CHECKPOINT_FILE)["epoch"] == 1


def test_meta_must_be_complete_and_plain(splits, tmp_path):
    model, optimizer, generator = fresh(SEED)
    incomplete = {k: v for k, v in meta("cce").items() if k != "genres"}
    with pytest.raises(ValueError, match=r"lacks \['genres'\]"):
        save_checkpoint(tmp_path / "ck", model=model, optimizer=optimizer, epoch=0, best=None,
                        generator_state=generator_state(generator), meta=incomplete)
    with pytest.raises(TypeError, match="JSON-like"):
        save_checkpoint(tmp_path / "ck", model=model, optimizer=optimizer, epoch=0, best=None,
                        generator_state=generator_state(generator), meta=dict(meta("cce"), config={"x": object()}))
    assert not (tmp_path / "ck").exists() or not list((tmp_path / "ck").iterdir())


def test_unreadable_checkpoints_are_one_line_errors(tmp_path):
    with pytest.raises(BadInput, match="no checkpoint here"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(BadInput, match="not a readable tune-genres checkpoint") as e:
        load_checkpoint(tmp_path)
    assert "\n" not in str(e.value)
    torch.save({"format": 99}, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(BadInput, match="checkpoint format 99, this reader knows 1"):
        load_checkpoint(tmp_path)


def test_rng_states_stay_on_the_cpu_wherever_the_weights_go(splits, tmp_path):
    # A GPU trial loads its checkpoint onto its GPU; "meta" stands in for it here: a device whose
    # tensors torch.set_rng_state, Generator.set_state and numpy cannot take, as they cannot a GPU's.
    train, _ = splits
    model, optimizer, generator = fresh(SEED)
    train_one_epoch(model, optimizer, train, "bce", BATCH, generator)
    save_checkpoint(tmp_path / "ck", model=model, optimizer=optimizer, epoch=1, best=None,
                    generator_state=generator_state(generator), meta=meta("bce"))
    saved_draws, saved_order = draws(), torch.randperm(len(train), generator=generator)

    state = load_checkpoint(tmp_path / "ck", map_location="meta")
    assert {t.device.type for t in state["model"].values()} == {"meta"}  # the weights went where asked
    set_rng_state(state["rng"])
    resumed = make_generator(SEED, state["generator"])
    assert draws() == saved_draws
    assert torch.equal(torch.randperm(len(train), generator=resumed), saved_order)


def test_a_cpu_trial_saves_and_restores_its_rng_without_touching_cuda(splits, tmp_path, monkeypatch):
    # On a GPU node, a CPU-only trial must not create a CUDA context on the node's GPUs.
    train, _ = splits
    model, optimizer, generator = fresh(SEED)
    train_one_epoch(model, optimizer, train, "bce", BATCH, generator)

    def refuse(name):
        def call(*args, **kwargs):
            raise AssertionError(f"a CPU trial called torch.cuda.{name}")
        return call

    for name in ("is_available", "get_rng_state", "get_rng_state_all", "set_rng_state", "set_rng_state_all", "device_count"):
        monkeypatch.setattr(torch.cuda, name, refuse(name))
    save_checkpoint(tmp_path / "ck", model=model, optimizer=optimizer, epoch=1, best=None,
                    generator_state=generator_state(generator), meta=meta("bce"))
    state = load_checkpoint(tmp_path / "ck")
    assert "cuda" not in state["rng"]
    set_rng_state(state["rng"], "cpu")
