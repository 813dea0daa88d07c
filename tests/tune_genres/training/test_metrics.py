"""Metrics and baselines against cases small enough to score by hand, and against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tune_genres.training.metrics import METRICS, MetricWarning, average_precision, baselines, compute_metrics, f1, roc_auc

TARGETS = np.array([
    [1, 0, 1],
    [0, 1, 0],
    [1, 1, 0],
    [0, 0, 1],
])
PROBS = np.array([
    [0.7, 0.2, 0.6],
    [0.1, 0.8, 0.3],
    [0.4, 0.6, 0.1],
    [0.3, 0.1, 0.2],
])


def test_hand_computed_case():
    # argmax probs (0, 1, 1, 0) vs argmax targets, the first positive (0, 1, 0, 2): 2 of 4 hit.
    # Predicted at >= 0.5: [1,0,1] [0,1,0] [0,1,0] [0,0,0]
    #   g0: TP 1 FP 0 FN 1 -> F1 2/3;  g1: TP 2 -> F1 1;  g2: TP 1 FN 1 -> F1 2/3
    #   macro F1 (2/3 + 1 + 2/3) / 3 = 7/9;  micro: TP 4 FP 0 FN 2 -> 8 / (8 + 2) = 0.8
    #   Hamming: 2 wrong cells (r2 g0, r3 g2) of 12 = 1/6; subset: rows 0 and 1 exact = 2/4
    # AP (ranked by score): g0 1,1,0,0 -> 1;  g1 1,1,0,0 -> 1;
    #   g2 ranked 0.6(+) 0.3(-) 0.2(+) 0.1(-): 1/2 * 1 + 1/2 * 2/3 = 5/6;  mAP (1 + 1 + 5/6) / 3 = 17/18
    # ROC-AUC (pairs positive > negative): g0 4/4, g1 4/4, g2 0.6>0.3, 0.6>0.1, 0.2<0.3, 0.2>0.1 = 3/4
    #   macro (1 + 1 + 3/4) / 3 = 11/12
    scores = compute_metrics(PROBS, TARGETS)
    assert list(scores) == list(METRICS)
    assert scores == pytest.approx({
        "categorical_accuracy": 0.5,
        "f1_micro": 0.8,
        "f1_macro": 7 / 9,
        "map": 17 / 18,
        "roc_auc_macro": 11 / 12,
        "hamming_loss": 1 / 6,
        "subset_accuracy": 0.5,
    })


def test_threshold_moves_the_thresholded_metrics_only():
    # At 0.15 every cell but (r1 g0 0.1) and (r3 g1 0.1) and (r2 g2 0.1) is predicted:
    # r0 [1,1,1] r1 [0,1,1] r2 [1,1,0] r3 [1,0,1]; wrong cells: r0 g1, r1 g2, r3 g0 = 3 of 12.
    scores = compute_metrics(PROBS, TARGETS, threshold=0.15)
    assert scores["hamming_loss"] == pytest.approx(3 / 12)
    assert scores["subset_accuracy"] == pytest.approx(1 / 4)
    assert scores["map"] == pytest.approx(17 / 18)


def test_genre_without_positives_is_skipped_in_macro_metrics_with_a_warning():
    # A 4th genre no eval row has, predicted 0.1 everywhere: macro F1/AP/AUC are those of the
    # 3 scorable genres; Hamming now counts 16 cells: 2 / 16.
    targets = np.hstack([TARGETS, np.zeros((4, 1), int)])
    probs = np.hstack([PROBS, np.full((4, 1), 0.1)])
    with pytest.warns(MetricWarning, match=r"genre column\(s\) \[3\] skipped .* averaged over 3 of 4"):
        scores = compute_metrics(probs, targets)
    assert scores["f1_macro"] == pytest.approx(7 / 9)
    assert scores["map"] == pytest.approx(17 / 18)
    assert scores["roc_auc_macro"] == pytest.approx(11 / 12)
    assert scores["hamming_loss"] == pytest.approx(2 / 16)


def test_genre_on_every_row_is_skipped_for_auc_only():
    targets = np.hstack([TARGETS, np.ones((4, 1), int)])
    probs = np.hstack([PROBS, np.full((4, 1), 0.9)])
    with pytest.warns(MetricWarning, match=r"roc_auc_macro: genre column\(s\) \[3\] skipped \(only one class"):
        scores = compute_metrics(probs, targets)
    assert scores["roc_auc_macro"] == pytest.approx(11 / 12)
    assert scores["map"] == pytest.approx((17 / 18 * 3 + 1) / 4)  # genre 3: AP 1


def test_no_scorable_genre_gives_nan_with_a_warning_not_a_crash():
    with pytest.warns(MetricWarning, match="averaged over 0 of 3: NaN"):
        scores = compute_metrics(PROBS, np.zeros((4, 3), int))
    assert math.isnan(scores["map"]) and math.isnan(scores["roc_auc_macro"]) and math.isnan(scores["f1_macro"])
    assert scores["hamming_loss"] == pytest.approx(4 / 12)  # the four cells >= 0.5: 0.7, 0.6, 0.8, 0.6


def test_diverged_model_gives_nan_everywhere_with_a_warning():
    probs = PROBS.copy()
    probs[1, 2] = np.nan
    with pytest.warns(MetricWarning, match="1 of 12 probabilities are not finite"):
        scores = compute_metrics(probs, TARGETS)
    assert list(scores) == list(METRICS) and all(math.isnan(v) for v in scores.values())


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="must both be N x G"):
        compute_metrics(PROBS[:, :2], TARGETS)


def test_baselines_hand_computed():
    # Training frequencies: g0 4/5 = 0.8, g1 3/5 = 0.6, g2 1/5 = 0.2; the majority genre is g0.
    train = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 0], [1, 0, 0]])
    result = baselines(train, TARGETS)
    # prior: every row scores (0.8, 0.6, 0.2); predicted [1,1,0] everywhere.
    #   argmax 0 vs first positives (0, 1, 0, 2): 2/4.
    #   g0 TP 2 FP 2 -> 2/3; g1 TP 2 FP 2 -> 2/3; g2 TP 0 -> 0: macro 4/9; micro TP 4 FP 4 FN 2 -> 8/14
    #   wrong cells: r0 2, r1 1, r2 0, r3 3 = 6/12; exact rows: r2 only = 1/4
    #   constant scores: AP = prevalence (2/4 for each genre), ROC-AUC 0.5
    assert result["prior"] == pytest.approx({
        "categorical_accuracy": 0.5, "f1_micro": 4 / 7, "f1_macro": 4 / 9, "map": 0.5,
        "roc_auc_macro": 0.5, "hamming_loss": 0.5, "subset_accuracy": 0.25,
    })
    # majority: every row scores (1, 0, 0); predicted [1,0,0].
    #   g0 TP 2 FP 2 -> 2/3, g1 and g2 0: macro 2/9; micro TP 2 FP 2 FN 4 -> 4/10
    #   wrong cells: r0 1, r1 2, r2 1, r3 2 = 6/12; no row exact
    assert result["majority"] == pytest.approx({
        "categorical_accuracy": 0.5, "f1_micro": 0.4, "f1_macro": 2 / 9, "map": 0.5,
        "roc_auc_macro": 0.5, "hamming_loss": 0.5, "subset_accuracy": 0.0,
    })


@pytest.mark.parametrize("seed", range(5))
def test_scores_equal_scikit_learns(seed):
    """The numpy scores give scikit-learn's values, ties in the scores included (coarse rounding)."""
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    rng = np.random.default_rng(seed)
    targets = (rng.random((300, 6)) < rng.uniform(0.05, 0.6, 6)).astype(np.int64)
    scores = np.round(np.clip(targets * 0.2 + rng.random((300, 6)), 0, 1), 1 + seed % 3)  # many ties
    predicted = (scores >= 0.5).astype(np.int64)
    for g in range(6):
        assert average_precision(targets[:, g], scores[:, g]) == pytest.approx(average_precision_score(targets[:, g], scores[:, g]), abs=1e-12)
        assert roc_auc(targets[:, g], scores[:, g]) == pytest.approx(roc_auc_score(targets[:, g], scores[:, g]), abs=1e-12)
        assert f1(targets[:, g], predicted[:, g]) == pytest.approx(f1_score(targets[:, g], predicted[:, g], zero_division=0), abs=1e-12)
    assert f1(targets.ravel(), predicted.ravel()) == pytest.approx(f1_score(targets, predicted, average="micro", zero_division=0), abs=1e-12)
    assert f1(np.zeros(4, np.int64), np.zeros(4, np.int64)) == 0.0  # undefined: 0, as zero_division=0


def test_tuned_thresholds_are_each_genres_f1_optimal_ones_ties_to_the_lower():
    from tune_genres.training.metrics import tune_thresholds, tuned_metrics

    probs = np.array([
        [0.9, 0.30, 0.2],
        [0.8, 0.20, 0.6],
        [0.6, 0.20, 0.1],
        [0.4, 0.10, 0.5],
        [0.3, 0.05, 0.3],
    ])
    targets = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
    # Genre 0: >=0.4 catches all 3 positives with 1 false positive: F1 6/7, the best; >=0.8 gives 0.8.
    # Genre 1: >=0.2 catches both positives (and one negative, tied at 0.2): F1 0.8; >=0.3 gives 2/3.
    # Genre 2: no positive: F1 is 0 at every threshold, so it keeps 0.5.
    thresholds = tune_thresholds(probs, targets)
    np.testing.assert_allclose(thresholds, [0.4, 0.2, 0.5])
    # The exhaustive check: no threshold on a fine grid beats the chosen one's F1, and none lower ties it.
    for g in range(2):
        chosen = f1(targets[:, g], (probs[:, g] >= thresholds[g]).astype(int))
        for t in np.linspace(0, 1, 1001):
            score = f1(targets[:, g], (probs[:, g] >= t).astype(int))
            assert score <= chosen + 1e-12
            if t < thresholds[g] - 1e-9 and score == chosen:
                # any lower threshold with the same F1 predicts the same rows (it lies in the same gap)
                assert ((probs[:, g] >= t) == (probs[:, g] >= thresholds[g])).all()
    tuned = tuned_metrics(probs, targets, thresholds)
    assert set(tuned) == {"f1_micro_tuned", "f1_macro_tuned", "hamming_loss_tuned", "subset_accuracy_tuned"}
    assert tuned["f1_macro_tuned"] == pytest.approx((6 / 7 + 0.8) / 2)
    assert tuned["f1_macro_tuned"] > compute_metrics(probs, targets)["f1_macro"]


def test_ties_between_thresholds_with_equal_f1_go_to_the_lowest():
    from tune_genres.training.metrics import tune_thresholds

    # >=0.9 predicts 1 row (1 TP of 2): F1 2/3; >=0.3 predicts 4 rows (2 TP): F1 2/3 too; the rest less.
    probs = np.array([[0.9], [0.7], [0.5], [0.3], [0.1]])
    targets = np.array([[1], [0], [0], [1], [0]])
    assert tune_thresholds(probs, targets)[0] == pytest.approx(0.3)
