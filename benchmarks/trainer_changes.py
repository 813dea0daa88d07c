"""What each speed change to the trainer is worth: the inner loop with the changes added one by one.

All variants train the study's mini-VGG on the same random uint8 posters through `train_one_epoch`
on a `ResidentSplit`, in one process, taking turns one epoch each, round after round, each keeping
its best epoch (so a busy moment on a shared machine hurts them alike):

    NCHW           the model and batches in torch's default layout, Keras' conv -> ReLU -> pool
                   order, torch's default Adam (a per-parameter loop on the CPU), fp32
    channels_last  + channels_last model and batches (oneDNN's native layout)
    pool_first     + conv -> pool -> ReLU (exact: ReLU commutes with max; a quarter of the ReLU work)
    fused_adam     + Adam as one fused kernel per parameter
    bf16           + bf16 autocast for the forward pass (fp32 master weights and loss)
    keep_freed     + malloc keeps freed buffers in the process (what tune_genres/sweep/worker_env.py
                   sets for trials); the rows above run with glibc's settings as they settle by
                   themselves (buffers over 32 MB mapped afresh each time), switched per turn
    compiled       fused_adam, fp32, under torch.compile (--compile; its compile time printed)

    .venv/bin/python benchmarks/trainer_changes.py [--ratios 30,100] [--threads 1] [--images 256]
        [--rounds 4] [--compile] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tune_genres.sweep.worker_env import GLIBC_MALLOC, libc, trial_env

# Trials' OpenMP wait policy, set before torch loads. Not their malloc settings: this benchmark
# switches those per turn (keep_freed_memory).
os.environ.setdefault("OMP_WAIT_POLICY", trial_env({})["OMP_WAIT_POLICY"])

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import cpu_name, write_json  # noqa: E402
from train_throughput import BATCH, CPU, LOSS, load, parse_ratios, race  # noqa: E402

from dataset_builder.images import size_for_ratio  # noqa: E402
from tune_genres.training.data import ResidentSplit  # noqa: E402
from tune_genres.models.minivgg import MiniVGG  # noqa: E402
from tune_genres.training.device import set_threads  # noqa: E402
from tune_genres.training.loop import train_one_epoch  # noqa: E402
from tune_genres.training.precision import compile_for_training  # noqa: E402

VARIANTS = ("NCHW", "channels_last", "pool_first", "fused_adam", "bf16", "keep_freed")

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
LIBC = libc()


def keep_freed_memory(keep: bool) -> None:
    """Switch this process's malloc between worker_env's settings and glibc's settled defaults.

    glibc's defaults adapt: the mmap threshold rises to the largest buffer freed, at most 32 MB,
    and the trim threshold to twice that; so after a first step, that is where they sit.
    """
    if keep:
        LIBC.mallopt(M_MMAP_MAX, int(GLIBC_MALLOC["mmap_max"]))
        LIBC.mallopt(M_TRIM_THRESHOLD, int(GLIBC_MALLOC["trim_threshold"]))
    else:
        LIBC.mallopt(M_MMAP_MAX, 65536)
        LIBC.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)
        LIBC.mallopt(M_TRIM_THRESHOLD, 64 * 2**20)
        LIBC.malloc_trim(0)


class NCHWSplit(ResidentSplit):
    """Batches copied into torch's default (NCHW-contiguous) layout, as a plain pipeline has them."""

    def batches(self, batch_size, generator=None):
        return ((x.contiguous(), y) for x, y in super().batches(batch_size, generator))


def keras_order(model: MiniVGG) -> MiniVGG:
    """conv -> ReLU -> pool, the order the study's Keras model has (the same layer objects)."""
    layers = list(model.features)
    model.features = nn.Sequential(*[m for i in range(0, len(layers), 3) for m in (layers[i], layers[i + 2], layers[i + 1])])
    return model


def variant_epoch(name: str, images: np.ndarray, labels: np.ndarray):
    level = VARIANTS.index(name if name in VARIANTS else "fused_adam")
    _, height, width, _ = images.shape
    split_cls = NCHWSplit if level < 1 else ResidentSplit
    split = split_cls.from_indices(images, labels, np.arange(len(images)), CPU)
    torch.manual_seed(0)
    model = MiniVGG(labels.shape[1], height, width)
    if level < 2:
        model = keras_order(model)
    if level >= 1:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True if level >= 3 else None)
    amp_dtype = torch.bfloat16 if level >= 4 else None
    trained = compile_for_training(model, CPU) if name == "compiled" else model
    generator = torch.Generator().manual_seed(0)
    keep = level >= 5

    def epoch():
        keep_freed_memory(keep)
        return train_one_epoch(trained, optimizer, split, LOSS, BATCH, generator, amp_dtype)

    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratios", default="30,100", help="study ratios (default 30,100: the smallest and largest)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one trial per core, as make demo runs)")
    parser.add_argument("--images", type=int, default=256, help="posters per epoch (default 256)")
    parser.add_argument("--rounds", type=int, default=4, help="timed epochs per variant, best kept (default 4)")
    parser.add_argument("--compile", action="store_true", help="also time fused_adam under torch.compile")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    set_threads(args.threads)
    on = f"{cpu_name()}, {args.threads} torch thread(s), torch {torch.__version__}, random posters"
    rng = np.random.default_rng(0)
    results = {}
    for ratio in parse_ratios(args.ratios):
        w, h = size_for_ratio(ratio)
        images = rng.integers(0, 256, (args.images, h, w, 3), dtype=np.uint8)
        labels = (rng.random((args.images, 5)) < 0.3).astype(np.uint8)
        contenders = {name: variant_epoch(name, images, labels) for name in VARIANTS}
        load_before, entry = load(), {}
        if args.compile:
            started = time.perf_counter()
            contenders["compiled"] = variant_epoch("compiled", images, labels)
            contenders["compiled"]()
            entry["compile_s"] = time.perf_counter() - started
        entry["images_per_s"] = {name: args.images / s for name, s in race(contenders, args.rounds).items()}
        entry["load_avg"] = [load_before, load()]
        results[str(ratio)] = entry

    print(f"\nTrainer changes, images/s of train_one_epoch, batch {BATCH}, on {on}; each change adds to the one above:\n")
    print("| change | " + " | ".join(f"{r}%: img/s | x prev" for r in results) + " |")
    print("|---|" + "---:|---:|" * len(results))
    for i, name in enumerate(VARIANTS + (("compiled",) if args.compile else ())):
        before = "fused_adam" if name == "compiled" else VARIANTS[max(i - 1, 0)]
        cells = []
        for entry in results.values():
            now, prev = entry["images_per_s"][name], entry["images_per_s"][before]
            cells.append(f"{now:.1f} | {now / prev:.2f}x" if name != "NCHW" else f"{now:.1f} | -")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for ratio, entry in results.items():
        total = entry["images_per_s"][VARIANTS[-1]] / entry["images_per_s"]["NCHW"]
        extra = f"; torch.compile took {entry['compile_s']:.1f} s" if args.compile else ""
        print(f"{ratio}%: all changes together {total:.2f}x the NCHW start{extra}; load average {entry['load_avg'][0]:.1f}-{entry['load_avg'][1]:.1f}")
    if args.json:
        write_json(args.json, "trainer_changes", on=on, ratios=results)


if __name__ == "__main__":
    main()
