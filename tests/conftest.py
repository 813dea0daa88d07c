"""Fixtures shared by every test folder. Topic-specific fixtures live beside their tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# A real S3-compatible server on 127.0.0.1 (moto's, started once per run) and each test's prefix of its bucket.
from support.s3_server import s3, s3_server  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[1]
SHARED_POSTERS = REPO.parent / "shared" / "data" / "tv-posters"


@pytest.fixture
def shared_posters() -> Path:
    """The real poster set in ../shared (the study's published layout); skips when absent."""
    if not (SHARED_POSTERS / "484da.csv").is_file():
        pytest.skip(f"{SHARED_POSTERS} is absent (a fresh clone has no ../shared)")
    return SHARED_POSTERS


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` need a CUDA GPU: where torch sees none they are skipped, saying so."""
    needing_cuda = [item for item in items if item.get_closest_marker("cuda")]
    if not needing_cuda:
        return
    import torch  # only when such a test was collected: the dataset_builder tests need no torch

    if torch.cuda.is_available():
        return
    for item in needing_cuda:
        item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; torch sees none on this machine"))
