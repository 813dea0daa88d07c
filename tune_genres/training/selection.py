"""Honest selection: validation chooses, test scores the choice once.

A trial's best epoch is the one whose weights score best on `select_metric` (a validation metric);
those weights are kept beside the latest ones; with a patience, a trial whose best epoch lies that
many epochs back ends there (plateaued). When the trial ends, score_chosen tunes each genre's
decision threshold on the validation split with the chosen weights, then scores the test split
with them, once.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from torch import nn

from .data import ResidentSplit
from .loop import predict_split
from .metrics import compute_metrics, lower_is_better, prefixed, tune_thresholds, tuned_metrics

DEFAULT_SELECT_METRIC = "val_map"
# True in the last row of a trial that its patience ended ([scheduler] patience): its record says so.
STOPPED_ON_PLATEAU = "stopped_on_plateau"


def improves(value: float, best: float, metric: str) -> bool:
    """Is `value` of `metric` better than the best so far? A non-finite value never is; any finite
    value beats a best that is not finite yet (NaN: no epoch has produced a score)."""
    if not math.isfinite(value):
        return False
    if not math.isfinite(best):
        return True
    return value < best if lower_is_better(metric) else value > best


def plateaued(epoch: int, best_epoch: int, patience: int | None) -> bool:
    """At `epoch`, has the select_metric gone `patience` epochs without beating its best epoch's?
    best_epoch 0 (no finite score yet) counts from the start: a trial that never scores stops too.
    patience None: never."""
    return patience is not None and epoch - best_epoch >= patience


class Chosen(NamedTuple):
    """The chosen weights, scored: metrics, per-genre thresholds, and the probabilities behind them
    (each split's rows in its order), which the trial's record keeps for ensembles (predictions.py)."""

    metrics: dict[str, float]
    thresholds: np.ndarray
    val_probs: np.ndarray
    test_probs: np.ndarray


def score_chosen(
    model: nn.Module,
    val: ResidentSplit,
    test: ResidentSplit,
    loss_name: str,
    threshold: float = 0.5,
) -> Chosen:
    """The chosen weights' metrics and thresholds: thresholds tuned on `val`, then the test split
    scored once: test_loss, test_* at `threshold`, and the thresholded ones again at the tuned
    thresholds (test_*_tuned; val_*_tuned beside them, optimistic: tuned on those rows)."""
    _, val_probs = predict_split(model, val, loss_name)
    val_labels = val.labels.cpu().numpy()
    thresholds = tune_thresholds(val_probs, val_labels)
    test_loss, test_probs = predict_split(model, test, loss_name)
    test_labels = test.labels.cpu().numpy()
    metrics = {
        "test_loss": test_loss,
        **prefixed("test", compute_metrics(test_probs, test_labels, threshold)),
        **prefixed("test", tuned_metrics(test_probs, test_labels, thresholds)),
        **prefixed("val", tuned_metrics(val_probs, val_labels, thresholds)),
    }
    return Chosen(metrics, thresholds, val_probs, test_probs)
