"""input_scale: the ONE rule for the size a network resizes each batch of posters to.

The sweep file's check (catalog.too_small), the mini-VGG's classifier width and every resize on
the device all take the size from `scaled_size`, and the resize asks for that exact size: with
`F.interpolate(scale_factor=...)`, torch floors side x scale itself, and a model sized any other
way (the mini-VGG once rounded) crashed on one drawn input_scale in ten.

Torch-free (torch is imported by `resize` only), so the sweep file is checked without loading it.
"""

from __future__ import annotations

import math

# How a batch is resized (F.interpolate's arguments); a cached feature matrix's key records them
# (sweep/feature_cache.py), so changing them here never reads features resized the old way.
RESIZE_MODE = "bilinear"
ALIGN_CORNERS = False
ANTIALIAS_BELOW = 1.0  # antialias when shrinking (scale < 1): a bilinear shrink alone aliases

# Float noise forgiven before flooring: 100 x 0.58 is 57.99999999999999 and means 58.
TOLERANCE = 1e-6


def scaled_side(side: int, scale: float) -> int:
    """One side after input_scale: floored, as torch's interpolate sized it before this rule (so
    the networks trained then see what they saw)."""
    return math.floor(side * scale + TOLERANCE)


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(height, width) of height x width posters after input_scale."""
    return scaled_side(height, scale), scaled_side(width, scale)


def resize_settings() -> dict:
    """What resizing does besides the size: everything a resized poster depends on."""
    return {"mode": RESIZE_MODE, "align_corners": ALIGN_CORNERS, "antialias_below": ANTIALIAS_BELOW}


def resize(x, scale: float):
    """x (N x C x H x W) resized to scaled_size of its own size; x itself when scale is 1."""
    if scale == 1:
        return x
    import torch.nn.functional as F

    size = scaled_size(x.shape[-2], x.shape[-1], scale)
    return F.interpolate(x, size=size, mode=RESIZE_MODE, align_corners=ALIGN_CORNERS, antialias=scale < ANTIALIAS_BELOW)
