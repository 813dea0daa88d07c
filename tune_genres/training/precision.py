"""Precision and compilation of the training step: the arithmetic a trial trains in, torch.compile.

A sweep's precision is decided once, by its driver (sweep/precision_choice.py), as one of
RESOLVED_PRECISIONS, so every trial of a grid trains alike; 'auto' is resolved here, per device,
only for a caller without a driver (run_trial called alone, tests, benchmarks). A resumed trial
keeps the precision its checkpoint records, whatever the node it lands on would choose.
"""

from __future__ import annotations

import torch
from torch import nn

from .hyperparameters import PRECISIONS, RESOLVED_PRECISIONS


def native_bf16(device: torch.device) -> bool:
    """Does this device compute bf16 in hardware? (Elsewhere bf16 is emulated and slower than fp32.)"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in checks if check is not None)
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where `device` does bf16 in hardware (CPUs with AVX512-BF16 or AMX, CUDA
    GPUs from Ampere on), else 'fp32'; a resolved name is returned as it is."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def trial_precision(requested: str, device: torch.device, resume: dict | None = None) -> str:
    """The precision a trial trains in: the one its checkpoint records when it resumes (the meta's,
    or the last row's for checkpoints from before meta kept it), else `requested` resolved."""
    if resume is not None:
        history = resume.get("history") or [{}]
        recorded = resume["meta"].get("precision", history[-1].get("precision"))
        if recorded in RESOLVED_PRECISIONS:
            return recorded
    return resolve_precision(requested, device)


def use_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Set this process's fp32 arithmetic for `precision`; the dtype the forward pass autocasts to.

    fp32 means IEEE fp32: cuBLAS's and cuDNN's TF32 are turned off (torch leaves cuDNN's on, so
    fp32 convolutions on an Ampere-or-later GPU were TF32's 10-bit mantissa); 'tf32' turns both on.
    Set at every trial's start, as a reused process still holds the previous trial's. bf16 autocast
    keeps fp32 master weights and optimizer state and computes the loss in fp32; it needs no loss
    scaling (bf16 has fp32's range).
    """
    precision = resolve_precision(precision, device)
    tf32 = precision == "tf32"
    # The allow_tf32 flags, not torch's newer fp32_precision settings: setting these sets the newer
    # ones to match (checked on torch 2.14), while setting only the newer ones makes a later read of
    # these (inductor reads them) raise "mix of the legacy and new APIs" in torch since 2.9.
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return torch.bfloat16 if precision == "bf16" else None


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype training's forward pass autocasts to for `precision` on `device`: bfloat16 or None (fp32)."""
    return torch.bfloat16 if resolve_precision(precision, device) == "bf16" else None


def compile_for_training(model: nn.Module, device: torch.device) -> nn.Module:
    """torch.compile'd view of `model` for the training step (same parameters; evaluate the original).

    On CUDA, mode 'reduce-overhead' records CUDA graphs: at batch 32 a step of this small model is
    ~100 kernels, each shorter than its launch, and a graph replays them all in one launch (the last,
    smaller batch of an epoch gets a graph of its own). On the CPU inductor's code was slower than
    eager oneDNN (0.7-0.9x), after 12-24 s of compiling (benchmarks/README.md): off by default.
    """
    return torch.compile(model, mode="reduce-overhead" if device.type == "cuda" else "default", dynamic=False)


def forget_compiled() -> None:
    """Drop all torch.compile built in this process: dynamo's caches and recompile counts, and the
    CUDA graphs' memory pools (then handed back to the driver).

    Called when a trial ends, because Tune reuses the process for the next trial (reuse_actors):
    every new input shape (another ratio, an epoch's last short batch) otherwise adds a recompile to
    the same code, until dynamo's recompile limit (8) makes it run eager without a word, and the CUDA
    graph pools of finished trials stay allocated. Compiled code on disk (inductor's cache) stays.
    """
    torch.compiler.reset()
    if torch.cuda.is_initialized():
        from torch._inductor.cudagraph_trees import reset_cudagraph_trees

        reset_cudagraph_trees()  # explicitly: not every torch version's reset does it
        torch.cuda.empty_cache()
