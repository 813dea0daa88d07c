"""The trainable: one trial of the sweep (Ray Tune's function API) around training.trial.run_trial.

Entry: the ratio's arrays (or a frozen body's cached features) and any ImageNet weights come from
Ray's object store (put there once by the driver: trial_inputs.py), so no trial reads the disk.
The trial resumes from `tune.get_checkpoint()` when Tune restarts it; each checkpoint directory
run_trial reports goes to Tune as a Checkpoint. What is Ray's here: the CPUs
and GPU Tune granted, and where the trial runs.
"""

from __future__ import annotations

import logging
import os

import ray
import torch
from ray import tune

from ..training.checkpoint import load_checkpoint
from ..training.device import set_threads
from ..training.precision import forget_compiled
from ..training.trial import run_trial
from .trial_inputs import trial_inputs
from .worker_env import release_freed_memory


def granted_cpus() -> int:
    """CPUs Tune granted this trial: torch must use exactly these, or trials sharing a node fight."""
    try:
        resources = tune.get_context().get_trial_resources().required_resources
        return max(1, int(resources.get("CPU", 1)))
    except Exception:  # outside a Tune session (a plain call, as in tests and benchmarks)
        return max(1, len(os.sched_getaffinity(0)))


def trial_device() -> torch.device:
    """CUDA when Ray granted this trial a GPU (Ray sets CUDA_VISIBLE_DEVICES to it), else CPU.

    A trial takes at most one GPU (driver.resources), so it is cuda:0. Ray is asked first: a CPU
    trial on a GPU node then never calls into CUDA at all."""
    if ray.is_initialized() and ray.get_gpu_ids() and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def report_to_tune(metrics: dict, checkpoint_dir: str | None = None) -> None:
    """run_trial's report: the row to Tune, with the checkpoint directory as a Tune Checkpoint."""
    checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir is not None else None
    tune.report(metrics, checkpoint=checkpoint)


def train_trial(config: dict, inputs: dict) -> None:
    """Tune entry point. `inputs`: the driver's object-store references (trial_inputs.put_trial_inputs)."""
    # Tune logs a line per saved checkpoint from every worker; the report and TensorBoard say it better.
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    arrays, pretrained = (ray.get(ref) if isinstance(ref, ray.ObjectRef) else ref for ref in trial_inputs(config, inputs))
    set_threads(granted_cpus())
    device = trial_device()
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            resume = load_checkpoint(directory, map_location=device)
    try:
        run_trial(config, arrays, report_to_tune, resume=resume, device=device, placement=where_am_i(), pretrained=pretrained)
    finally:
        # Tune reuses this process for the next trial (driver.py: reuse_actors). Compiled code would
        # pile up to dynamo's recompile limit, and CUDA graph pools stay allocated: drop them.
        forget_compiled()
        if device.type == "cuda":
            torch.cuda.empty_cache()  # for the next trial, or the other trials packed on this GPU
        # The process keeps its freed training buffers while the trial runs (worker_env.py); a
        # reused worker may wait idle, or next train a smaller ratio, so give them back now.
        release_freed_memory()


def where_am_i() -> dict:
    """The Ray node, GPU ids and process this trial runs in, for the report and for fault drills."""
    if not ray.is_initialized():
        return {"pid": os.getpid()}
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": gpu_ids,
        # The GPU's type, for the report's line on what ran the experiment.
        **({"gpu_name": torch.cuda.get_device_name(0)} if gpu_ids and torch.cuda.is_available() else {}),
        "pid": os.getpid(),
    }
