"""Warm starts: a TPE sweep's study begins with the trials of earlier experiments, not trained again.

`--warm-start EXP` (repeatable) and `[search] warm_start = ["EXP", ...]`; EXP is an experiment's
folder or URI, or a name in --storage. Each earlier trial, read from its record
(results/trial_record.py), enters the new study (optuna_study.py) as what it was:

    finished        COMPLETE at its best select_metric, its best-so-far per epoch as intermediate values
    stopped early   PRUNED with those intermediate values (what TPE heard from it then: pruning_search.py)
    error, unfinished or no finite value: skipped

A trial enters only where it fits the new sweep: the same dataset (the experiment's fingerprint,
else one line and exit 2: its validation scores would be other posters'), the same select_metric,
every fixed hyperparameter and the epochs as the new sweep trains them, and each searched value
inside the new space; the others are listed, one line per experiment, and skipped. They are no
Tune trials: they do not count toward num_samples, results.csv lists only the trials trained here,
and experiment.json records where they came from for the report ("warm-started from N trials of EXP").
Only tpe learns from them: a grid or a random search is refused with one line.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

from dataset_builder.errors import BadInput
from dataset_builder.store import Dataset

from ..results.location import ExperimentLocation, location
from ..results.records import read_experiment
from ..results.trials import Trial, read_trials
from ..training.hyperparameters import format_setting
from .search import searched_space
from .sweep_file import HYPERPARAMETER_KEYS, Sweep


@dataclass
class WarmStart:
    """The earlier trials a new study begins with (Optuna FrozenTrials), and where each came from."""

    trials: list = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # {"experiment": URI, "trials": how many entered}


def planned_warm_start(sweep: Sweep, given: list[str], resume: bool, dataset: Dataset,
                       storage: ExperimentLocation) -> WarmStart:
    """The warm start of a new sweep, checked and read before any work (none for a resumed one:
    its study holds the trials it began with)."""
    check_warm_start(sweep, given, resume)
    sources = warm_start_sources(sweep, given)
    return read_warm_start(sweep, sources, dataset, storage) if sources and not resume else WarmStart()


def warm_start_sources(sweep: Sweep, given: list[str]) -> list[tuple[str, str]]:
    """(where it was said, EXP) for the sweep file's warm_start and then each --warm-start."""
    return [(f"{sweep.path}: search.warm_start", exp) for exp in sweep.search["warm_start"]] + [
        ("--warm-start", exp) for exp in given]


def check_warm_start(sweep: Sweep, given: list[str], resume: bool) -> None:
    if given and sweep.algorithm != "tpe":
        raise BadInput(f"--warm-start: only a tpe search learns from earlier trials, and this sweep's [search] "
                       f"algorithm is {sweep.algorithm}; set it to tpe (--set search.algorithm=tpe)")
    if given and resume:
        raise BadInput("--warm-start with --resume: a resumed study holds the trials it began with; "
                       "drop --warm-start to resume, or start a new experiment with --name")


def read_warm_start(sweep: Sweep, sources: list[tuple[str, str]], dataset: Dataset,
                    storage: ExperimentLocation) -> WarmStart:
    """The earlier experiments' trials that fit the sweep, as Optuna trials; prints, one line per
    experiment, how many entered and which were skipped (and why)."""
    from ray.tune.search.optuna import OptunaSearch

    space = OptunaSearch.convert_search_space(searched_space(sweep))
    fixed = fixed_settings(sweep, space)
    select = sweep.run["select_metric"]
    warm = WarmStart()
    for where, given in sources:
        experiment = earlier_experiment(where, given, dataset, storage)
        entered, skipped = [], []
        for trial in read_trials(experiment):
            why_not = misfit(trial, space, fixed, select)
            if why_not:
                skipped.append(f"{trial.name} ({why_not})")
            else:
                entered.append(as_optuna_trial(trial, space, select, experiment))
        warm.trials += entered
        warm.sources.append({"experiment": str(experiment), "trials": len(entered)})
        line = f"tune-genres: warm start: {len(entered)} trials of {experiment} enter the study"
        if skipped:
            line += f"; {len(skipped)} skipped, not fitting this sweep: {', '.join(skipped)}"
        print(line, file=sys.stderr)
    return warm


def earlier_experiment(where: str, given: str, dataset: Dataset, storage: ExperimentLocation) -> ExperimentLocation:
    """The experiment `given` names (a folder, a URI, or a name in --storage), checked to be one
    trained on `dataset`."""
    experiment = location(given)
    if not experiment.is_dir() and "/" not in given and "\\" not in given:
        experiment = storage.join(given)
    if not experiment.is_dir():
        raise BadInput(f"{where} {given}: no such experiment (neither a folder nor a name in {storage})")
    record = read_experiment(experiment)
    if record is None:
        raise BadInput(f"{where} {given}: {experiment} holds no experiment.json, so its dataset cannot be checked; "
                       "warm-start from an experiment this version of tune-genres ran")
    if record["dataset_fingerprint"] != dataset.fingerprint:
        raise BadInput(f"{where} {given}: trained on dataset {record['dataset']} (fingerprint "
                       f"{record['dataset_fingerprint']}), not {dataset.root} (fingerprint {dataset.fingerprint}): its "
                       "scores are on other posters; warm-start from an experiment on this dataset")
    return experiment


def fixed_settings(sweep: Sweep, space: dict) -> dict:
    """What every trial of the sweep trains with that its space does not vary (the seed aside: one
    more seed is the same configuration): an earlier trial must have trained with the same."""
    fixed = {key: values[0] for key, values in sweep.grid.items() if key not in space and key != "seed"}
    if "epochs" not in space:
        fixed["epochs"] = sweep.train["epochs"] if "epochs" in sweep.train else sweep.grid["epochs"][0]
    return fixed


def misfit(trial: Trial, space: dict, fixed: dict, select: str) -> str | None:
    """Why the trial cannot enter the new study (None: it can)."""
    record, config = trial.record, trial.config
    if record["status"] not in ("finished", "stopped early"):
        return record["status"]
    if record["select_metric"] != select:
        return f"chosen by {record['select_metric']}, not {select}"
    if not intermediate_values(trial, select):
        return f"no finite {select}"
    for key, value in fixed.items():
        had = config.get(key, HYPERPARAMETER_KEYS[key].default if key in HYPERPARAMETER_KEYS else None)
        if had != value:
            return f"{key} {format_setting(key, had)}, not {format_setting(key, value)}"
    for key, distribution in space.items():
        if key not in config:
            return f"no {key}"
        try:
            inside = distribution._contains(distribution.to_internal_repr(config[key]))
        except (ValueError, TypeError):
            inside = False
        if not inside:
            return f"{key} {format_setting(key, config[key])} outside this space"
    return None


def intermediate_values(trial: Trial, select: str) -> dict[int, float]:
    """Epoch -> best select_metric so far: the values the searcher heard from the trial as it ran."""
    values = {row["epoch"]: row.get(f"best_{select}") for row in trial.rows}
    return {epoch: float(v) for epoch, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def as_optuna_trial(trial: Trial, space: dict, select: str, experiment: ExperimentLocation):
    """The earlier trial as Optuna keeps one: COMPLETE at its best value, or PRUNED at its last
    (as Optuna's own tell() records a pruned trial)."""
    import optuna
    from optuna.trial import TrialState

    values = intermediate_values(trial, select)
    finished = trial.record["status"] == "finished"
    value = trial.record["best_value"] if finished else values[max(values)]
    if value is None or not math.isfinite(value):
        value = values[max(values)]
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE if finished else TrialState.PRUNED,
        value=float(value),
        params={key: trial.config[key] for key in space},
        distributions=space,
        intermediate_values=values,
        user_attrs={"warm_start": f"{experiment}/{trial.name}"},
    )
