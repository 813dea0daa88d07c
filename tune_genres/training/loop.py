"""One epoch of training and one pass of prediction: the optimizer, the step, the scores' inputs.

Read top to bottom: the trial (trial.py) calls make_optimizer, then per epoch train_one_epoch and
predict_split. The device is wherever the model and the split already are; torch's thread count
is the caller's choice (the trainable sets it to the CPUs it was granted).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .augment import augment_batch
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
    model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, *,
    optimizer: str = "adam", weight_decay: float = 0.0, backbone_lr_scale: float = 1.0,
) -> torch.optim.Optimizer:
    """Adam (the study's defaults) or AdamW over the parameters that learn, as one fused kernel per
    parameter on CPU and CUDA.

    A pretrained network's body (`model.body`) learns at lr x backbone_lr_scale, its head at lr.
    Each parameter group keeps its `base_lr`, which set_epoch_lr scales by the schedule. Fused, on
    the CPU, replaces torch's default, a loop of several ops per parameter: 0.94-1.08x of its speed
    across runs (within the noise, benchmarks/README.md); on CUDA it is the fast path.
    """
    learning = [p for p in model.parameters() if p.requires_grad]
    fusable = all(p.device.type in ("cpu", "cuda") for p in learning)
    body = getattr(model, "body", None)
    if body is not None and backbone_lr_scale != 1 and any(p.requires_grad for p in body.parameters()):
        in_body = {id(p) for p in body.parameters()}
        groups = [{"params": [p for p in learning if id(p) in in_body], "lr": lr * backbone_lr_scale},
                  {"params": [p for p in learning if id(p) not in in_body], "lr": lr}]
    else:
        groups = [{"params": learning, "lr": lr}]
    for group in groups:
        group["base_lr"] = group["lr"]
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    return kind(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=True if fusable else None)


def lr_factor(epoch: int, epochs: int, schedule: str = "constant", warmup_epochs: int = 0) -> float:
    """The learning rate of 1-based `epoch` as a fraction of the base: a linear warm-up over the
    first warmup_epochs (1/(W+1), 2/(W+1), ...), then constant, or a cosine from 1 that would reach
    0 one epoch after the last. Set per epoch from the epoch's number, so a resumed trial needs no state."""
    if epoch <= warmup_epochs:
        return epoch / (warmup_epochs + 1)
    if schedule == "constant":
        return 1.0
    done = (epoch - warmup_epochs - 1) / max(1, epochs - warmup_epochs)
    return 0.5 * (1 + math.cos(math.pi * done))


def set_epoch_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    for group in optimizer.param_groups:
        # A checkpoint from before schedules restores groups without base_lr: their lr never changed.
        group["lr"] = group.setdefault("base_lr", group["lr"]) * factor


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    split: ResidentSplit,
    loss_name: str,
    batch_size: int,
    generator: torch.Generator | None,
    amp_dtype: torch.dtype | None = None,
    augment: str = "none",
    pos_weight: torch.Tensor | None = None,
) -> float:
    """Train on every row of `split` once, in the generator's shuffled order; the mean loss per sample.

    amp_dtype: autocast the forward pass to this dtype (see autocast_dtype); None trains in fp32.
    augment: training/augment.py's kind, drawn from `generator` too. pos_weight: bce's per-genre weights.
    """
    criterion = loss_fn(loss_name, pos_weight)
    model.train()
    # Summed on the device: one host sync per epoch, not one .item() per step.
    total = torch.zeros((), device=split.device)
    for x, y in split.batches(batch_size, generator):
        if augment != "none":
            x = augment_batch(x, augment, generator)
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
