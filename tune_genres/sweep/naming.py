"""Names: the experiment's (one folder inside the storage), and short readable ones for trials
(`lr=1e-3,r=58`): the folder and the TensorBoard run of each.

A grid's trial is named by its values, a repeated grid's with its seed (`lr=1e-3,r=30,seed=1`). A
sampled sweep (random, tpe) puts the trial's index first and rounds drawn numbers to 3 significant
digits (`0007_lr=3.16e-4,r=58,do=0.432`): the index keeps names unique."""

from __future__ import annotations

from dataset_builder.errors import BadInput

from ..training.hyperparameters import SWEPT, format_value


def check_experiment_name(name, where: str) -> None:
    """An experiment's name is one folder inside --storage: it can never point elsewhere.
    `where` says where the name came from ("--name", "FILE: name =")."""
    if not isinstance(name, str) or not name:
        raise BadInput(f"{where} {name!r}: expected a non-empty string, the experiment's folder name")
    if name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise BadInput(f"{where} {name!r}: an experiment name is one folder name inside --storage (no '/', no "
                       "leading '.', not absolute), such as paper-2")


def trial_name(config: dict, swept: list[str], index: int | None = None) -> str:
    """lr and ratio always, then any other key the sweep varies; `index`: a sampled sweep's trial number."""
    keys = ["lr", "ratio"] + [k for k in swept if k not in ("lr", "ratio")]
    if index is None:
        return ",".join(f"{SWEPT.get(k, k)}={format_value(k, config[k])}" for k in keys)
    values = {k: float(f"{config[k]:.3g}") if isinstance(config[k], float) else config[k] for k in keys}
    return f"{index:04d}_" + ",".join(f"{SWEPT.get(k, k)}={format_value(k, values[k])}" for k in keys)


class TrialNamer:
    """Tune's trial_name_creator and trial_dirname_creator: a trial's name, the same for both calls.
    A sampled sweep numbers its trials in the order Tune creates them, from `start` (on --resume,
    the trials the experiment already holds)."""

    def __init__(self, swept: list[str], sampled: bool, start: int = 0):
        self.swept, self.sampled, self.next = swept, sampled, start
        self.indices: dict[str, int] = {}

    def __deepcopy__(self, memo) -> "TrialNamer":
        return self  # Tune deep-copies the experiment's spec, namer included, for each trial: one count for all

    def __call__(self, trial) -> str:
        if not self.sampled:
            return trial_name(trial.config, self.swept)
        if trial.trial_id not in self.indices:
            self.indices[trial.trial_id] = self.next
            self.next += 1
        return trial_name(trial.config, self.swept, self.indices[trial.trial_id])
