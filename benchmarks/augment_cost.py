"""What on-device augmentation costs on the CPU, against the training step it feeds.

Times `augment_batch` ('flip' and 'standard') on one batch of the study's size, and one training
step as the trainer runs it (channels_last, forward under the precision's autocast, cce loss,
backward, fused Adam) of the study's mini-VGG and
of timm's tf_efficientnet_lite0, at 58% (106x155) and at 58% upscaled 2x (212x310; mini-VGG only
at 106x155, as the study trains it). Each is timed in turns, round after round, keeping its best
(so a busy moment on a shared machine hurts them alike); augmentation is then given as a
percentage of each step.

    .venv/bin/python benchmarks/augment_cost.py [--threads 1] [--batch 32] [--precision auto] [--rounds 5]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tune_genres.sweep.worker_env import trial_env

# Trials' OpenMP wait policy, set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", trial_env({})["OMP_WAIT_POLICY"])

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import cpu_name, write_json  # noqa: E402
from train_throughput import race  # noqa: E402

from tune_genres.models.minivgg import MiniVGG  # noqa: E402
from tune_genres.training.augment import augment_batch  # noqa: E402
from tune_genres.training.device import set_threads  # noqa: E402
from tune_genres.training.hyperparameters import PRECISIONS  # noqa: E402
from tune_genres.training.loop import make_optimizer  # noqa: E402
from tune_genres.training.losses import loss_fn  # noqa: E402
from tune_genres.training.precision import autocast_dtype, resolve_precision  # noqa: E402

SIZES = {"58% 106x155": (155, 106), "58% x2 212x310": (310, 212)}  # name: (H, W)
GENRES = 4
AUGMENT_CALLS = 10  # augment_batch calls per timed turn (each takes milliseconds)


def step_fn(name: str, height: int, width: int, batch: int, amp: torch.dtype | None) -> Callable[[torch.Tensor], None]:
    """One training step of the model on a batch x (and fixed random labels)."""
    if name == "minivgg":
        model = MiniVGG(GENRES, height, width)
    else:
        import timm

        model = timm.create_model("tf_efficientnet_lite0", num_classes=GENRES)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer, criterion = make_optimizer(model, 1e-3), loss_fn("cce")
    y = torch.nn.functional.one_hot(torch.randint(GENRES, (batch,)), GENRES).float()

    def step(x: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
            logits = model(x)
        criterion(logits.float(), y).backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one trial per core)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32, the study's)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="the step's precision (default auto: bf16 where the CPU does it natively)")
    parser.add_argument("--rounds", type=int, default=5, help="timed turns per contender, best kept (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    set_threads(args.threads)
    precision = resolve_precision(args.precision, torch.device("cpu"))
    amp = autocast_dtype(precision, torch.device("cpu"))
    on = (f"{cpu_name()}, {args.threads} torch thread(s), torch {torch.__version__}, batch {args.batch}, "
          f"steps in {precision}")
    load_before = os.getloadavg()[0]
    results = {}
    for size, (height, width) in SIZES.items():
        x = torch.randint(0, 256, (args.batch, height, width, 3), dtype=torch.uint8).permute(0, 3, 1, 2).float() / 255
        generator = torch.Generator().manual_seed(0)
        contenders: dict[str, Callable[[], None]] = {}
        for kind in ("flip", "standard"):
            contenders[kind] = lambda kind=kind: [augment_batch(x, kind, generator) for _ in range(AUGMENT_CALLS)]
        for model in ("minivgg", "tf_efficientnet_lite0"):
            if model == "minivgg" and height > 155:
                continue
            step = step_fn(model, height, width, args.batch, amp)
            contenders[model] = lambda step=step: step(x)
        seconds = race(contenders, args.rounds)
        for kind in ("flip", "standard"):
            seconds[kind] /= AUGMENT_CALLS
        results[size] = {"ms": {name: s * 1e3 for name, s in seconds.items()}}
    load_after = os.getloadavg()[0]

    print(f"\nAugmentation against a training step, ms per batch (best of {args.rounds}), on {on}:\n")
    print("| size | model | step ms | flip ms | flip % of step | standard ms | standard % of step |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for size, entry in results.items():
        ms = entry["ms"]
        entry["percent_of_step"] = {}
        for model in ("minivgg", "tf_efficientnet_lite0"):
            if model not in ms:
                continue
            pct = {kind: 100 * ms[kind] / ms[model] for kind in ("flip", "standard")}
            entry["percent_of_step"][model] = pct
            print(f"| {size} | {model} | {ms[model]:.1f} | {ms['flip']:.2f} | {pct['flip']:.1f}% | "
                  f"{ms['standard']:.2f} | {pct['standard']:.1f}% |")
    print(f"\nLoad average {load_before:.1f} before, {load_after:.1f} after.")
    if args.json:
        write_json(args.json, "augment_cost", measured_on=on, load_avg=[load_before, load_after], sizes=results)


if __name__ == "__main__":
    main()
