"""The trainer on a device, through run_trial as a sweep's trial runs it: resident uint8 data, a
checkpoint resumed to the uninterrupted run's metrics, checkpoints across devices, trial processes
sharing a device, a trial process killed and resumed. The checks are benchmarks/device_checks.py's,
which benchmarks/gpu_check.py runs on a lent GPU machine (no pytest there).

Each runs on the CPU here and, marked `cuda`, on a GPU where there is one (skipped elsewhere). On a
GPU a resumed trial's metrics match to device_checks' tolerance (cuDNN's max-pool backward is not
deterministic); on the CPU exactly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import device_checks as checks

REPO = Path(__file__).resolve().parents[3]
ON_THE_CPU_AND_A_GPU = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
GPU_ONLY = [pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(autouse=True)
def one_thread_and_tf32_flags_kept():
    """One torch thread (on a shared 2-core machine two spin against each other: 10x slower), and
    torch's process-wide TF32 flags, which every trial sets, put back after."""
    saved = torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved[0])
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[1:]


@pytest.mark.parametrize("device", ON_THE_CPU_AND_A_GPU)
def test_a_trial_trains_on_the_device_with_its_posters_resident_as_uint8(device):
    result = checks.resident_check(device)
    assert result["ok"], result


@pytest.mark.parametrize("device, mode", [
    # bf16 and compile on the CPU: gpu_check.py --device cpu (bf16 emulated here, minutes of compiling)
    ("cpu", "fp32"),
    *[pytest.param("cuda", mode, marks=pytest.mark.cuda) for mode in checks.MODES],
])
def test_a_trial_resumed_from_its_checkpoint_ends_with_the_uninterrupted_metrics(device, mode):
    result = checks.resume_check(device, **checks.MODES[mode])
    assert result["matches"], result
    assert result["precision"] == checks.MODES[mode]["precision"]


@pytest.mark.parametrize("device", GPU_ONLY)
def test_a_checkpoint_written_on_the_gpu_resumes_on_the_cpu_and_the_reverse(device):
    for written, read in ((device, "cpu"), ("cpu", device)):
        result = checks.cross_device_check(written, read)
        assert result["ok"], result


@pytest.mark.slow
@pytest.mark.parametrize("device, processes", [("cpu", 2), pytest.param("cuda", 4, marks=pytest.mark.cuda)])
def test_trial_processes_share_one_device(device, processes):
    result = checks.packing(device, processes, ratio=30, train_count=64, timed_epochs=1)
    assert len(result["per_process_images_per_s"]) == processes
    assert result["aggregate_images_per_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("device", ON_THE_CPU_AND_A_GPU)
def test_a_trial_process_killed_mid_trial_resumes_to_the_uninterrupted_metrics(device):
    result = checks.kill_and_resume(device)
    assert result["victim_exit"] == -9 and result["resumed_from_epoch"] < result["killed_after_epoch"]
    assert result["matches"], result


def test_the_gpu_check_imports_neither_ray_nor_pytest():
    # The GPU machine has neither; with Ray blocked, importing Ray anywhere on this path fails.
    code = ("import sys; sys.modules['ray'] = None; sys.path.insert(0, 'benchmarks'); import gpu_check, device_checks; "
            "loaded = [m for m in ('ray', 'pytest') if sys.modules.get(m) is not None]; "
            "sys.exit(f'imported {loaded}' if loaded else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
