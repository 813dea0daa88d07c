"""Both losses against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from tune_genres.training.losses import LOSSES, loss_fn, loss_of_probabilities, probabilities


def test_cce_keras_semantics_unnormalised_multi_hot():
    # Row 1: logits (0, ln 2, ln 5) -> softmax (1, 2, 5) / 8; target (0, 1, 1) is NOT normalised,
    #        so its loss is -(ln(2/8) + ln(5/8)) = ln 4 + ln 1.6 = 1.3863 + 0.4700 = 1.8563.
    # Row 2: logits (0, 0, 0) -> softmax 1/3 each; target (1, 0, 0): -ln(1/3) = ln 3 = 1.0986.
    # Mean over the batch: (1.8563 + 1.0986) / 2 = 1.4774.
    logits = torch.tensor([[0.0, math.log(2), math.log(5)], [0.0, 0.0, 0.0]])
    targets = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    expected = (math.log(4) + math.log(1.6) + math.log(3)) / 2
    assert loss_fn("cce")(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.4774, abs=1e-4)


def test_bce_is_the_mean_over_samples_and_genres():
    # sigmoid(0) = 0.5 -> -ln 0.5 = 0.6931 either way; sigmoid(ln 3) = 0.75:
    #   target 1 -> -ln 0.75 = 0.2877; target 0 -> -ln 0.25 = 1.3863.
    # Elements: [0.6931, 0.2877] and [0.6931, 1.3863]: mean = 3.0603 / 4 = 0.7651.
    logits = torch.tensor([[0.0, math.log(3)], [0.0, math.log(3)]])
    targets = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    expected = (2 * math.log(2) - math.log(0.75) - math.log(0.25)) / 4
    assert loss_fn("bce")(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.7651, abs=1e-4)


def test_probabilities_softmax_for_cce_sigmoid_for_bce():
    logits = torch.tensor([[0.0, math.log(3)]])
    assert probabilities("cce", logits)[0].tolist() == pytest.approx([0.25, 0.75])
    assert probabilities("bce", logits)[0].tolist() == pytest.approx([0.5, 0.75])


@pytest.mark.parametrize("name", LOSSES)
def test_the_loss_of_probabilities_is_the_loss_of_their_logits(name):
    # An ensemble's mean probabilities have no logits: the same loss, from the probabilities.
    logits = torch.tensor([[0.0, math.log(2), math.log(5)], [0.0, -1.0, 2.0]])
    targets = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    probs = probabilities(name, logits).numpy()
    assert loss_of_probabilities(name, probs, targets.numpy()) == pytest.approx(loss_fn(name)(logits, targets).item(), rel=1e-6)
    # A confident mistake costs a large loss, not an infinite one.
    assert math.isfinite(loss_of_probabilities(name, [[1.0, 0.0, 0.0]], [[0, 1, 0]]))


def test_unknown_loss_names_the_choices():
    assert LOSSES == ("cce", "bce")
    with pytest.raises(ValueError, match="unknown loss 'mse': expected one of cce, bce"):
        loss_fn("mse")
