"""Short readable names for trials and their hyperparameters (`lr=1e-3,r=58`)."""

from __future__ import annotations

# How each swept key is abbreviated in a trial's name.
SHORT = {"lr": "lr", "ratio": "r", "loss": "loss", "batch_size": "bs", "dropout": "do", "seed": "seed"}


def format_lr(lr: float) -> str:
    """1e-3 -> '1e-3', 5e-4 -> '5e-4', 1.5e-3 -> '1.5e-3'."""
    mantissa, exponent = f"{lr:.6e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def format_value(key: str, value) -> str:
    return format_lr(value) if key == "lr" else f"{value:g}" if isinstance(value, float) else str(value)


def trial_name(config: dict, swept: list[str]) -> str:
    """lr and ratio always, then any other key the sweep varies."""
    keys = ["lr", "ratio"] + [k for k in swept if k not in ("lr", "ratio")]
    return ",".join(f"{SHORT.get(k, k)}={format_value(k, config[k])}" for k in keys)
