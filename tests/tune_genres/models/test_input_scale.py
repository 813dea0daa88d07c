"""input_scale that is not a whole number: the size the sweep file's check computes is the size the
network is built for and the size each batch is resized to (models/scaling.py), at every ratio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dataset_builder.images import STUDY_RATIOS, size_for_ratio
from tune_genres.models.catalog import too_small
from tune_genres.models.registry import create_model
from tune_genres.models.scaling import scaled_size
from tune_genres.training.loop import make_optimizer

# 0.97 crashed the mini-VGG at 30% and 44% ("mat1 and mat2 shapes cannot be multiplied").
SCALES = (0.97, 1.5)
# What a [space] draw gives: any float in the sweep file's range (its low end is too small for every ratio).
DRAWN = tuple(np.random.default_rng(0).uniform(0.25, 2.0, 12).round(4))


def train_step(model: torch.nn.Module, height: int, width: int) -> torch.Tensor:
    """One optimizer step on two random posters; the logits."""
    optimizer = make_optimizer(model, 1e-3)
    logits = model(torch.rand(2, 3, height, width).contiguous(memory_format=torch.channels_last))
    logits.sum().backward()
    optimizer.step()
    return logits


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("ratio", (30, 44, 58))
def test_minivgg_trains_a_step_at_a_fractional_input_scale(ratio, scale):
    width, height = size_for_ratio(ratio)
    assert too_small("minivgg", width, height, scale) is None
    logits = train_step(create_model("minivgg", 4, height, width, input_scale=scale), height, width)
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()


def test_the_sweep_file_check_refuses_a_scale_whose_batches_would_be_too_small():
    # 55 x 0.83 = 45.65: the check once rounded it to 46 and let it through; the batches are 45 wide.
    assert too_small("minivgg", 55, 80, 0.83) == "minivgg needs at least 46 pixels a side, and 55x80 x input_scale 0.83 gives 45"


@pytest.mark.parametrize("ratio", STUDY_RATIOS[::2])
def test_too_small_agrees_with_the_model_at_every_drawn_scale(ratio):
    width, height = size_for_ratio(ratio)
    for scale in (*DRAWN, *SCALES, 0.83):
        refused = too_small("minivgg", width, height, scale)
        try:
            with torch.no_grad():
                create_model("minivgg", 3, height, width, input_scale=scale)(torch.rand(1, 3, height, width))
            works = True
        except (RuntimeError, ValueError):
            works = False
        assert works == (refused is None), f"ratio {ratio} x{scale}: too_small says {refused!r}"


def test_a_backbone_sees_exactly_the_size_the_check_computed():
    seen = []
    model = create_model("resnet18", 3, 80, 55, input_scale=0.97).eval()
    model.body.conv1.register_forward_hook(lambda module, inputs, output: seen.append(tuple(inputs[0].shape[2:])))
    with torch.no_grad():
        model(torch.rand(1, 3, 80, 55))
    assert seen == [scaled_size(80, 55, 0.97)] == [(77, 53)]


def test_float_noise_does_not_lose_a_pixel():
    assert scaled_size(100, 50, 0.58) == (58, 29)  # 100 x 0.58 is 57.99999999999999
