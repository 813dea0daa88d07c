"""The small JSON records the driver writes into an experiment folder, beside Tune's own files.

    experiment.json          what the experiment is: the dataset (path and fingerprint), the sweep
                             file's fingerprint, the select_metric, the run's resources; --resume
                             and the report read it
    <trial>/trial.json       the trial's outcome, one record each (results/trial_record.py)
    baselines.json           the label-prior and majority scores on val and test (the driver's
                             write_baselines), and the dataset's genres and split counts

Each takes the experiment where it lives (results/location.py: a local folder or a URI). A record
a user broke (hand-edited, truncated, not JSON) is one BadInput line naming it (its URI, no secret
in it) and what to do, never a traceback.
"""

from __future__ import annotations

from dataset_builder.errors import BadInput

from ..training.metrics import SELECTABLE
from .location import Where, location

EXPERIMENT_FILE = "experiment.json"
BASELINES_FILE = "baselines.json"

# What each record must hold for its readers (the report, compare, --resume), and what a user can
# do when it does not: the remedy ends each record's one-line error.
EXPERIMENT_KEYS = {"dataset": str, "dataset_fingerprint": str, "sweep_fingerprint": str, "select_metric": str}
EXPERIMENT_REMEDY = "restore it or remove the experiment"
BASELINES_KEYS = {"dataset": str, "genres": list}
BASELINES_REMEDY = "restore it, or delete it (reports then show no baselines; the sweep with --resume writes it again)"


def write_experiment(exp_dir: Where, record: dict) -> None:
    location(exp_dir).write_json(EXPERIMENT_FILE, record)


def read_experiment(exp_dir: Where) -> dict | None:
    """experiment.json, or None for an experiment started before it was written."""
    exp = location(exp_dir)
    record = exp.read_json(EXPERIMENT_FILE, EXPERIMENT_REMEDY, EXPERIMENT_KEYS)
    if record is not None and record["select_metric"] not in SELECTABLE:
        # A hand-edited choice: the test split must never choose, and an unknown name chooses nothing.
        raise BadInput(f"{exp.join(EXPERIMENT_FILE)}: select_metric {record['select_metric']!r} is not a validation "
                       f"metric ({', '.join(SELECTABLE)}); {EXPERIMENT_REMEDY}")
    return record


def read_baselines(exp_dir: Where) -> dict | None:
    """baselines.json, or None for an experiment without it (its report then shows no baselines)."""
    return location(exp_dir).read_json(BASELINES_FILE, BASELINES_REMEDY, BASELINES_KEYS)
