"""A frozen body's features of every poster, on disk beside the dataset, computed once.

    <dataset>/features/<model>-imagenet-r<ratio>-x<input_scale>-<key>.npy     float32 N x F

<key> hashes everything the matrix depends on (feature_key): the dataset's fingerprint (its
posters, labels and splits), the model, its normalisation (mean/std) and the size its body sees
(the ratio's poster size through input_scale), how the posters are resized, the weights file's
content, the torch/torchvision/timm versions, and training.features.FEATURES_VERSION (bumped when
the extraction code changes). A change in any gives a new name, so a stale matrix is never read
while `evaluate` rebuilds the network with the new code; a second sweep over the same backbone
reuses it. A dataset folder that cannot be written gets its features computed for this sweep only.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from dataset_builder.atomic import AtomicFile
from dataset_builder.store import FEATURE_CACHE as FOLDER, Dataset

# Libraries whose code computes a family's features: a new version may change them.
LIBRARIES = {"torchvision": ("torch", "torchvision"), "timm": ("torch", "timm")}


def cache_path(dataset: Dataset, model: str, ratio: int, scale: float) -> Path:
    content = json.dumps(feature_key(dataset, model, ratio, scale), sort_keys=True)
    key = hashlib.sha256(content.encode()).hexdigest()[:12]
    return dataset.root / FOLDER / f"{model}-imagenet-r{ratio}-x{scale:g}-{key}.npy"


def feature_key(dataset: Dataset, model: str, ratio: int, scale: float) -> dict:
    """Everything that changes `model`'s features of `dataset`'s posters at `ratio` x `scale`."""
    from ..models.catalog import MODELS
    from ..models.scaling import resize_settings, scaled_size
    from ..training import features

    info = MODELS[model]
    width, height = dataset.size(ratio)
    return {
        "features_version": features.FEATURES_VERSION,
        "dataset": dataset.fingerprint,
        "model": model,
        "mean": list(info.mean),
        "std": list(info.std),
        "poster": [width, height],
        "input_scale": float(scale),
        "input": list(scaled_size(height, width, scale)[::-1]),  # width x height the body sees
        "resize": resize_settings(),
        "weights": weights_identity(model),
        "versions": library_versions(info.family),
    }


def weights_identity(model: str) -> dict:
    """The ImageNet weights file's name and content hash (the same file anywhere is the same weights)."""
    from ..models import pretrained

    path = pretrained.weights_source(model).path
    if path is None or not path.is_file():
        return {"file": None}
    stat = path.stat()
    return {"file": path.name, "sha256": file_sha256(str(path), stat.st_size, stat.st_mtime_ns)}


@functools.lru_cache(maxsize=32)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The file's sha256, once per process while its size and mtime stay (a sweep asks per ratio and scale)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions(family: str) -> dict:
    """The versions of the libraries whose code computes `family`'s features."""
    found = {}
    for name in LIBRARIES.get(family, ("torch",)):
        try:
            found[name] = __import__(name).__version__
        except ImportError:
            found[name] = None
    return found


def cached_features(dataset: Dataset, model: str, ratio: int, scale: float, imagenet: dict) -> np.ndarray:
    """The features of every poster of `ratio` through `model`'s ImageNet body at `scale`: read
    from the cache, or computed (with a progress bar) and saved there."""
    path = cache_path(dataset, model, ratio, scale)
    if path.is_file():
        matrix = np.load(path)
        if matrix.shape[0] == len(dataset.labels):
            print(f"tune-genres: {model} features at ratio {ratio} x{scale:g} from {path}", file=sys.stderr)
            return matrix
    matrix = compute(dataset, model, ratio, scale, imagenet)
    try:
        path.parent.mkdir(exist_ok=True)
        with AtomicFile(path) as f:
            np.save(f, matrix)
    except OSError as e:
        print(f"tune-genres: {path.parent}: cannot keep the features there ({e.strerror}); they serve this sweep only",
              file=sys.stderr)
    return matrix


def compute(dataset: Dataset, model: str, ratio: int, scale: float, imagenet: dict) -> np.ndarray:
    from tqdm import tqdm

    from ..training.device import pick_device

    width, height = dataset.size(ratio)
    images = dataset.images(ratio)
    started = time.perf_counter()
    with tqdm(total=len(images), desc=f"{model} features, ratio {ratio} x{scale:g}", unit="poster", file=sys.stderr) as bar:
        matrix = body_features(images, model, len(dataset.genres), height, width, scale, imagenet, pick_device("auto"),
                               progress=bar.update)
    seconds = time.perf_counter() - started
    print(f"tune-genres: {model} features of {len(images)} posters at ratio {ratio} x{scale:g}: "
          f"{matrix.shape[1]} each, {seconds:.0f} s ({len(images) / seconds:.0f} posters/s)", file=sys.stderr)
    return matrix


def body_features(images: np.ndarray, model: str, num_classes: int, height: int, width: int, scale: float,
                  imagenet: dict | None, device, progress=None) -> np.ndarray:
    """`model`'s frozen body (ImageNet weights `imagenet`; None: as initialised, for checks) over
    every poster of `images` (N x H x W x 3 uint8) on `device`: float32 N x F.

    The driver runs this before the trials start, so it gives back the GPU memory it took: the
    network and the posters resident on the GPU are dropped and the caching allocator's blocks
    (about the image array's size) returned to the driver (release_gpu_memory). Kept, they were
    memory Ray does not know of, for the whole sweep, and trials packed onto the GPU with a
    fractional gpus_per_trial ran out of it. What stays is the CUDA context itself (a few hundred
    MB), until the driver ends. benchmarks/gpu_check.py measures what is left."""
    from ..models.registry import create_model, load_body_weights
    from ..training.features import extract_features

    network = create_model(model, num_classes, height, width, input_scale=scale, frozen=True)
    try:
        if imagenet is not None:
            load_body_weights(network, imagenet)
        return extract_features(network, images, device, progress=progress)
    finally:
        del network
        release_gpu_memory()


def release_gpu_memory() -> None:
    """Return the blocks torch's CUDA caching allocator holds, and cuBLAS's workspaces, to the
    driver; a process that never used CUDA is left alone (no context is created for this)."""
    import torch

    if not torch.cuda.is_initialized():
        return
    gc.collect()  # tensors held only by reference cycles
    clear_workspaces = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
    if clear_workspaces is not None:
        clear_workspaces()
    torch.cuda.empty_cache()
