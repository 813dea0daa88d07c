"""The random state a trial must carry across a checkpoint: the global RNGs and the shuffling generator."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's random, numpy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state(device: torch.device | str = "cpu") -> dict:
    """The global RNG states as tensors, ints, floats and lists: loadable with torch.load(weights_only=True).

    CUDA's state is taken for `device` alone when it is a GPU (the one a trial trains on), and not
    at all on the CPU: asking for every device's would create a CUDA context on each GPU of the
    node, a CPU-only trial's included. Every state here is a CPU tensor, wherever the model is.
    """
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
    device = torch.device(device)
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device | str = "cpu") -> None:
    """Restore what rng_state() captured; the CUDA state goes to `device` when it is a GPU."""
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
    device = torch.device(device)
    cuda_state = state.get("cuda")
    if device.type == "cuda" and cuda_state is not None:
        if isinstance(cuda_state, list):
            # Checkpoints from before held one state per visible GPU; a trial sees its own GPU as 0.
            cuda_state = cuda_state[0] if cuda_state else None
        if cuda_state is not None:
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
