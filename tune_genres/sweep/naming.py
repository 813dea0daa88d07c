"""Short readable names for trials (`lr=1e-3,r=58`): the folder and the TensorBoard run of each.

A sampled sweep (random, tpe, or a repeated grid) puts the trial's index first and rounds drawn
numbers to 3 significant digits (`0007_lr=3.16e-4,r=58,do=0.432`): the index keeps names unique."""

from __future__ import annotations

from ..training.hyperparameters import SWEPT, format_value


def trial_name(config: dict, swept: list[str], index: int | None = None) -> str:
    """lr and ratio always, then any other key the sweep varies; `index`: a sampled sweep's trial number."""
    keys = ["lr", "ratio"] + [k for k in swept if k not in ("lr", "ratio")]
    if index is None:
        return ",".join(f"{SWEPT.get(k, k)}={format_value(k, config[k])}" for k in keys)
    values = {k: float(f"{config[k]:.3g}") if isinstance(config[k], float) else config[k] for k in keys}
    return f"{index:04d}_" + ",".join(f"{SWEPT.get(k, k)}={format_value(k, values[k])}" for k in keys)


def trial_index(trial_id: str) -> int:
    """Tune's trial ids end with the trial's number: 'a1b2c_00007' -> 7."""
    return int(trial_id.rsplit("_", 1)[-1])
