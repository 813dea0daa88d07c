"""One epoch of training and one pass of prediction: the optimizer, the step, the scores' inputs.

Read top to bottom: the trial (trial.py) calls make_optimizer, then per epoch train_one_epoch and
predict_split. The device is wherever the model and the split already are; torch's thread count
is the caller's choice (the trainable sets it to the CPUs it was granted).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data import ResidentSplit
from .losses import loss_fn, probabilities

# Prediction's batch size: the study's training batch, so that evaluating never raises a trial's
# peak memory (a trial's process keeps what it frees until the trial ends: sweep/worker_env.py).
# Measured at 182x268 on the real posters, one epoch then validation and test, run_trial in a
# thread as Ray runs it: the process's anonymous memory stayed at training's 1.17 GiB predicting
# in batches of 32, and grew from 1.25 to 1.98 GiB in batches of 64 (a batch's fp32 activations
# no longer fit in the blocks training freed); batches of 256 raised a process's peak by 2.8 GiB.
EVAL_BATCH = 32


def make_optimizer(
    model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> torch.optim.Adam:
    """Adam with the study's defaults, as one fused kernel per parameter on CPU and CUDA.

    On the CPU it replaces torch's default, a loop of several ops per parameter: 0.94-1.08x of
    its speed across runs (within the noise, benchmarks/README.md); on CUDA it is the fast path.
    """
    fusable = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps, fused=True if fusable else None)


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    split: ResidentSplit,
    loss_name: str,
    batch_size: int,
    generator: torch.Generator | None,
    amp_dtype: torch.dtype | None = None,
) -> float:
    """Train on every row of `split` once, in the generator's shuffled order; the mean loss per sample.

    amp_dtype: autocast the forward pass to this dtype (see autocast_dtype); None trains in fp32.
    """
    criterion = loss_fn(loss_name)
    model.train()
    # Summed on the device: one host sync per epoch, not one .item() per step.
    total = torch.zeros((), device=split.device)
    for x, y in split.batches(batch_size, generator):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(split.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        loss = criterion(logits.float(), y)  # the loss in fp32 whatever the forward's precision
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(x)
    return total.item() / len(split)


def predict_logits(model: nn.Module, split: ResidentSplit, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits N x G over `split` in row order, in eval mode (no dropout); the mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return torch.cat([model(x) for x, _ in split.batches(batch_size)])
    finally:
        model.train(was_training)


def predict_split(
    model: nn.Module, split: ResidentSplit, loss_name: str, batch_size: int = EVAL_BATCH
) -> tuple[float, np.ndarray]:
    """(mean loss per sample, probabilities N x G as float32 numpy) over `split`, in row order."""
    logits = predict_logits(model, split, batch_size)
    with torch.inference_mode():
        loss = loss_fn(loss_name)(logits, split.labels)
        probs = probabilities(loss_name, logits)
        return loss.item(), probs.float().cpu().numpy()
