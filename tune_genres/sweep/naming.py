"""Short readable names for trials (`lr=1e-3,r=58`): the folder and the TensorBoard run of each."""

from __future__ import annotations

from ..training.hyperparameters import SWEPT, format_value


def trial_name(config: dict, swept: list[str]) -> str:
    """lr and ratio always, then any other key the sweep varies."""
    keys = ["lr", "ratio"] + [k for k in swept if k not in ("lr", "ratio")]
    return ",".join(f"{SWEPT.get(k, k)}={format_value(k, config[k])}" for k in keys)
