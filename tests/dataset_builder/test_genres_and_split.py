"""Genre selection rules and the iterative stratification, on hand-made label sets."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_builder.errors import BadInput
from dataset_builder.genres import least_cooccurring, multi_hot, select_genres
from dataset_builder.split import iterative_stratification

# A: 10 titles, B: 8, C: 6, D: 6. A and B always together; C and D never with anything else.
LABELS = [["A", "B"]] * 8 + [["A"]] * 2 + [["C"]] * 6 + [["D"]] * 6


def test_explicit_list_keeps_the_users_order():
    assert select_genres("C, A", LABELS) == ["C", "A"]


def test_top_k_is_by_frequency():
    assert select_genres("top:2", LABELS) == ["A", "B"]


def test_min_cooccurrence_avoids_genres_that_come_together():
    # {A, C, D} or {B, C, D} have no overlap at all; A is the more frequent, so it wins the tie.
    assert least_cooccurring(LABELS, 3) == ["A", "C", "D"]
    assert select_genres("min-cooccurrence:3", LABELS) == ["A", "C", "D"]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("A,Z", "--genres: unknown genre(s) Z; the collection has A, B, C, D"),
        ("A,A", "--genres: A given twice"),
        ("top:9", "--genres top:9: K must be between 1 and 4"),
        ("min-cooccurrence:x", "--genres min-cooccurrence:x: K must be a whole number"),
        (" , ", "--genres: empty"),
    ],
)
def test_bad_genre_specs(spec, message):
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        select_genres(spec, LABELS)


def test_multi_hot_columns_follow_the_given_order():
    assert multi_hot([["B", "A"], ["C"]], ["C", "A"]).tolist() == [[0, 1], [1, 0]]


def test_iterative_stratification_spreads_rare_genres_to_every_split():
    rng = np.random.default_rng(1)
    n = 1000
    labels = np.zeros((n, 5), dtype=np.uint8)
    labels[:, 0] = rng.random(n) < 0.6
    labels[:, 1] = rng.random(n) < 0.3
    labels[rng.choice(n, 7, replace=False), 2] = 1  # a very rare genre: 7 titles
    labels[rng.choice(n, 40, replace=False), 3] = 1
    labels[:, 4] = labels.sum(axis=1) == 0  # every title has some genre
    assignment = iterative_stratification(labels, (0.7, 0.15, 0.15), seed=0)
    sizes = np.bincount(assignment, minlength=3)
    assert abs(sizes[0] - 700) <= 5 and abs(sizes[1] - 150) <= 5
    for split in range(3):
        assert labels[assignment == split].any(axis=0).all()
    # Each genre's share in each split is close to the split's share.
    for genre in (0, 1, 3):
        per_split = np.bincount(assignment[labels[:, genre] == 1], minlength=3) / labels[:, genre].sum()
        assert np.abs(per_split - [0.7, 0.15, 0.15]).max() < 0.03
    assert np.array_equal(assignment, iterative_stratification(labels, (0.7, 0.15, 0.15), seed=0))
    assert not np.array_equal(assignment, iterative_stratification(labels, (0.7, 0.15, 0.15), seed=1))
