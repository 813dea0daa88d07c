"""Which hyperparameters mattered: fANOVA over the trials' best select_metric, and its chart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tune_genres.results.charts import parallel_coordinates
from tune_genres.results.importance import importance, importance_lines, swept_parameters


def trials(count: int = 30, seed: int = 0) -> pd.DataFrame:
    """best_val_map follows log10(lr) strongly, dropout a little, and not batch_size at all."""
    rng = np.random.default_rng(seed)
    lr = 10 ** rng.uniform(-5, -2, count)
    dropout = rng.uniform(0.1, 0.7, count)
    batch = rng.choice([16, 32, 64], count)
    value = 0.3 + 0.1 * (np.log10(lr) + 5) + 0.02 * dropout
    return pd.DataFrame({"lr": lr, "ratio": 30, "loss": "bce", "batch_size": batch, "dropout": dropout, "seed": 0,
                         "epochs": 10, "best_val_map": value, "best_val_loss": -value, "trial": [f"t{i}" for i in range(count)]})


def test_the_parameter_the_metric_follows_comes_first():
    table = trials()
    assert swept_parameters(table) == ["lr", "batch_size", "dropout"]
    found, rested_on = importance(table, "val_map")
    assert rested_on == 30 and list(found.columns) == ["parameter", "importance", "method"]
    assert found["parameter"].iloc[0] == "lr" and found["importance"].iloc[0] > 0.8
    assert abs(found["importance"].sum() - 1) < 1e-6 and found["method"].str.startswith("fANOVA").all()
    # a lower-is-better metric: the same answer
    assert importance(table, "val_loss")[0]["parameter"].iloc[0] == "lr"


def test_diverged_trials_are_left_out_and_too_few_say_so():
    table = trials(4)
    table.loc[[0, 1, 2], "best_val_map"] = np.nan
    found, rested_on = importance(table, "val_map")
    assert found.empty and rested_on == 1
    assert "Not enough to say: 1 trial(s) with a finite best val_map" in "\n".join(importance_lines(found, 1, "val_map", 0))


def test_the_caveat_names_the_trial_count_and_asha_stops():
    found, rested_on = importance(trials(12), "val_map")
    text = "\n".join(importance_lines(found, rested_on, "val_map", 3))
    assert "## Which hyperparameters mattered" in text and "| lr |" in text
    assert "fANOVA over 12 trials' best val_map" in text
    assert "3 trial(s) ASHA stopped count at the best value they reached before the stop" in text


def test_parallel_coordinates_is_a_png(tmp_path):
    table = trials(8)
    table.loc[0, "best_val_map"] = np.nan  # not drawn, no failure
    parallel_coordinates(table, ["lr", "batch_size", "dropout"], "best_val_map", tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "p.png").stat().st_size > 5000


def test_every_drawn_number_is_a_range_not_fifty_categories():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from tune_genres.results.importance import distribution

    table = trials(50)
    table["weight_decay"] = 10 ** np.random.default_rng(1).uniform(-4, -1, 50)
    table["epochs"] = np.random.default_rng(2).integers(10, 50, 50)
    assert distribution(table, "weight_decay") == FloatDistribution(table.weight_decay.min(), table.weight_decay.max(), log=True)
    assert distribution(table, "dropout").log is False and isinstance(distribution(table, "epochs"), IntDistribution)
    assert isinstance(distribution(table, "batch_size"), CategoricalDistribution)  # 3 values: a choice
    found, _ = importance(table, "val_map")
    assert found["parameter"].iloc[0] == "lr" and set(found["parameter"]) == {"lr", "dropout", "batch_size", "weight_decay", "epochs"}


def test_trials_that_all_tie_have_nothing_to_split_and_say_so():
    table = trials(4)
    table["best_val_map"] = 1.0  # optuna's fANOVA raises on zero variance; the report must not
    found, rested_on = importance(table, "val_map")
    assert found.empty and rested_on == 4
    assert "Nothing to split: all 4 trials reached the same best val_map." in importance_lines(found, rested_on, "val_map", 0)
