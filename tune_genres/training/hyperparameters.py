"""What a trial's config holds: THE list of swept hyperparameters, the names a loss or a precision
may take, and how a value prints. Free of torch, so the sweep file is checked without loading it.

The sweep-file schema (sweep/sweep_file.py), the report's columns (results/trials.py) and trial
names (sweep/naming.py) all take their keys from here.
"""

from __future__ import annotations

# The keys a sweep may vary between trials, in the order tables show them, each with the short
# form a trial's name uses (`lr=1e-3,r=58,bs=16`).
SWEPT = {"lr": "lr", "ratio": "r", "loss": "loss", "batch_size": "bs", "dropout": "do", "seed": "seed"}
HYPERPARAMETERS = tuple(SWEPT)

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
    return format_lr(value) if key == "lr" else f"{value:g}" if isinstance(value, float) else str(value)
