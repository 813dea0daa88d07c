"""Choosing which genres a built dataset predicts: `--genres` parsing and selection rules."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np

from .errors import BadInput

# min-cooccurrence only considers genres carried by at least this share of titles: the rarest
# genres co-occur least simply because they are rare, and leave too few examples to learn from.
MIN_COOCCURRENCE_SHARE = 0.04
# Above this many candidate subsets, min-cooccurrence searches greedily instead of exhaustively.
MAX_EXHAUSTIVE_SUBSETS = 300_000


def genre_counts(label_lists: list[list[str]]) -> Counter:
    return Counter(g for labels in label_lists for g in labels)


def by_frequency(counts: Counter) -> list[str]:
    """The genres, most frequent first; ties in name order."""
    return [g for g, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def multi_hot(label_lists: list[list[str]], genres: list[str]) -> np.ndarray:
    """N x G uint8 matrix, columns in `genres` order."""
    column = {g: i for i, g in enumerate(genres)}
    out = np.zeros((len(label_lists), len(genres)), dtype=np.uint8)
    for row, labels in enumerate(label_lists):
        for g in labels:
            if g in column:
                out[row, column[g]] = 1
    return out


def select_genres(spec: str, label_lists: list[list[str]]) -> list[str]:
    """Resolve `--genres`: an explicit comma list, `top:K` or `min-cooccurrence:K`.

    Explicit lists keep the user's order (it fixes the label columns, and categorical accuracy
    depends on it); the rules list genres by descending frequency.
    """
    counts = genre_counts(label_lists)
    known = sorted(counts)
    spec = spec.strip()
    rule, _, arg = spec.partition(":")
    if rule in ("top", "min-cooccurrence") and arg:
        k = _parse_k(arg, spec, len(known))
        if rule == "top":
            return by_frequency(counts)[:k]
        return least_cooccurring(label_lists, k)
    genres = [g.strip() for g in spec.split(",") if g.strip()]
    if not genres:
        raise BadInput("--genres: empty; expected a list such as Horror,Romance or top:K or min-cooccurrence:K")
    duplicates = sorted(g for g, n in Counter(genres).items() if n > 1)
    if duplicates:
        raise BadInput(f"--genres: {', '.join(duplicates)} given twice")
    unknown = [g for g in genres if g not in counts]
    if unknown:
        raise BadInput(f"--genres: unknown genre(s) {', '.join(unknown)}; the collection has {', '.join(known)}")
    return genres


def _parse_k(arg: str, spec: str, available: int) -> int:
    try:
        k = int(arg)
    except ValueError:
        raise BadInput(f"--genres {spec}: K must be a whole number") from None
    if not 1 <= k <= available:
        raise BadInput(f"--genres {spec}: K must be between 1 and {available} (the genres in the collection)")
    return k


def least_cooccurring(label_lists: list[list[str]], k: int) -> list[str]:
    """The study's way: K genres that co-occur least.

    Among genres carried by at least MIN_COOCCURRENCE_SHARE of titles, the K-subset whose
    pairwise Jaccard overlaps (titles with both / titles with either) sum least; ties go to the
    more frequent genres. Exhaustive when small enough, otherwise greedy from the most frequent.
    """
    counts = genre_counts(label_lists)
    ranked = by_frequency(counts)
    floor = MIN_COOCCURRENCE_SHARE * len(label_lists)
    candidates = [g for g in ranked if counts[g] >= floor]
    if len(candidates) < k:
        candidates = ranked[: max(k, len(candidates))]
    y = multi_hot(label_lists, candidates).astype(np.int64)
    both = y.T @ y
    either = np.add.outer(np.diag(both), np.diag(both)) - both
    jaccard = both / np.maximum(either, 1)

    def cost(subset: tuple[int, ...]) -> float:
        return float(sum(jaccard[i, j] for i, j in itertools.combinations(subset, 2)))

    n = len(candidates)
    if math.comb(n, k) <= MAX_EXHAUSTIVE_SUBSETS:
        # combinations() yields subsets of more frequent genres first, and min() keeps the first.
        best = min(itertools.combinations(range(n), k), key=cost)
    else:
        best = (0,)
        while len(best) < k:
            rest = [i for i in range(n) if i not in best]
            best = min((best + (i,) for i in rest), key=cost)
    return [candidates[i] for i in sorted(best)]

