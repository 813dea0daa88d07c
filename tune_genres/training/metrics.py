"""Multi-label metrics, and the baselines every result is shown beside.

categorical_accuracy is the study's "accuracy" under its true name: Keras' categorical accuracy,
argmax(probs) == argmax(target), i.e. a hit when the top prediction is the FIRST positive genre in
list order (a row with no positive genre counts as genre 0, as in Keras). Never report it alone.

Thresholded metrics (F1, Hamming loss, subset accuracy) predict a genre when its probability is
>= `threshold`. Under cce the softmax sums to 1, so at 0.5 at most one genre is predicted (two only on an exact tie),
and under bce a rare genre seldom reaches 0.5: so they are also reported at per-genre thresholds
chosen on the validation split (tune_thresholds; `<metric>_tuned`).

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
# Metrics that depend on a decision threshold: reported at 0.5 and at tuned per-genre thresholds.
THRESHOLDED = ("f1_micro", "f1_macro", "hamming_loss", "subset_accuracy")
# What a scheduler or the report may rank trials by: the METRICS and the loss.
RANKING_METRICS = (*METRICS, "loss")
# What may choose (a trial's best epoch, ASHA's cut, the best trial): validation metrics only.
SELECTABLE = tuple(f"val_{m}" for m in RANKING_METRICS)
# THE direction of every metric: these are lower-is-better, every other one higher-is-better.
LOWER_IS_BETTER = frozenset({"hamming_loss", "hamming_loss_tuned", "loss"})
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


def compute_metrics(probs: np.ndarray, targets: np.ndarray, threshold: float | np.ndarray = 0.5) -> dict[str, float]:
    """The METRICS of probabilities (N x G) against multi-hot targets (N x G).

    threshold: one for every genre, or one per genre (G values, e.g. tune_thresholds' choice).
    """
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
    predicted = (probs >= np.asarray(threshold, dtype=np.float64)).astype(np.int64)
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


def tuned_metrics(probs: np.ndarray, targets: np.ndarray, thresholds: np.ndarray) -> dict[str, float]:
    """The THRESHOLDED metrics at per-genre thresholds, named `<metric>_tuned`."""
    scores = compute_metrics(probs, targets, thresholds)
    return {f"{name}_tuned": scores[name] for name in THRESHOLDED}


def tune_thresholds(probs: np.ndarray, targets: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Each genre's decision threshold that maximises its F1 on these rows (the validation split).

    A genre is predicted when its probability is >= its threshold. The candidates are the distinct
    probabilities the genre takes (any threshold between two of them predicts the same rows); ties
    go to the lowest. A genre with no positive row (F1 is 0 whatever the threshold), or
    probabilities that are not finite, keeps `default`.
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets).astype(bool)
    thresholds = np.full(probs.shape[1], float(default))
    if len(probs) == 0 or not np.isfinite(probs).all():
        return thresholds
    for g in range(probs.shape[1]):
        positives = int(targets[:, g].sum())
        if positives == 0:
            continue
        # Rows sorted by probability, highest first; a threshold at the k-th distinct value predicts
        # every row down to the last row holding that value.
        order = np.argsort(-probs[:, g], kind="stable")
        ranked, hits = probs[order, g], targets[order, g]
        last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
        true_pos = np.cumsum(hits)[last_of_tie]
        predicted = last_of_tie + 1
        f1s = 2 * true_pos / (predicted + positives)
        best = f1s.max()
        # Candidates run from the highest threshold down: the last one reaching the best F1 is the lowest.
        thresholds[g] = ranked[last_of_tie[np.flatnonzero(f1s == best)[-1]]]
    return thresholds


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


def prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    """{name: value} -> {prefix_name: float(value)}: a split's metrics as reported (val_map, test_map)."""
    return {f"{prefix}_{name}": float(value) for name, value in metrics.items()}
