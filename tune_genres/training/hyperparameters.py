"""What a trial's config holds: THE list of swept hyperparameters, the names a loss or a precision
may take, and how a value prints. Free of torch, so the sweep file is checked without loading it.

The sweep-file schema (sweep/sweep_file.py), the report's columns (results/trials.py) and trial
names (sweep/naming.py) all take their keys from here.
"""

from __future__ import annotations

from ..models.catalog import DEFAULT_MODEL

# The keys a sweep may vary between trials, in the order tables show them, each with the short
# form a trial's name uses (`lr=1e-3,r=58,bs=16,m=resnet18`).
SWEPT = {
    "lr": "lr", "ratio": "r", "loss": "loss", "batch_size": "bs", "dropout": "do", "seed": "seed",
    # the network and how it starts and learns (models/, training/loop.py)
    "model": "m", "weights": "w", "input_scale": "sc", "freeze": "fz", "backbone_lr_scale": "blr",
    "optimizer": "opt", "weight_decay": "wd", "schedule": "sch", "warmup_epochs": "wu",
    "augment": "aug", "pos_weight": "pw",
}
HYPERPARAMETERS = tuple(SWEPT)

WEIGHTS = ("none", "imagenet")  # from scratch, or ImageNet's (models/pretrained.py says from where)
FREEZE = ("none", "backbone")  # fine-tune everything, or train the head alone on a fixed body
OPTIMIZERS = ("adam", "adamw")  # Adam (the study's; weight_decay as L2) or AdamW (decoupled decay)
SCHEDULES = ("constant", "cosine")  # the learning rate per epoch, after a linear warm-up
AUGMENTS = ("none", "flip", "standard")  # training/augment.py; never at evaluation
POS_WEIGHTS = ("none", "balanced")  # bce only: each genre's positives weighed by negatives / positives
# A trial's setting of each key above when its config lacks it (configs of earlier versions): the
# study's exactly. The sweep file's schema takes its defaults from here too.
DEFAULTS = {
    "model": DEFAULT_MODEL, "weights": "none", "input_scale": 1.0, "freeze": "none", "backbone_lr_scale": 1.0,
    "optimizer": "adam", "weight_decay": 0.0, "schedule": "constant", "warmup_epochs": 0,
    "augment": "none", "pos_weight": "none",
}


def setting(config: dict, key: str):
    """A trial config's value of `key`, or its default (DEFAULTS) for a config from before the key."""
    return config.get(key, DEFAULTS.get(key))

# softmax + categorical cross-entropy (the study's) or sigmoid + binary cross-entropy (training/losses.py).
LOSSES = ("cce", "bce")
# What a trial trains in: fp32 (IEEE, TF32 off), tf32 (TF32 matmuls and convolutions on GPUs from
# Ampere on) or bf16 autocast. "auto", a sweep's default, is resolved to one of them once, by the
# driver: bf16 where the trials' devices compute it in hardware, else fp32 (sweep/precision_choice.py).
RESOLVED_PRECISIONS = ("fp32", "tf32", "bf16")
PRECISIONS = ("auto", *RESOLVED_PRECISIONS)


def format_lr(lr: float) -> str:
    """1e-3 -> '1e-3', 5e-4 -> '5e-4', 1.5e-3 -> '1.5e-3'."""
    mantissa, exponent = f"{lr:.6e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def format_value(key: str, value) -> str:
    """A value as a trial's name spells it (names are folders: never change how one prints)."""
    return format_lr(value) if key == "lr" else f"{value:g}" if isinstance(value, float) else str(value)


def format_setting(key: str, value, digits: int = 3) -> str:
    """A trial's setting as a table or chart prints it: `digits` significant digits, whatever its
    size (a drawn weight decay 0.000187 as 1.87e-4, never 0.000; a learning rate as 6.44e-4), an
    int or a word as it is, a missing value as '–'."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return "–"
    if not isinstance(value, float):
        return str(value)
    rounded = float(f"{value:.{digits}g}")
    text = f"{rounded:g}"
    # Powers of ten as the learning rates print them: 1.87e-4, not 0.000187 or 1.87e-04.
    small = rounded != 0 and abs(rounded) < 1e-3
    return format_lr(rounded) if key == "lr" or small or "e" in text else text
