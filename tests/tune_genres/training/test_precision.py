"""Precision: fp32 means fp32, a resumed trial keeps its precision, a reused process keeps compiling."""

from __future__ import annotations

import pytest
import torch

from dataset_builder.store import open_dataset
from tune_genres.sweep.sweep_file import TRAIN_KEYS
from tune_genres.training.checkpoint import load_checkpoint
from tune_genres.training.data import trial_arrays
from tune_genres.training.precision import forget_compiled, trial_precision, use_precision
from tune_genres.training.trial import run_trial

CPU = torch.device("cpu")


@pytest.fixture
def tf32_flags():
    """Put back torch's process-wide TF32 flags after a test that sets them."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_fp32_turns_tf32_off_and_only_tf32_turns_it_on(tf32_flags):
    # torch's own default leaves cuDNN's TF32 on: "fp32" convolutions on an Ampere GPU were TF32.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    assert use_precision("fp32", CPU) is None
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)
    assert use_precision("tf32", CPU) is None
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (True, True)
    # A reused process's next trial: bf16 autocast, its fp32 remainder IEEE again.
    assert use_precision("bf16", CPU) is torch.bfloat16
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == (False, False)


def config(**overrides) -> dict:
    return {**{key: spec.default for key, spec in TRAIN_KEYS.items()}, "lr": 3e-3, "ratio": 30, "loss": "bce",
            "batch_size": 8, "epochs": 2, "checkpoint_every": 1, **overrides}


def test_a_resumed_trial_keeps_the_precision_it_started_in(tiny_dataset, tmp_path, tf32_flags):
    arrays = trial_arrays(open_dataset(tiny_dataset(count=40)), 30)
    saved = {}

    def keep(metrics, checkpoint_dir=None):
        if checkpoint_dir is not None and metrics["epoch"] == 1:
            saved["state"] = load_checkpoint(checkpoint_dir)

    run_trial(config(precision="bf16"), arrays, keep)
    assert saved["state"]["meta"]["precision"] == "bf16"  # recorded in every checkpoint's meta

    # Resumed where the node, or the config, would say fp32: it goes on in bf16.
    rows = []
    run_trial(config(precision="fp32"), arrays, lambda metrics, checkpoint_dir=None: rows.append(metrics),
              resume=saved["state"])
    assert [(row["epoch"], row["precision"]) for row in rows] == [(2, "bf16")]


def test_checkpoints_from_before_meta_kept_the_precision_resume_in_the_one_their_rows_say():
    legacy = {"meta": {}, "history": [{"epoch": 1, "precision": "bf16"}]}
    assert trial_precision("fp32", CPU, legacy) == "bf16"
    assert trial_precision("fp32", CPU, {"meta": {}, "history": []}) == "fp32"  # nothing recorded: as asked
    assert trial_precision("auto", torch.device("meta")) == "fp32"  # no hardware bf16 known there


def recompile_limit():
    """dynamo's recompile limit (called cache_size_limit before torch 2.6)."""
    config = torch._dynamo.config
    return config.patch(recompile_limit=2) if hasattr(config, "recompile_limit") else config.patch(cache_size_limit=2)


def test_a_reused_process_compiles_each_trial_instead_of_falling_back_to_eager():
    from torch._dynamo.testing import CompileCounter

    def trials(forget: bool) -> int:
        """Four 'trials' in one process, each a new input shape (as a new ratio is): frames compiled."""
        counter = CompileCounter()
        with recompile_limit():
            for width in (5, 6, 7, 8):
                # A new compiled view each trial, of the same code (as each trial's new model is).
                step = torch.compile(lambda x: (x * 2).sum(), backend=counter, dynamic=False)
                step(torch.ones(width))
                if forget:
                    forget_compiled()
        forget_compiled()
        return counter.frame_count

    assert trials(forget=False) == 2  # past the limit, the later trials silently ran eager
    assert trials(forget=True) == 4
