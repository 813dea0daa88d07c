"""A frozen body's features of every poster, on disk beside the dataset, computed once.

    <dataset>/features/<model>-imagenet-r<ratio>-x<input_scale>-<key>.npy     float32 N x F

<key> hashes everything the matrix depends on: the dataset's fingerprint (its posters, labels and
splits), the weights file, the model and its input scale. A changed dataset or new weights give a
new name, so a stale matrix is never read; a second sweep over the same backbone reuses it. A
dataset folder that cannot be written gets its features computed for this sweep only.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from dataset_builder.atomic import AtomicFile
from dataset_builder.store import FEATURE_CACHE as FOLDER, Dataset


def cache_path(dataset: Dataset, model: str, ratio: int, scale: float) -> Path:
    from ..models.pretrained import weights_source

    source = weights_source(model)
    content = f"{dataset.fingerprint}|{source.path.name if source.path else ''}|{model}|{ratio}|{scale!r}"
    key = hashlib.sha256(content.encode()).hexdigest()[:12]
    return dataset.root / FOLDER / f"{model}-imagenet-r{ratio}-x{scale:g}-{key}.npy"


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

    from ..models.registry import create_model, load_body_weights
    from ..training.device import pick_device
    from ..training.features import extract_features

    width, height = dataset.size(ratio)
    network = create_model(model, len(dataset.genres), height, width, input_scale=scale, frozen=True)
    load_body_weights(network, imagenet)
    images = dataset.images(ratio)
    started = time.perf_counter()
    with tqdm(total=len(images), desc=f"{model} features, ratio {ratio} x{scale:g}", unit="poster", file=sys.stderr) as bar:
        matrix = extract_features(network, images, pick_device("auto"), progress=bar.update)
    seconds = time.perf_counter() - started
    print(f"tune-genres: {model} features of {len(images)} posters at ratio {ratio} x{scale:g}: "
          f"{matrix.shape[1]} each, {seconds:.0f} s ({len(images) / seconds:.0f} posters/s)", file=sys.stderr)
    return matrix
