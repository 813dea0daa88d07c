"""Bootstrap intervals: they hold the score, narrow as the scored set grows, and repeat exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tune_genres.results.intervals import bootstrap_intervals
from tune_genres.training.metrics import METRICS, compute_metrics


def scored_set(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A weak model's softmax over 4 genres: a genre's probability leans towards its label."""
    rng = np.random.default_rng(seed)
    targets = np.eye(4, dtype=np.int64)[rng.integers(0, 4, rows)]
    logits = rng.normal(size=(rows, 4)) + 0.8 * targets
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, targets


def test_each_interval_holds_the_score_and_repeats_with_the_seed():
    probs, targets = scored_set(349)
    score = compute_metrics(probs, targets)
    intervals = bootstrap_intervals(probs, targets, resamples=300)
    assert list(intervals) == list(METRICS)
    for metric, (low, high) in intervals.items():
        assert low <= score[metric] <= high, metric
    assert 0.02 < intervals["map"][1] - intervals["map"][0] < 0.2
    assert bootstrap_intervals(probs, targets, resamples=300) == intervals
    assert bootstrap_intervals(probs, targets, resamples=300, seed=1) != intervals


def test_four_times_the_posters_halve_the_interval():
    small, large = (bootstrap_intervals(*scored_set(rows), resamples=400)["map"] for rows in (300, 1200))
    ratio = (large[1] - large[0]) / (small[1] - small[0])
    assert 0.35 < ratio < 0.7


def test_a_perfect_model_has_no_spread_in_map():
    targets = np.eye(3, dtype=np.int64)[np.arange(30) % 3]
    assert bootstrap_intervals(targets.astype(float), targets, resamples=50)["map"] == [1.0, 1.0]


def test_no_draws_is_refused():
    with pytest.raises(ValueError, match="resamples must be at least 1, got 0"):
        bootstrap_intervals(*scored_set(10), resamples=0)


def test_a_diverged_model_gets_no_interval():
    probs, targets = scored_set(20)
    probs[3, 1] = np.nan
    intervals = bootstrap_intervals(probs, targets, resamples=10)
    assert all(np.isnan(low) and np.isnan(high) for low, high in intervals.values())
