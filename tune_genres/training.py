"""One epoch of training, one pass of prediction, and the random state a trial must carry.

Read top to bottom: the trainable calls seed_everything, make_optimizer, then per epoch
train_one_epoch and predict_split. The device is wherever the model and the split already are;
torch's thread count is the caller's choice (the trainable sets it to the CPUs it was granted).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from dataset_builder.errors import BadInput

from .data import ResidentSplit
from .losses import loss_fn, probabilities


PRECISIONS = ("auto", "fp32", "bf16")


def make_optimizer(
    model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> torch.optim.Adam:
    """Adam with the study's defaults, as one fused kernel per parameter on CPU and CUDA.

    On the CPU it replaces torch's default, a loop of several ops per parameter: 0.94-1.08x of
    its speed across runs (within the noise, benchmarks/README.md); on CUDA it is the fast path.
    """
    fusable = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, eps=eps, fused=True if fusable else None)


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


def predict_logits(model: nn.Module, split: ResidentSplit, batch_size: int = 256) -> torch.Tensor:
    """Logits N x G over `split` in row order, in eval mode (no dropout); the mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return torch.cat([model(x) for x, _ in split.batches(batch_size)])
    finally:
        model.train(was_training)


def predict_split(
    model: nn.Module, split: ResidentSplit, loss_name: str, batch_size: int = 256
) -> tuple[float, np.ndarray]:
    """(mean loss per sample, probabilities N x G as float32 numpy) over `split`, in row order."""
    logits = predict_logits(model, split, batch_size)
    with torch.inference_mode():
        loss = loss_fn(loss_name)(logits, split.labels)
        probs = probabilities(loss_name, logits)
        return loss.item(), probs.float().cpu().numpy()


def pick_device(name: str = "auto") -> torch.device:
    """'auto': CUDA when available, else CPU. Asking for CUDA where there is none is the user's to fix."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's random, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The global RNG states as tensors, ints, floats and lists: loadable with torch.load(weights_only=True)."""
    py_version, py_internal, py_gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what rng_state() captured. CUDA states are restored only where CUDA is available."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    np_state = state["numpy"]
    np.random.set_state({
        "bit_generator": np_state["bit_generator"],
        "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"],
        "gauss": np_state["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # A trial sees only its own GPU(s); restore as many devices as both sides have.
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


def make_generator(seed: int, state: torch.Tensor | None = None) -> torch.Generator:
    """The CPU generator that shuffles the training split: seeded, or restored from a saved state."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    if state is not None:
        generator.set_state(state)
    return generator


def generator_state(generator: torch.Generator) -> torch.Tensor:
    """A generator's state as a uint8 tensor, for save_checkpoint(generator_state=...)."""
    return generator.get_state()
