"""Which device a command runs a model on, and how many CPU threads torch uses."""

from __future__ import annotations

import torch

from dataset_builder.errors import BadInput


def pick_device(name: str = "auto") -> torch.device:
    """'auto': CUDA when available, else CPU. A device this machine lacks is the user's to fix: one line."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:  # torch's own message lists two dozen device types this tool never runs on
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise BadInput(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise BadInput(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                       f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def set_threads(cpus: int) -> None:
    torch.set_num_threads(cpus)
    try:
        torch.set_num_interop_threads(cpus)
    except RuntimeError:
        pass  # already fixed in this (reused) worker process; intra-op threads are what matter
