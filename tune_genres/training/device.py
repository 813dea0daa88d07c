"""Which device a command runs a model on, and how many CPU threads torch uses."""

from __future__ import annotations

import torch

from dataset_builder.errors import BadInput


def pick_device(name: str = "auto") -> torch.device:
    """'auto': CUDA when available, else CPU. Asking for CUDA where there is none is the user's to fix."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return device


def set_threads(cpus: int) -> None:
    torch.set_num_threads(cpus)
    try:
        torch.set_num_interop_threads(cpus)
    except RuntimeError:
        pass  # already fixed in this (reused) worker process; intra-op threads are what matter
