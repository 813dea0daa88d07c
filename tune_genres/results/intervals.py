"""Bootstrap intervals: how far a score could move on another draw of as many posters.

A test split of a few hundred posters is small: the study's four-genre test split holds 349, and two
trials a few hundredths of mAP apart may be the same model on another draw. Resampling the scored
posters with replacement (the model and its probabilities fixed) gives the percentile interval
around each metric that the evaluate command prints beside the score. Average precision's draws
lean a little high (a duplicated poster is a tie that AP scores kindly: their mean was 0.004 above
the score on 349 synthetic rows), so the interval tells the width more than the centre.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..training.metrics import METRICS, MetricWarning, compute_metrics

RESAMPLES = 1000
LEVEL = 0.95


def bootstrap_intervals(
    probs: np.ndarray,
    targets: np.ndarray,
    threshold: float | np.ndarray = 0.5,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Each of the METRICS' [low, high] percentile interval over `resamples` draws of the rows.

    A draw in which a genre has no positive row skips that genre, as compute_metrics does for any
    eval set; a metric NaN on a draw (no genre left) is left out of its percentiles.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    probs, targets = np.asarray(probs), np.asarray(targets)
    if not np.isfinite(probs).all():
        return {metric: [float("nan"), float("nan")] for metric in METRICS}  # diverged: no score to draw around
    rng = np.random.default_rng(seed)
    draws = {metric: np.empty(resamples) for metric in METRICS}
    with warnings.catch_warnings():
        # Small draws miss rare genres now and then; that is what the interval measures, not news.
        warnings.simplefilter("ignore", MetricWarning)
        for i in range(resamples):
            rows = rng.integers(0, len(targets), len(targets))
            for metric, value in compute_metrics(probs[rows], targets[rows], threshold).items():
                draws[metric][i] = value
    tail = (1 - level) / 2 * 100
    return {metric: [float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100 - tail))]
            for metric, values in draws.items()}
