"""Multi-label metrics, and the baselines every result is shown beside.

categorical_accuracy is the study's "accuracy" under its true name: Keras' categorical accuracy,
argmax(probs) == argmax(target), i.e. a hit when the top prediction is the FIRST positive genre in
list order (a row with no positive genre counts as genre 0, as in Keras). Never report it alone.

Thresholded metrics (F1, Hamming loss, subset accuracy) predict a genre when its probability is
>= `threshold`. Under cce the softmax sums to 1, so at 0.5 at most one genre is predicted (two only on an exact tie).

Macro averages (F1, AP, ROC-AUC) are taken over the genres the eval set can score: a genre with
no positive row is skipped (its AP/F1 are undefined, not 0), and for ROC-AUC a genre with no
negative row too. Skipping warns (MetricWarning) naming the genres' columns; when no genre is
left the metric is NaN, with that warning, never silently. Non-finite probabilities (a model
that diverged) make every metric NaN, with a warning, instead of an exception mid-sweep.

The scores are numpy, written to give scikit-learn's values (average_precision_score, roc_auc_score,
f1_score; tests/tune_genres/training/test_metrics.py checks them against it): importing scikit-learn took
0.65 s of every fresh trial process's start, for three small functions.
"""

from __future__ import annotations

import warnings

import numpy as np

METRICS = (
    "categorical_accuracy",
    "f1_micro",
    "f1_macro",
    "map",
    "roc_auc_macro",
    "hamming_loss",
    "subset_accuracy",
)
# What a scheduler or the report may rank trials by: the METRICS and the loss.
RANKING_METRICS = (*METRICS, "loss")
# THE direction of every metric: these are lower-is-better, every other one higher-is-better.
LOWER_IS_BETTER = frozenset({"hamming_loss", "loss"})
SPLIT_PREFIXES = ("best_", "last_", "train_", "val_", "test_")
BASELINES = ("prior", "majority")


def metric_name(key: str) -> str:
    """A reported key without its split: val_map -> map, best_val_loss -> loss, test_loss -> loss."""
    while key.startswith(SPLIT_PREFIXES):
        key = key.split("_", 1)[1]
    return key


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of this metric (any split: val_loss, test_hamming_loss) is better."""
    return metric_name(key) in LOWER_IS_BETTER


def mode(key: str) -> str:
    """Tune's spelling of the direction: "min" or "max"."""
    return "min" if lower_is_better(key) else "max"


class MetricWarning(UserWarning):
    """A macro metric skipped genres the eval set cannot score."""


def compute_metrics(probs: np.ndarray, targets: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The METRICS of probabilities (N x G) against multi-hot targets (N x G)."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets).astype(np.int64)
    if probs.shape != targets.shape or probs.ndim != 2:
        raise ValueError(f"probs {probs.shape} and targets {targets.shape} must both be N x G")
    if len(probs) == 0:
        raise ValueError("no rows to score")
    if not np.isfinite(probs).all():
        # A diverged model (lr too high): no score means anything, and NaN would sort arbitrarily.
        bad = int(np.count_nonzero(~np.isfinite(probs)))
        warnings.warn(f"{bad} of {probs.size} probabilities are not finite (the model diverged): every metric is NaN",
                      MetricWarning, stacklevel=2)
        return {name: float("nan") for name in METRICS}
    predicted = (probs >= threshold).astype(np.int64)
    positives = targets.sum(axis=0)
    has_pos = np.flatnonzero(positives > 0)
    has_both = np.flatnonzero((positives > 0) & (positives < len(targets)))
    return {
        "categorical_accuracy": float(np.mean(probs.argmax(axis=1) == targets.argmax(axis=1))),
        "f1_micro": f1(targets.ravel(), predicted.ravel()),
        "f1_macro": _macro("f1_macro", has_pos, targets.shape[1], lambda g: f1(targets[:, g], predicted[:, g])),
        "map": _macro("map", has_pos, targets.shape[1], lambda g: average_precision(targets[:, g], probs[:, g])),
        "roc_auc_macro": _macro("roc_auc_macro", has_both, targets.shape[1], lambda g: roc_auc(targets[:, g], probs[:, g])),
        "hamming_loss": float(np.mean(predicted != targets)),
        "subset_accuracy": float(np.mean(np.all(predicted == targets, axis=1))),
    }


def f1(targets: np.ndarray, predicted: np.ndarray) -> float:
    """F1 of 0/1 predictions; 0 where it is undefined (nothing predicted and nothing positive)."""
    true_pos = int(np.count_nonzero(targets & predicted))
    wrong = int(np.count_nonzero(targets != predicted))  # false positives + false negatives
    return 2 * true_pos / (2 * true_pos + wrong) if true_pos + wrong else 0.0


def average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """Sum over the distinct scores, highest first, of (recall gained) x (precision there).

    Tied scores form one threshold, as in scikit-learn's step-wise AP (no interpolation).
    """
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_targets = scores[order], targets[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(scores) - 1]
    true_pos = np.cumsum(ranked_targets)[last_of_tie]
    precision = true_pos / (last_of_tie + 1)
    recall = true_pos / true_pos[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def roc_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the chance a positive outscores a negative, ties counting half
    (the Mann-Whitney U statistic over average ranks; equal to the trapezoidal area)."""
    _, group, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based ranks, ties share their mean
    positive = targets == 1
    n_pos, n_neg = int(np.count_nonzero(positive)), int(np.count_nonzero(~positive))
    return float((average_rank[group][positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _macro(name: str, scorable: np.ndarray, num_genres: int, score) -> float:
    """Mean of score(g) over the scorable genre columns, warning about the ones left out."""
    if len(scorable) < num_genres:
        skipped = sorted(set(range(num_genres)) - set(scorable.tolist()))
        why = "no positive" if name != "roc_auc_macro" else "only one class"
        warnings.warn(
            f"{name}: genre column(s) {skipped} skipped ({why} in the eval set); "
            f"averaged over {len(scorable)} of {num_genres}" + ("" if len(scorable) else ": NaN"),
            MetricWarning,
            stacklevel=3,
        )
    if len(scorable) == 0:
        return float("nan")
    return float(np.mean([score(g) for g in scorable]))


def baselines(train_labels: np.ndarray, eval_labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Scores of predicting without looking at the poster, from the training split's labels alone.

    prior: every poster gets the training split's genre frequencies as its probabilities.
    majority: every poster gets probability 1 for the most frequent training genre, 0 otherwise
    (ties go to the first genre in list order).
    """
    frequencies = np.asarray(train_labels, dtype=np.float64).mean(axis=0)
    majority = np.zeros_like(frequencies)
    majority[frequencies.argmax()] = 1.0
    n = len(eval_labels)
    return {
        "prior": compute_metrics(np.tile(frequencies, (n, 1)), eval_labels),
        "majority": compute_metrics(np.tile(majority, (n, 1)), eval_labels),
    }
