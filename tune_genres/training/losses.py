"""The two sweepable losses, both taking logits and multi-hot float targets.

cce: the study's softmax + categorical cross-entropy with Keras semantics. Keras does NOT
     normalise a multi-hot target, so a poster with k genres contributes the sum of k
     -log(softmax) terms: per-sample loss = -sum_i y_i log p_i, averaged over the batch. Computed
     from log_softmax (as Keras' TF backend does when the last layer is a softmax), so no clipping.
     Softmax makes the genres compete for one unit of probability: flawed for multi-label data.
bce: sigmoid + binary cross-entropy, one independent yes/no per genre, averaged over every
     sample and genre (Keras' binary_crossentropy reduction): right for multi-label data.
     With pos_weight (`pos_weight = "balanced"`), each genre's positive term is weighed by its
     negatives / positives in the training split, so a rare genre's few posters count as much as
     its many non-posters. Only training uses the weights: validation and test losses stay plain
     bce, comparable across trials.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .hyperparameters import LOSSES


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def categorical_crossentropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def binary_crossentropy(logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)


def balanced_pos_weight(labels: np.ndarray) -> torch.Tensor:
    """Per genre, negatives / positives among `labels` (N x G multi-hot; the training split's);
    1 for a genre with no positives or no negatives there."""
    labels = np.asarray(labels, dtype=np.float64)
    positives = labels.sum(axis=0)
    negatives = len(labels) - positives
    weight = np.where((positives > 0) & (negatives > 0), negatives / np.maximum(positives, 1), 1.0)
    return torch.tensor(weight, dtype=torch.float32)


def check_loss(name: str) -> None:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}: expected one of {', '.join(LOSSES)}")


def loss_fn(name: str, pos_weight: torch.Tensor | None = None) -> LossFn:
    """The loss; pos_weight (bce only, on the logits' device) weighs each genre's positive term."""
    check_loss(name)
    if pos_weight is not None:
        if name != "bce":
            raise ValueError(f"pos_weight weighs bce's per-genre terms; loss {name!r} has none")
        return lambda logits, targets: binary_crossentropy(logits, targets, pos_weight)
    return categorical_crossentropy if name == "cce" else binary_crossentropy


def probabilities(name: str, logits: torch.Tensor) -> torch.Tensor:
    """What the loss treats as the model's output: softmax for cce (sums to 1), sigmoid for bce."""
    check_loss(name)
    return torch.softmax(logits, dim=1) if name == "cce" else torch.sigmoid(logits)


# Keras' epsilon: probabilities are clipped to [EPS, 1 - EPS] before their log, so a confident
# mistake (a float32 sigmoid rounds to exactly 1) costs a large loss rather than an infinite one.
EPS = 1e-7


def loss_of_probabilities(name: str, probs: np.ndarray, targets: np.ndarray) -> float:
    """The loss `name` of probabilities rather than logits (an ensemble's mean has no logits): the
    same reductions as above, up to the clipping."""
    check_loss(name)
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(targets, dtype=np.float64)
    if name == "cce":
        return float(-(y * np.log(p)).sum(axis=1).mean())
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
