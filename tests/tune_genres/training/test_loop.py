"""Prediction runs in batches no larger than EVAL_BATCH, whatever the split's size, rows in order."""

from __future__ import annotations

import numpy as np
import torch

from tune_genres.models.minivgg import MiniVGG
from tune_genres.training.data import ResidentSplit
from tune_genres.training.loop import EVAL_BATCH, predict_logits, predict_split


def recorded_batches(model: torch.nn.Module) -> list[int]:
    """The batch size of every forward pass the model runs from now on."""
    sizes: list[int] = []
    model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    return sizes


def test_prediction_never_runs_a_batch_larger_than_the_bound():
    count = 2 * EVAL_BATCH + 5  # more than two full batches: a larger batch would show
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, 80, 55, 3), dtype=np.uint8)
    labels = (rng.random((count, 3)) < 0.4).astype(np.uint8)
    split = ResidentSplit.from_indices(images, labels, np.arange(count), "cpu")
    model = MiniVGG(num_classes=3, height=80, width=55).to(memory_format=torch.channels_last)
    sizes = recorded_batches(model)

    _, probs = predict_split(model, split, "bce")
    assert sizes == [EVAL_BATCH, EVAL_BATCH, 5] and probs.shape == (count, 3)
    sizes.clear()
    logits = predict_logits(model, split)
    assert sizes == [EVAL_BATCH, EVAL_BATCH, 5]
    # Batching changes nothing but the memory: one batch of everything gives the same logits.
    torch.testing.assert_close(logits, predict_logits(model, split, batch_size=count))
