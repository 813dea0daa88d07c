"""Seeded multi-label stratified train/val/test split (iterative stratification).

Sechidis, Tsoumakas and Vlahavas, "On the Stratification of Multi-Label Data" (ECML 2011):
repeatedly take the genre with the fewest unassigned titles and deal its titles to the split
that most lacks that genre. Rare genres are placed first, so every genre reaches every split
whenever it has at least as many titles as there are splits.
"""

from __future__ import annotations

import numpy as np


def iterative_stratification(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> np.ndarray:
    """The split number (0..len(fractions)-1) of each row of an N x G multi-hot matrix."""
    rng = np.random.default_rng(seed)
    labels = labels.astype(bool)
    n, g = labels.shape
    fractions_arr = np.asarray(fractions, dtype=np.float64)
    wanted_rows = fractions_arr * n
    wanted_per_genre = np.outer(fractions_arr, labels.sum(axis=0))  # splits x genres
    assignment = np.full(n, -1, dtype=np.int64)
    remaining = labels.copy()

    def assign(row: int, split: int) -> None:
        assignment[row] = split
        wanted_rows[split] -= 1
        wanted_per_genre[split] -= labels[row]
        remaining[row] = False

    while True:
        left_per_genre = remaining.sum(axis=0)
        if not left_per_genre.any():
            break
        # The genre with the fewest titles still to place (ties broken at random).
        candidates = np.flatnonzero(left_per_genre == left_per_genre[left_per_genre > 0].min())
        genre = rng.choice(candidates)
        for row in rng.permutation(np.flatnonzero(remaining[:, genre])):
            want = wanted_per_genre[:, genre]
            best = np.flatnonzero(want == want.max())
            if len(best) > 1:
                rows_want = wanted_rows[best]
                best = best[rows_want == rows_want.max()]
            assign(row, int(rng.choice(best)))
    # Titles with none of the genres: fill the splits that most lack rows.
    for row in rng.permutation(np.flatnonzero(assignment < 0)):
        best = np.flatnonzero(wanted_rows == wanted_rows.max())
        assign(row, int(rng.choice(best)))
    return assignment
