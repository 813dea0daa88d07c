"""Repeats: trials that differ only by their seed ([search] repeats, a grid's num_samples, or a
swept seed), each configuration's mean ± sd over them, and the configuration its mean chooses.

A seed moves a trial's score by training noise alone (weight init, shuffling, dropout): a single
lucky seed is no reason to prefer a configuration, so among repeats the best configuration is the
one with the best mean select_metric on validation, and its best repeat holds the weights to use.
"""

from __future__ import annotations

import pandas as pd

from ..training.hyperparameters import HYPERPARAMETERS, format_setting
from ..training.metrics import lower_is_better


def configuration_keys(table: pd.DataFrame) -> list[str]:
    """The columns that say which configuration a trial trained: every hyperparameter but its seed, and its epochs."""
    return [k for k in (*HYPERPARAMETERS, "epochs") if k != "seed" and k in table.columns]


def repeated(table: pd.DataFrame) -> bool:
    """Do some trials repeat a configuration with another seed?"""
    if "seed" not in table.columns or table["seed"].nunique() < 2:
        return False
    return bool(table.groupby(configuration_keys(table), dropna=False).size().max() > 1)


def configurations(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per configuration: its keys; `repeats` (its trials), `seeds` and `trials` (their index
    labels in `table`); and for each metric the mean over the repeats that scored it (in the metric's
    own column), their sd (`<metric>_sd`, NaN for fewer than 2) and their count (`<metric>_n`)."""
    keys = configuration_keys(table)
    rows = []
    for values, group in table.groupby(keys, dropna=False, sort=False):
        row = dict(zip(keys, values))
        seeds = sorted(int(seed) for seed in group["seed"] if pd.notna(seed))
        row.update(repeats=len(group), seeds=seeds, trials=list(group.index))
        for metric in metrics:
            scores = pd.to_numeric(group[metric], errors="coerce")  # an unscored trial's None is NaN
            row.update({metric: scores.mean(), f"{metric}_sd": scores.std(), f"{metric}_n": int(scores.count())})
        rows.append(row)
    return pd.DataFrame(rows)


def best_configuration(table: pd.DataFrame, select: str) -> pd.DataFrame | None:
    """The trials of the configuration with the best mean `select` (None while none has a finite one)."""
    scored = configurations(table, [select]).dropna(subset=[select])
    if scored.empty:
        return None
    best = scored[select].idxmin() if lower_is_better(select) else scored[select].idxmax()
    return table.loc[scored.loc[best, "trials"]]


def configuration_label(row: pd.Series, keys: list[str]) -> str:
    """A configuration by the keys its experiment varies besides the seed ("lr=1e-3, ratio=30")."""
    return ", ".join(f"{k}={format_setting(k, row[k])}" for k in keys)


def varied_keys(table: pd.DataFrame) -> list[str]:
    """lr, ratio and any other configuration key the trials vary: what names a configuration."""
    return ["lr", "ratio"] + [k for k in configuration_keys(table)
                              if k not in ("lr", "ratio") and table[k].nunique() > 1]


def seeds_text(seeds: list) -> str:
    return ", ".join(str(seed) for seed in seeds)


def test_counterpart(select: str) -> str:
    """The test split's score of the metric that chose (val_map -> test_map)."""
    return "test_" + select.removeprefix("val_")


def with_configuration_columns(table: pd.DataFrame, select: str) -> pd.DataFrame:
    """results.csv's rows, each with its configuration's name, its repeats, and the mean and sd of
    `select` and of its test counterpart over them (what chooses, and what the choice scores)."""
    metrics = [select, test_counterpart(select)]
    keys = varied_keys(table)
    by_trial = {}
    for _, config in configurations(table, metrics).iterrows():
        values = {"configuration": configuration_label(config, keys), "repeats": config["repeats"]}
        for metric in metrics:
            values.update({f"mean_{metric}": config[metric], f"sd_{metric}": config[f"{metric}_sd"]})
        by_trial.update({trial: values for trial in config["trials"]})
    return table.join(pd.DataFrame.from_dict(by_trial, orient="index"))
