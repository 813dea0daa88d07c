"""Precision and compilation of the training step: bf16 autocast where the hardware has it, torch.compile."""

from __future__ import annotations

import torch
from torch import nn

from .hyperparameters import PRECISIONS


def native_bf16(device: torch.device) -> bool:
    """Does this device compute bf16 in hardware? (Elsewhere bf16 is emulated and slower than fp32.)"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in checks if check is not None)
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype training's forward pass autocasts to: None (fp32) or bfloat16.

    'auto' is bf16 where the device does bf16 in hardware (CPUs with AVX512-BF16 or AMX,
    CUDA GPUs from Ampere on), else fp32. bf16 autocast keeps fp32 master weights and optimizer
    state and computes the loss in fp32; no loss scaling is needed (bf16 has fp32's range).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def compile_for_training(model: nn.Module, device: torch.device) -> nn.Module:
    """torch.compile'd view of `model` for the training step (same parameters; evaluate the original).

    On CUDA, mode 'reduce-overhead' records CUDA graphs: at batch 32 a step of this small model is
    ~100 kernels, each shorter than its launch, and a graph replays them all in one launch (the last,
    smaller batch of an epoch gets a graph of its own). On the CPU inductor's code was slower than
    eager oneDNN (0.7-0.9x), after 12-24 s of compiling (benchmarks/README.md): off by default.
    """
    return torch.compile(model, mode="reduce-overhead" if device.type == "cuda" else "default", dynamic=False)
