"""Training throughput of the trainable's inner loop, against this machine's limit and a typical pipeline.

For each of the study's six ratios, on the same posters:

- ours: images/s of `train_one_epoch` on a `ResidentSplit` (uint8 resident, index batches,
  channels_last), the model and optimizer made as the trainable makes them, batch 32, in the
  trainable's default precision ('auto': bf16 autocast where the CPU has bf16 in hardware) and
  in fp32;
- the model's work per image, forward + backward, counted with torch.utils.flop_counter;
- achieved GFLOP/s (images/s x GFLOP/image) over the machine's fp32 matmul peak, measured in the
  same run with the same thread count: the best of MKL's sgemm (torch.mm) and oneDNN's (a 1x1
  convolution is a plain GEMM), square sizes, best of several. The bf16 GEMM peak is measured
  beside it, so a bf16 run can be read against its own limit too;
- the pipeline a typical user writes first: a Dataset that opens each JPEG file with Pillow,
  torchvision transforms (Resize + ToTensor), a DataLoader with shuffling, NCHW tensors, default
  Adam, fp32, `loss.item()` every step; with 0 workers and with one worker per core, and the
  faster of the two is the baseline (the comparison favours the baseline, not us).

With --data-paths it measures instead, in the trainable's default precision, the data path a
sweep's trials take against the one they took before issue 15 (one copy of the data per node):

- training: `train_one_epoch` on a split that indexes a read-only shared array (the posters in a
  memory-mapped file on /dev/shm: pages shared between processes, as Ray's object store hands a
  trial its arrays; a view plus row indices) against one that owns a private copy of its rows;
- evaluation: `predict_split` over the same posters in batches of EVAL_BATCH from the shared
  array against batches of 256 from the private copy.

The contenders of a ratio take turns, one epoch each, round after round, and each keeps its best
epoch: on a shared machine a busy moment then hurts them alike. The posters are the synthetic
generator's (dataset_builder.sources.synthetic) shrunk with the builder's own resize, or the train
rows of a built dataset with --dataset.

    .venv/bin/python benchmarks/train_throughput.py [--ratios 30,58] [--dataset DIR] [--threads N]
        [--images N] [--repeats N] [--compile] [--data-paths] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tune_genres.sweep.worker_env import rerun_under_trial_env  # noqa: E402

# Train as a trial's process does: its OpenMP wait policy and its malloc settings, which must be
# in the environment when the process starts (tune_genres/sweep/worker_env.py).
if __name__ == "__main__":
    rerun_under_trial_env()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from tqdm import tqdm  # noqa: E402

from figures import cpu_name, write_json  # noqa: E402 (this folder is on sys.path)

from dataset_builder.genres import multi_hot  # noqa: E402
from dataset_builder.images import STUDY_RATIOS, open_poster, resize_all, size_for_ratio  # noqa: E402
from dataset_builder.store import open_dataset  # noqa: E402
from tune_genres.training.data import ResidentSplit  # noqa: E402
from tune_genres.training.losses import loss_fn  # noqa: E402
from tune_genres.models.minivgg import MiniVGG, model_config  # noqa: E402
from tune_genres.sweep.sweep_file import TRAIN_KEYS  # noqa: E402
from tune_genres.training.device import set_threads  # noqa: E402
from tune_genres.training.loop import EVAL_BATCH, make_optimizer, predict_split, train_one_epoch  # noqa: E402
from tune_genres.training.precision import autocast_dtype, compile_for_training  # noqa: E402

BATCH = 32  # the study's
LR = 1e-3
LOSS = "cce"  # the study's; bce costs the same
GENRES = ["Romance", "Action", "Horror", "Documentary", "Reality-TV"]
JPEG_QUALITY = 90  # the synthetic generator's own
CPU = torch.device("cpu")


def load() -> float:
    return os.getloadavg()[0]


def race(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best seconds of each contender over `rounds` turns, after one warm-up turn each."""
    best = {name: float("inf") for name in contenders}
    for turn in range(rounds + 1):
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            if turn:  # turn 0 warms up: first-call allocation and kernel selection
                best[name] = min(best[name], time.perf_counter() - started)
    return best


# -- the machine's limit -----------------------------------------------------------------------


def matmul_peak(sizes: tuple[int, ...], rounds: int) -> dict[str, float]:
    """GFLOP/s of n x n x n GEMMs: fp32 by MKL (torch.mm) and by oneDNN (1x1 conv), and bf16 by oneDNN."""
    found = {"mkl_sgemm": 0.0, "onednn_gemm": 0.0, "onednn_bf16_gemm": 0.0}
    for n in sizes:
        a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        # A 1x1 convolution over n pixels of n channels into n channels is an n x n x n GEMM.
        x = torch.randn(1, n, n // 32, 32).contiguous(memory_format=torch.channels_last)
        w = torch.randn(n, n, 1, 1).contiguous(memory_format=torch.channels_last)
        xb, wb = x.bfloat16(), w.bfloat16()
        seconds = race({
            "mkl_sgemm": lambda: torch.mm(a, b, out=out),
            "onednn_gemm": lambda: torch.nn.functional.conv2d(x, w),
            "onednn_bf16_gemm": lambda: torch.nn.functional.conv2d(xb, wb),
        }, rounds)
        for name, s in seconds.items():
            found[name] = max(found[name], 2 * n**3 / s / 1e9)
    return found


def gflops_per_image(num_classes: int, height: int, width: int) -> float:
    """Forward + loss + backward of one batch, as torch's FLOP counter counts it, per image."""
    model = MiniVGG(num_classes, height, width).to(memory_format=torch.channels_last)
    x = torch.rand(BATCH, 3, height, width).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(BATCH, num_classes) < 0.3).float()
    counter = FlopCounterMode(display=False)
    with counter:
        loss_fn(LOSS)(model(x), y).backward()
    return counter.get_total_flops() / BATCH / 1e9


# -- the posters ---------------------------------------------------------------------------------


def synthetic_posters(count: int, ratios: list[int], workers: int) -> tuple[dict[int, np.ndarray], np.ndarray]:
    from dataset_builder.sources.synthetic import generate

    sizes = [size_for_ratio(r) for r in ratios]
    images: dict[int, list[np.ndarray]] = {r: [] for r in ratios}
    genres = []
    for poster in tqdm(generate(0, count, workers=workers), total=count, desc="synthetic posters", unit="poster"):
        genres.append(poster.genres)
        for ratio, pixels in zip(ratios, resize_all(open_poster(poster.jpeg), sizes)):
            images[ratio].append(pixels)
    return {r: np.stack(a) for r, a in images.items()}, multi_hot(genres, GENRES)


def dataset_posters(root: Path, count: int, ratios: list[int]) -> tuple[dict[int, np.ndarray], np.ndarray]:
    dataset = open_dataset(root)
    missing = [r for r in ratios if r not in dataset.ratios]
    if missing:
        raise SystemExit(f"{root}: no ratio {', '.join(map(str, missing))} (it has {', '.join(map(str, dataset.ratios))})")
    rows = np.asarray(dataset.split("train"))[:count]
    return {r: np.asarray(dataset.images(r))[rows] for r in ratios}, np.asarray(dataset.labels)[rows]


# -- ours ----------------------------------------------------------------------------------------


def our_epoch(images: np.ndarray, labels: np.ndarray, amp_dtype: torch.dtype | None, compiled: bool = False) -> Callable[[], float]:
    """One epoch of the trainable's inner loop: model, optimizer and batches as run_trial makes them."""
    _, height, width, _ = images.shape
    split = ResidentSplit.from_indices(images, labels, np.arange(len(images)), CPU)
    torch.manual_seed(0)
    model = MiniVGG.from_config(model_config(labels.shape[1], height, width)).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, LR)
    generator = torch.Generator().manual_seed(0)
    trained = compile_for_training(model, CPU) if compiled else model
    return lambda: train_one_epoch(trained, optimizer, split, LOSS, BATCH, generator, amp_dtype)


# -- the data paths: a shared array against a private copy (--data-paths) --------------------------

# The evaluation batch before issue 15.
OLD_EVAL_BATCH = 256


def shared_array(images: np.ndarray, folder: Path) -> np.ndarray:
    """The posters as a trial gets them from Ray's object store: a read-only array over shared
    memory (Ray's store is memory-mapped files on /dev/shm), not pages of this process's own."""
    path = folder / "shared.npy"
    np.save(path, images)
    return np.asarray(np.load(path, mmap_mode="r"))


def private_split(images: np.ndarray, labels: np.ndarray) -> ResidentSplit:
    """The split as trials held it before issue 15: a private copy of its rows."""
    return ResidentSplit(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.float32)))


def data_path_contenders(images: np.ndarray, labels: np.ndarray, folder: Path) -> dict[str, Callable[[], object]]:
    _, height, width, _ = images.shape
    precision = autocast_dtype(TRAIN_KEYS["precision"].default, CPU)
    rows = np.arange(len(images))
    splits = {"private": private_split(images, labels), "shared": ResidentSplit.from_indices(shared_array(images, folder), labels, rows, CPU)}
    contenders = {}
    for name, split in splits.items():
        torch.manual_seed(0)
        model = MiniVGG.from_config(model_config(labels.shape[1], height, width)).to(memory_format=torch.channels_last)
        optimizer, generator = make_optimizer(model, LR), torch.Generator().manual_seed(0)
        contenders[f"train_{name}"] = functools.partial(train_one_epoch, model, optimizer, split, LOSS, BATCH, generator, precision)
        batch = OLD_EVAL_BATCH if name == "private" else EVAL_BATCH
        contenders[f"predict_{name}"] = functools.partial(predict_split, model, split, LOSS, batch)
    return contenders


def measure_data_paths(images: np.ndarray, labels: np.ndarray, folder: Path, rounds: int) -> dict:
    _, height, width, _ = images.shape
    load_before = load()
    folder.mkdir(parents=True)
    contenders = data_path_contenders(images, labels, folder)
    # Training and prediction race apart: each pair takes turns with nothing else between its turns.
    per_s = {}
    for kind in ("train", "predict"):
        pair = {name: run for name, run in contenders.items() if name.startswith(kind)}
        per_s.update({name: len(images) / s for name, s in race(pair, rounds).items()})
    return {
        "size": [width, height],
        "precision": "bf16" if autocast_dtype(TRAIN_KEYS["precision"].default, CPU) is not None else "fp32",
        "images_per_s": per_s,
        "train_shared_over_private": per_s["train_shared"] / per_s["train_private"],
        "predict_shared_over_private": per_s["predict_shared"] / per_s["predict_private"],
        "load_avg": [load_before, load()],
    }


def print_data_paths(results: dict, on: str, source: str) -> None:
    print(f"\nData paths, batch {BATCH}, {LOSS} loss, on {on}; posters: {source}.")
    print(f"Training (the default precision) and prediction (fp32) from a read-only shared array (prediction in batches "
          f"of {EVAL_BATCH}) against a private copy (prediction in batches of {OLD_EVAL_BATCH}), images/s:\n")
    print("| ratio | size | train: private | train: shared | shared / private | predict: private, 256 | "
          f"predict: shared, {EVAL_BATCH} | shared / private | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for ratio, e in results.items():
        v = e["images_per_s"]
        print(f"| {ratio} | {e['size'][0]}x{e['size'][1]} | {v['train_private']:.1f} | {v['train_shared']:.1f} | "
              f"{e['train_shared_over_private']:.3f} | {v['predict_private']:.1f} | {v['predict_shared']:.1f} | "
              f"{e['predict_shared_over_private']:.3f} | {e['load_avg'][0]:.1f}-{e['load_avg'][1]:.1f} |")


# -- the typical pipeline ------------------------------------------------------------------------


class PosterFiles(torch.utils.data.Dataset):
    """What a user writes first: one JPEG file per poster, opened and transformed per sample.

    mean and std: add torchvision's Normalize after ToTensor (what a pretrained network's tutorial does)."""

    def __init__(self, paths: list[Path], labels: np.ndarray, height: int, width: int,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None):
        from torchvision import transforms

        self.paths, self.labels = paths, labels
        steps = [transforms.Resize((height, width)), transforms.ToTensor()]
        if mean is not None:
            steps.append(transforms.Normalize(mean, std))
        self.transform = transforms.Compose(steps)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        with Image.open(self.paths[i]) as img:
            x = self.transform(img.convert("RGB"))
        return x, torch.tensor(self.labels[i], dtype=torch.float32)


def write_jpegs(images: np.ndarray, folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i, pixels in enumerate(images):
        path = folder / f"{i}.jpg"
        Image.fromarray(pixels).save(path, quality=JPEG_QUALITY)
        paths.append(path)
    return paths


def typical_epoch(paths: list[Path], labels: np.ndarray, height: int, width: int, workers: int) -> Callable[[], float]:
    torch.manual_seed(0)
    model = MiniVGG(labels.shape[1], height, width)  # NCHW, as constructed
    return typical_training(model, PosterFiles(paths, labels, height, width), workers)


def typical_training(model: torch.nn.Module, posters: torch.utils.data.Dataset, workers: int) -> Callable[..., float]:
    """The typical loop over `posters` for `model` as given (NCHW): epoch(batches=None) trains one
    epoch, or only its first `batches` batches."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = loss_fn(LOSS)
    loader = torch.utils.data.DataLoader(posters, batch_size=BATCH, shuffle=True, num_workers=workers)

    def epoch(batches: int | None = None) -> float:
        model.train()
        running = 0.0
        for step, (x, y) in enumerate(loader):
            if batches is not None and step == batches:
                break
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            running += loss.item()  # what the tutorials do: a host sync every step
        return running

    return epoch


# -- the run -------------------------------------------------------------------------------------


def parse_ratios(text: str) -> list[int]:
    try:
        ratios = [int(r) for r in text.split(",")]
    except ValueError:
        raise SystemExit(f"--ratios {text}: expected comma-separated integers such as 30,58") from None
    bad = [r for r in ratios if r not in STUDY_RATIOS]
    if bad:
        raise SystemExit(f"--ratios {text}: {bad[0]} is not a study ratio ({', '.join(map(str, STUDY_RATIOS))})")
    return ratios


def measure_ratio(images: np.ndarray, labels: np.ndarray, folder: Path, threads: int, rounds: int, compile_too: bool) -> dict:
    _, height, width, _ = images.shape
    load_before = load()
    default_precision = TRAIN_KEYS["precision"].default
    default_dtype = autocast_dtype(default_precision, CPU)
    paths = write_jpegs(images, folder)
    contenders = {"ours_fp32": our_epoch(images, labels, None)}
    if default_dtype is not None:
        contenders["ours_default"] = our_epoch(images, labels, default_dtype)
    for workers in sorted({0, threads}):
        contenders[f"typical_{workers}_workers"] = typical_epoch(paths, labels, height, width, workers)
    entry: dict = {"size": [width, height], "gflops_per_image": gflops_per_image(labels.shape[1], height, width)}
    if compile_too:
        started = time.perf_counter()
        contenders["ours_fp32_compiled"] = our_epoch(images, labels, None, compiled=True)
        contenders["ours_fp32_compiled"]()  # compiles
        entry["compile_s"] = time.perf_counter() - started
    per_s = {name: len(images) / s for name, s in race(contenders, rounds).items()}
    typical = {name: v for name, v in per_s.items() if name.startswith("typical_")}
    ours = per_s.get("ours_default", per_s["ours_fp32"])
    entry.update({
        "precision": "bf16" if default_dtype is not None else "fp32",
        "images_per_s": ours,
        "fp32_images_per_s": per_s["ours_fp32"],
        "achieved_gflops": ours * entry["gflops_per_image"],
        "fp32_achieved_gflops": per_s["ours_fp32"] * entry["gflops_per_image"],
        "typical_images_per_s": max(typical.values()),
        "typical_by_workers": {name.split("_")[1]: v for name, v in typical.items()},
        "load_avg": [load_before, load()],
    })
    if compile_too:
        entry["compiled_fp32_images_per_s"] = per_s["ours_fp32_compiled"]
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratios", default=",".join(map(str, STUDY_RATIOS)), help="study ratios to measure (default: all six)")
    parser.add_argument("--dataset", type=Path, help="a built dataset: use its train posters instead of synthetic ones")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads (default: this process's CPUs)")
    parser.add_argument("--images", type=int, help="posters per timed epoch (default 256, --quick 64)")
    parser.add_argument("--repeats", type=int, help="timed epochs per contender, best kept (default 3, --quick 2)")
    parser.add_argument("--compile", action="store_true", help="also time ours (fp32) under torch.compile, with its compile time")
    parser.add_argument("--data-paths", action="store_true",
                        help="measure instead training and prediction from a read-only shared array against a private copy")
    parser.add_argument("--quick", action="store_true", help="about a minute on an idle 2-core machine: fewer posters and repeats")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    ratios = parse_ratios(args.ratios)
    count = args.images or (64 if args.quick else 256)
    rounds = args.repeats or (2 if args.quick else 3)
    if count < BATCH or rounds < 1:
        raise SystemExit(f"--images {count} --repeats {rounds}: expected at least {BATCH} images and 1 repeat")
    set_threads(args.threads)
    machine = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": args.threads,
        "torch": torch.__version__,
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }
    on = f"{machine['cpu']}, {args.threads} torch threads, torch {torch.__version__}"
    print(f"Measuring on {on}; load average {load():.2f} at start.", file=sys.stderr)

    started = time.perf_counter()
    if args.dataset:
        images, labels = dataset_posters(args.dataset, count, ratios)
        source = f"the first {len(labels)} train posters of {args.dataset}"
    else:
        images, labels = synthetic_posters(count, ratios, workers=args.threads)
        source = f"{count} synthetic posters (seed 0)"
    if args.data_paths:
        # On /dev/shm (when there is one): memory shared between processes, as Ray's object store is.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.TemporaryDirectory(prefix="train-bench-", dir=shm) as tmp:
            results = {str(r): measure_data_paths(images[r], labels, Path(tmp) / str(r), rounds) for r in tqdm(ratios, desc="ratios", unit="ratio")}
        print_data_paths(results, on, source)
        print(f"\nMeasured in {time.perf_counter() - started:.0f} s, {count} posters per epoch, best of {rounds} each; "
              f"load average {load():.2f} at the end: on a shared machine, rerun and compare the ratios.")
        if args.json:
            write_json(args.json, "train_throughput_data_paths", machine=machine, posters=source, images_per_epoch=count,
                       repeats=rounds, eval_batch=EVAL_BATCH, old_eval_batch=OLD_EVAL_BATCH, ratios=results)
        return
    peak_sizes = (2048,) if args.quick else (2048, 4096)
    peak = matmul_peak(peak_sizes, rounds=3 if args.quick else 5)

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="train-bench-") as tmp:
        for ratio in tqdm(ratios, desc="ratios", unit="ratio"):
            results[str(ratio)] = measure_ratio(images[ratio], labels, Path(tmp) / str(ratio), args.threads, rounds, args.compile)
    # The peak is measured again at the end and the higher kept: a peak taken in a quiet moment is
    # the honest denominator on a shared machine.
    for name, value in matmul_peak(peak_sizes, rounds=3 if args.quick else 5).items():
        peak[name] = max(peak[name], value)
    peak_gflops = max(peak["mkl_sgemm"], peak["onednn_gemm"])
    for entry in results.values():
        entry["peak_gflops"] = peak_gflops
        entry["bf16_peak_gflops"] = peak["onednn_bf16_gemm"]
        entry["percent_of_peak"] = 100 * entry["achieved_gflops"] / peak_gflops
        entry["fp32_percent_of_peak"] = 100 * entry["fp32_achieved_gflops"] / peak_gflops
        entry["speedup_vs_typical"] = entry["images_per_s"] / entry["typical_images_per_s"]
    print_table(results, peak, peak_gflops, on, source, args.compile)

    first = next(iter(results.values()))
    elapsed = time.perf_counter() - started
    print(
        f"\nMeasured {len(results)} ratios in {elapsed:.0f} s on {on}, {count} posters per epoch, best of {rounds} "
        f"epochs each. Ours ({first['precision']}, the trainable's default here) reaches "
        f"{min(e['percent_of_peak'] for e in results.values()):.0f}% to {max(e['percent_of_peak'] for e in results.values()):.0f}% "
        f"of the {peak_gflops:.0f} GFLOP/s fp32 matmul peak ({min(e['fp32_percent_of_peak'] for e in results.values()):.0f}% to "
        f"{max(e['fp32_percent_of_peak'] for e in results.values()):.0f}% in fp32), and runs "
        f"{min(e['speedup_vs_typical'] for e in results.values()):.1f}x to {max(e['speedup_vs_typical'] for e in results.values()):.1f}x "
        f"the typical file + DataLoader pipeline (its faster worker setting). Load average {load():.2f} at the end: "
        f"on a shared machine, rerun and keep the best."
    )
    if args.json:
        write_json(args.json, "train_throughput", machine=machine, posters=source, images_per_epoch=count,
                   repeats=rounds, peak={**peak, "sizes": list(peak_sizes)}, ratios=results)


def print_table(results: dict, peak: dict, peak_gflops: float, on: str, source: str, compiled: bool) -> None:
    print(f"\nTraining throughput, batch {BATCH}, {LOSS} loss, on {on}; posters: {source}.")
    print(
        f"GEMM peaks: fp32 {peak_gflops:.1f} GFLOP/s (MKL sgemm {peak['mkl_sgemm']:.1f}, oneDNN {peak['onednn_gemm']:.1f}); "
        f"bf16 (oneDNN) {peak['onednn_bf16_gemm']:.1f}.\n"
    )
    columns = ["ratio", "size", "ours img/s", "precision", "GFLOP/img", "GFLOP/s", "% fp32 peak", "fp32 img/s",
               "fp32 % peak", "typical img/s", "speedup", "load"]
    if compiled:
        columns += ["compiled fp32 img/s", "compile s"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---:|" * len(columns))
    for ratio, e in results.items():
        cells = [ratio, f"{e['size'][0]}x{e['size'][1]}", f"{e['images_per_s']:.1f}", e["precision"],
                 f"{e['gflops_per_image']:.3f}", f"{e['achieved_gflops']:.1f}", f"{e['percent_of_peak']:.1f}",
                 f"{e['fp32_images_per_s']:.1f}", f"{e['fp32_percent_of_peak']:.1f}", f"{e['typical_images_per_s']:.1f}",
                 f"{e['speedup_vs_typical']:.2f}x", f"{e['load_avg'][0]:.1f}-{e['load_avg'][1]:.1f}"]
        if compiled:
            cells += [f"{e['compiled_fp32_images_per_s']:.1f}", f"{e['compile_s']:.1f}"]
        print("| " + " | ".join(cells) + " |")
    if compiled:
        print("\ntorch.compile (fp32), compile time against time saved per epoch of the paper's 4760 training posters:")
        for ratio, e in results.items():
            saved = 4760 / e["fp32_images_per_s"] - 4760 / e["compiled_fp32_images_per_s"]
            verdict = f"pays back after {e['compile_s'] / saved:.1f} epochs" if saved > 0 else "never pays back (slower)"
            print(f"  {ratio}%: {e['compile_s']:.1f} s to compile, {saved:+.1f} s per epoch: {verdict}")


if __name__ == "__main__":
    main()
