"""Fixtures shared by every test folder. Topic-specific fixtures live beside their tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_POSTERS = REPO.parent / "shared" / "data" / "tv-posters"


@pytest.fixture
def shared_posters() -> Path:
    """The real poster set in ../shared (the study's published layout); skips when absent."""
    if not (SHARED_POSTERS / "484da.csv").is_file():
        pytest.skip(f"{SHARED_POSTERS} is absent (a fresh clone has no ../shared)")
    return SHARED_POSTERS
