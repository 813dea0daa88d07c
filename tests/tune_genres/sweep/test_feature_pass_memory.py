"""The driver's feature pass (sweep/feature_cache.body_features) gives a frozen body's features and
then lets go of the GPU memory it took: on the CPU here (the same features, no CUDA context
opened for the freeing), and, marked `cuda`, the reserved memory measured on a GPU where there is one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import device_checks as checks
from tune_genres.models.registry import create_model
from tune_genres.sweep.feature_cache import body_features
from tune_genres.training.features import extract_features


def test_the_feature_pass_gives_the_bodys_features_and_opens_no_cuda_context():
    images = np.random.default_rng(0).integers(0, 256, (12, 80, 55, 3), dtype=np.uint8)
    torch.manual_seed(0)
    found = body_features(images, "resnet18", 4, 80, 55, 1.0, None, "cpu")
    torch.manual_seed(0)
    expected = extract_features(create_model("resnet18", 4, 80, 55, input_scale=1.0, frozen=True), images, "cpu")
    assert found.shape == (12, 512) and np.array_equal(found, expected)
    assert not torch.cuda.is_initialized()  # a CPU driver never creates a CUDA context to free memory


@pytest.mark.cuda
def test_the_driver_holds_no_gpu_memory_after_its_feature_pass():
    result = checks.feature_pass_memory_check("cuda", posters=512)
    assert result["ok"], result
