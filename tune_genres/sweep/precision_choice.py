"""A sweep's precision: decided once, by the driver, for every trial, and recorded in the experiment.

The sweep file's `precision = "auto"` becomes "bf16" where the trials' devices compute bf16 in
hardware, else "fp32", once for the whole grid (deciding on each node would train some trials of
one grid in bf16 and others in fp32 on a mixed cluster, and could switch a resumed trial):

- CPU trials (gpus_per_trial 0): the driver's CPU decides; trials on other nodes follow it.
- GPU trials: the GPU types Ray found on the cluster's nodes (its `accelerator_type:<TYPE>`
  resources, read with NVML on each node, the driver's own machine included when Ray runs there):
  bf16 when every type is an NVIDIA GPU from Ampere on, fp32 when any is older or unknown here, or
  when no GPU node has joined yet (an autoscaling cluster). The driver opens no CUDA context to
  look: one would hold GPU memory for the whole sweep.

The decision goes into every trial's config (so into each checkpoint's meta, and a trial resumed
anywhere keeps it) and into EXP/precision.json with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from dataset_builder.errors import BadInput

from ..training.precision import native_bf16

PRECISION_FILE = "precision.json"
# Ray's names for NVIDIA GPUs from Ampere on (ray.util.accelerators: A10G, A100, L4, L40S, H100,
# H200, H20, B200, GB200, RTX-PRO-6000 ...); older ones (V100, T4, P100, P4, K80) have no bf16 units.
BF16_GPU = re.compile(r"^(A\d|L\d|H\d|B\d|GB\d|RTX-PRO-)")


@dataclass
class Decision:
    precision: str  # what every trial trains in: fp32, tf32 or bf16
    requested: str  # the sweep file's value
    why: str


def check_precision(requested: str, gpus_per_trial: float, where: str) -> None:
    """Refuse, before Ray starts, a precision the trials' devices cannot have."""
    if requested == "tf32" and gpus_per_trial == 0:
        raise BadInput(f"{where}: 'tf32' is a GPU setting and these trials get no GPU (gpus per trial 0); "
                       "use 'fp32' or 'bf16'")


def decide_precision(requested: str, gpus_per_trial: float, gpu_types: Callable[[], list[str]]) -> Decision:
    """The precision of every trial; `gpu_types` (the cluster's GPU types) is asked only for GPU trials on 'auto'."""
    if requested != "auto":
        return Decision(requested, requested, "as the sweep file says")
    if gpus_per_trial == 0:
        if native_bf16(torch.device("cpu")):
            return Decision("bf16", requested, "CPU trials; the driver's CPU computes bf16 in hardware")
        return Decision("fp32", requested, "CPU trials; the driver's CPU has no hardware bf16")
    types = sorted(set(gpu_types()))
    if not types:
        return Decision("fp32", requested, "GPU trials, but no GPU type is known on the cluster yet; "
                        "set train.precision = 'bf16' for GPUs from Ampere on")
    without = [name for name in types if not BF16_GPU.match(name)]
    if without:
        return Decision("fp32", requested, f"GPU trials; the cluster has {', '.join(without)}, without hardware bf16 "
                        "(or not known here to have it)")
    return Decision("bf16", requested, f"GPU trials; the cluster's {', '.join(types)} compute bf16 in hardware")


def cluster_gpu_types() -> list[str]:
    """The GPU types of the Ray cluster's live nodes, as Ray names them (H200, A10G, T4 ...)."""
    import ray

    return [key.split(":", 1)[1] for key in ray.cluster_resources() if key.startswith("accelerator_type:")]


def record_precision(experiment, decision: Decision) -> None:
    """precision.json in the experiment (an ExperimentLocation: a folder or a URI)."""
    experiment.write_json(PRECISION_FILE, asdict(decision))
