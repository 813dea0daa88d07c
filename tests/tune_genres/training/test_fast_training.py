"""The speed work changes no result it should not: pool-then-ReLU is exact, bf16 stays deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from support.posters import GENRES, genre_poster
from tune_genres.training.data import ResidentSplit
from tune_genres.models.minivgg import MiniVGG
from tune_genres.training.loop import make_optimizer, train_one_epoch
from tune_genres.training.precision import autocast_dtype
from tune_genres.training.rng import make_generator

CPU = torch.device("cpu")


def relu_then_pool(model: MiniVGG) -> nn.Sequential:
    """The Keras order (conv -> ReLU -> pool) over the same layer objects."""
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    return nn.Sequential(*[layer for conv in convs for layer in (conv, nn.ReLU(), nn.MaxPool2d(2))])


def forward_backward(model: MiniVGG, features: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same dropout masks for both orders
    out = model.classifier(features(x))
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters()]


def test_pool_then_relu_is_bitwise_the_keras_order_forward_and_backward():
    torch.manual_seed(0)
    model = MiniVGG(num_classes=4, height=80, width=55).to(memory_format=torch.channels_last)
    # Shifted so that many pooling windows are all negative: the case where the orders could differ.
    x = (torch.rand(8, 3, 80, 55) - 0.6).contiguous(memory_format=torch.channels_last)
    ours, our_grads = forward_backward(model, model.features, x)
    keras, keras_grads = forward_backward(model, relu_then_pool(model), x)
    assert torch.equal(ours, keras)
    for name, a, b in zip([n for n, _ in model.named_parameters()], our_grads, keras_grads):
        assert torch.equal(a, b), name


def test_precision_names_map_to_autocast_dtypes():
    assert autocast_dtype("fp32", CPU) is None
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    assert autocast_dtype("auto", torch.device("meta")) is None  # no hardware bf16 known there
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        autocast_dtype("fp16", CPU)


def learnable_split(count: int = 128) -> ResidentSplit:
    """55x80 posters whose genres show as colour bands: something a few epochs can learn."""
    rng = np.random.default_rng(0)
    labels, images = np.zeros((count, len(GENRES)), np.uint8), []
    for i in range(count):
        genres = sorted(rng.choice(len(GENRES), size=1 + int(rng.random() < 0.35), replace=False))
        labels[i, genres] = 1
        images.append(np.asarray(genre_poster([GENRES[k] for k in genres], rng, (55, 80))))
    return ResidentSplit.from_indices(np.stack(images), labels, np.arange(count), "cpu")


def train(split: ResidentSplit, amp_dtype, epochs: int = 6) -> tuple[list[float], dict]:
    torch.manual_seed(5)
    model = MiniVGG(num_classes=len(GENRES), height=80, width=55).to(memory_format=torch.channels_last)
    optimizer, generator = make_optimizer(model, 3e-3), make_generator(5)
    losses = [train_one_epoch(model, optimizer, split, "bce", 16, generator, amp_dtype) for _ in range(epochs)]
    return losses, model.state_dict()


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine two threads spin against each other (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_bf16_training_is_deterministic_and_learns_as_fp32_does(one_thread):
    split = learnable_split()
    bf16_losses, bf16_weights = train(split, torch.bfloat16)
    again_losses, again_weights = train(split, torch.bfloat16)
    fp32_losses, _ = train(split, None)
    assert bf16_losses == again_losses  # a resumed or repeated bf16 trial reproduces itself exactly
    assert all(torch.equal(bf16_weights[k], again_weights[k]) for k in bf16_weights)
    assert all(w.dtype == torch.float32 for w in bf16_weights.values())  # fp32 master weights
    assert bf16_losses != fp32_losses  # bf16 really ran
    fp32_drop = fp32_losses[0] - fp32_losses[-1]
    assert fp32_drop > 0.2  # the data is learnable in six epochs ...
    assert abs(bf16_losses[-1] - fp32_losses[-1]) < 0.25 * fp32_drop  # ... and bf16 learns it about as well
