"""Fixtures for tune_genres tests: a tiny built dataset written straight in the store format."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.tiny_dataset import write_tiny_dataset


@pytest.fixture
def tiny_dataset(tmp_path: Path):
    """A factory: tiny_dataset(name="d", **write_tiny_dataset options) -> the dataset's folder."""

    def make(name: str = "dataset", **options) -> Path:
        return write_tiny_dataset(tmp_path / name, **options)

    return make
