"""Which hyperparameters mattered: fANOVA (optuna.importance) over the trials' best select_metric.

The trials become an Optuna study (create_trial/add_trial, one distribution per swept parameter,
its bounds the values the trials took); fANOVA then splits the variance of the best select_metric
between the parameters. A trial ASHA stopped counts at the best value it reached before the stop;
a trial that never produced a finite value (diverged, not started) is left out.
"""

from __future__ import annotations

import math

import pandas as pd

from ..training.hyperparameters import HYPERPARAMETERS
from ..training.metrics import lower_is_better

# Numbers with more than 3 values are a range (log-scaled for these keys); anything else with more
# than one value is a categorical choice. A range with 50 drawn values as 50 categories made
# fANOVA take minutes where it takes a second.
LOG_SCALE = ("lr", "weight_decay", "backbone_lr_scale")
METHOD = "fANOVA (optuna.importance.FanovaImportanceEvaluator, seed 0)"


def swept_parameters(table: pd.DataFrame) -> list[str]:
    """The hyperparameters (and epochs) that took more than one value across the trials."""
    return [k for k in (*HYPERPARAMETERS, "epochs") if k in table and table[k].nunique(dropna=True) > 1]


def distribution(table: pd.DataFrame, key: str):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    values = table[key].dropna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) and values.nunique() > 3:
        if pd.api.types.is_integer_dtype(values):
            return IntDistribution(int(values.min()), int(values.max()))
        return FloatDistribution(float(values.min()), float(values.max()), log=key in LOG_SCALE and values.min() > 0)
    return CategoricalDistribution(sorted(values.unique().tolist(), key=str))


def python_value(value):
    return value.item() if hasattr(value, "item") else value


def importance(table: pd.DataFrame, select: str) -> tuple[pd.DataFrame, int]:
    """(parameter, importance, method) rows, most important first, and how many trials they rest on."""
    import optuna

    params = swept_parameters(table)
    target = f"best_{select}"
    scored = table[[*params, target]].dropna()
    scored = scored[scored[target].map(lambda v: math.isfinite(float(v)))]
    empty = pd.DataFrame(columns=["parameter", "importance", "method"])
    # fANOVA splits the variance of the scores: with fewer than 2 trials, or all of them tied
    # (optuna raises on zero variance), there is none to split.
    if not params or len(scored) < 2 or scored[target].astype(float).nunique() < 2:
        return empty, len(scored)
    distributions = {k: distribution(scored, k) for k in params}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize" if lower_is_better(select) else "maximize")
    for _, row in scored.iterrows():
        study.add_trial(optuna.trial.create_trial(
            params={k: python_value(row[k]) for k in params}, distributions=distributions, value=float(row[target])))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
    rows = [{"parameter": k, "importance": float(v), "method": METHOD} for k, v in found.items()]
    return pd.DataFrame(rows, columns=["parameter", "importance", "method"]), len(scored)


def importance_lines(found: pd.DataFrame, trials: int, select: str, stopped: int) -> list[str]:
    """The results.md section."""
    lines = ["## Which hyperparameters mattered", ""]
    if found.empty and trials >= 2:
        return lines + [f"Nothing to split: all {trials} trials reached the same best {select}.", ""]
    if found.empty:
        return lines + [f"Not enough to say: {trials} trial(s) with a finite best {select} (fANOVA needs 2 or more).", ""]
    lines += ["| parameter | importance |", "|---|---:|"]
    lines += [f"| {row.parameter} | {row.importance:.3f} |" for row in found.itertuples()]
    caveat = (f"fANOVA over {trials} trials' best {select} (the share of its variance each parameter explains, "
              f"summing to 1); with few trials read it as a hint, not a measurement.")
    if stopped:
        caveat += f" {stopped} trial(s) ASHA stopped count at the best value they reached before the stop."
    return lines + ["", caveat, ""]
