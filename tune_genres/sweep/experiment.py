"""The experiment folder's identity: what it records (experiment.json) and what may continue it.

A resumed experiment must train on the same posters with the same sweep: a dataset rebuilt under
the same path with another split would mix training posters into the test split, silently. So
--resume compares fingerprints and refuses a change, before Ray starts. Tune restores the run's
own settings (resources, concurrency) from its saved state and ignores new ones: a flag that
would change them is refused rather than ignored.
"""

from __future__ import annotations

import fnmatch

from dataset_builder.errors import BadInput
from dataset_builder.store import MANIFEST, Dataset, is_dataset

from ..results.location import ExperimentLocation, Where, location
from ..results.records import read_experiment
from .sweep_file import Sweep


def experiment_record(sweep: Sweep, dataset: Dataset, resources: dict, max_concurrent: int) -> dict:
    return {
        "dataset": str(dataset.root.resolve()),
        "dataset_fingerprint": dataset.fingerprint,
        "sweep": str(sweep.path),
        "sweep_fingerprint": sweep.fingerprint,
        "select_metric": sweep.run["select_metric"],
        "search": sweep.algorithm,
        "resources": resources,
        "max_concurrent": max_concurrent,
    }


def check_resume(exp_dir: Where, record: dict, flags: dict[str, object]) -> list[str]:
    """Refuse to resume `exp_dir` with another dataset or sweep, or with flags that Tune would
    ignore; `flags` maps each flag the user gave (None: not given) to the record key it sets.
    Returns notes (an experiment from before experiment.json: nothing to compare)."""
    exp_dir = location(exp_dir)
    saved = read_experiment(exp_dir)
    if saved is None:
        return [f"{exp_dir} records no fingerprints (started before they were kept): the dataset and sweep were not checked"]
    new_name = f"--name {exp_dir.name}-2"
    if saved["dataset_fingerprint"] != record["dataset_fingerprint"]:
        raise BadInput(
            f"--resume: dataset {record['dataset']} (fingerprint {record['dataset_fingerprint']}) is not the one "
            f"{exp_dir} trained on ({saved['dataset']}, fingerprint {saved['dataset_fingerprint']}): resuming would "
            f"mix splits; pass the same --dataset, or start a new experiment with {new_name} and no --resume"
        )
    if saved["sweep_fingerprint"] != record["sweep_fingerprint"]:
        raise BadInput(
            f"--resume: sweep file {record['sweep']} (fingerprint {record['sweep_fingerprint']}) differs from the one "
            f"{exp_dir} was started with (its copy: {exp_dir / 'sweep.toml'}); resume with that file, or start a new "
            f"experiment with {new_name} and no --resume"
        )
    for flag, (key, value) in flags.items():
        if value is not None and value != _lookup(saved, key):
            raise BadInput(
                f"--resume: {flag} {value:g} differs from the experiment's {_lookup(saved, key):g} and Tune restores "
                f"its own setting; drop {flag} to resume, or start a new experiment with {new_name}"
            )
    return []


def _lookup(record: dict, key: str):
    for part in key.split("."):
        record = record[part]
    return record


# Files that only an experiment of ours holds: its records, the sweep's copy, Tune's state, the lock.
EXPERIMENT_MARKERS = ("experiment.json", "sweep.toml", "tuner.pkl", "experiment_state-*.json", ".driver.lock")


def check_sweep_may_write(exp_dir: ExperimentLocation) -> None:
    """A sweep writes only into a new or empty folder, or one of its own experiments: never over a
    user's files, a dataset, or anything else that happens to share the name (on any storage)."""
    if exp_dir.exists() and not exp_dir.is_dir():
        raise BadInput(f"{exp_dir}: exists and is not a folder; choose another --name or --storage")
    entries = sorted(exp_dir.list()) if exp_dir.is_dir() else []
    if not entries or any(fnmatch.filter(entries, marker) for marker in EXPERIMENT_MARKERS):
        return
    if exp_dir.is_local and is_dataset(exp_dir.local_path):
        what = f"a built dataset ({MANIFEST})"
    else:
        what = "files that are not a tune-genres experiment (" + ", ".join(entries[:3]) + (
            f" and {len(entries) - 3} more" if len(entries) > 3 else "") + ")"
    raise BadInput(f"{exp_dir}: holds {what}; a sweep never writes there: choose another --name or --storage")
