"""How reports and compare show trials: lr x ratio tables or a ranked list, and each group's label."""

from __future__ import annotations

import pandas as pd
import pytest

from tune_genres.results.trials import group_label, tabled_as_grid
from tune_genres.training.hyperparameters import HYPERPARAMETERS, format_setting


def trials(**swept) -> pd.DataFrame:
    """Six trials: every hyperparameter fixed but the lists given."""
    return pd.DataFrame({key: swept.get(key, [0] * 6) for key in HYPERPARAMETERS})


@pytest.mark.parametrize("swept, search, expected", [
    ({"lr": [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4], "ratio": [30, 44, 58] * 2}, "grid", True),
    ({"lr": [1e-3] * 3 + [5e-4] * 3, "ratio": [30] * 6, "loss": ["cce", "bce", "bce", "cce", "bce", "cce"]}, "grid", True),
    ({"lr": [5e-4] * 6, "ratio": [30] * 6, "seed": [0, 1, 2, 3, 4, 5]}, "grid", False),  # one cell per table
    ({"lr": [5e-4] * 6, "ratio": [30] * 6, "seed": [0, 1, 2] * 2, "dropout": [0.2, 0.5] * 3}, "grid", False),
    ({"lr": [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4], "ratio": [30, 44, 58] * 2}, "tpe", False),
])
def test_a_section_tables_a_grid_and_ranks_the_rest(swept, search, expected):
    assert tabled_as_grid(trials(**swept), search) is expected


def test_a_group_of_trials_is_labelled_by_its_keys_values():
    # pandas' groupby over a list of keys yields tuples; a label never shows one ("((0,))").
    assert group_label(["seed"], (0,)) == "seed=0"
    assert group_label(["loss"], "bce") == "loss=bce"
    assert group_label(["loss", "seed"], ("bce", 1)) == "loss=bce, seed=1"


@pytest.mark.parametrize("key, value, printed", [
    ("weight_decay", 0.000187, "1.87e-4"),  # a 3-decimal cell printed 0.000
    ("lr", 6.699187e-3, "6.7e-3"), ("lr", 5e-4, "5e-4"), ("dropout", 0.43217, "0.432"), ("dropout", 0.5, "0.5"),
    ("weight_decay", 0.05, "0.05"), ("input_scale", 2.0, "2"), ("ratio", 58, "58"), ("loss", "bce", "bce"),
    ("backbone_lr_scale", 1234.5, "1230"), ("dropout", float("nan"), "–"), ("dropout", None, "–"),
])
def test_a_setting_prints_to_three_significant_digits_whatever_its_size(key, value, printed):
    assert format_setting(key, value) == printed


def test_a_group_of_a_small_drawn_value_keeps_its_digits():
    assert group_label(["weight_decay"], (0.000187,)) == "weight_decay=1.87e-4"
