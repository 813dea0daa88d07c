"""Per-sample data augmentation of a training batch, on the batch's own device.

    none      the batch itself, untouched (nothing drawn from the generator).
    flip      each poster mirrored left-right with probability 1/2.
    standard  a flip as above, then a random resized crop inside the poster (area 60-100%, aspect
              within 3/4-4/3 of the poster's), scaled back to H x W, then brightness and contrast
              jitter (contrast around the poster's own mean grey), clamped to [0, 1].

Every random number is drawn on the CPU from the trial's generator (the one that shuffles), as a
few numbers per sample: the same seed gives the same augmentation on any device, and a checkpoint
that saves the generator's state resumes it exactly. The pixels never leave the device: a batch is
augmented by a handful of batched ops (the flip and crop are one affine grid_sample), no Python
loop over samples and no host round trip, so a GPU trial stays on the GPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

AUGMENTS = ("none", "flip", "standard")

# Probability that a sample is mirrored left-right.
FLIP_P = 0.5
# The crop's area as a fraction of the poster's, uniform in this range.
CROP_AREA = (0.6, 1.0)
# The crop's aspect ratio relative to the poster's, log-uniform in this range.
CROP_ASPECT = (3 / 4, 4 / 3)
# Brightness factor (pixels scaled by it), uniform in this range.
BRIGHTNESS = (0.8, 1.2)
# Contrast factor (distance from the sample's mean grey scaled by it), uniform in this range.
CONTRAST = (0.8, 1.2)
# ITU-R 601 luma weights: the grey that contrast is taken around (as torchvision's rgb_to_grayscale).
GREY = (0.299, 0.587, 0.114)


def _uniform(u: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _same_format(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`out` in x's memory format (channels_last or contiguous); a no-op when it already is."""
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return out.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """x: float N,3,H,W in [0, 1] on any device (channels_last or not); returns a batch of the same
    shape, dtype, device and memory format. 'none' returns x itself (and draws nothing from the generator)."""
    if kind not in AUGMENTS:
        raise ValueError(f"unknown augmentation {kind!r}: expected one of {', '.join(AUGMENTS)}")
    if kind == "none":
        return x
    n = x.shape[0]
    if kind == "flip":
        flip = (torch.rand(n, generator=generator) < FLIP_P).to(x.device).view(n, 1, 1, 1)
        return _same_format(torch.where(flip, x.flip(3), x), x)

    # standard: per sample flip, area, log aspect, crop centre (x, y), brightness, contrast.
    flip, area, log_aspect, cx, cy, brightness, contrast = torch.rand(n, 7, generator=generator).unbind(1)
    area = _uniform(area, CROP_AREA)
    aspect = torch.exp(_uniform(log_aspect, (math.log(CROP_ASPECT[0]), math.log(CROP_ASPECT[1]))))
    # Crop width and height as fractions of the poster's; capped at the poster (a wide crop of a
    # near-full area would not fit), so the crop never leaves it.
    width, height = (area * aspect).sqrt().clamp(max=1), (area / aspect).sqrt().clamp(max=1)
    # The crop in grid_sample's [-1, 1] coordinates: scaled by its size (negated to mirror), its
    # centre anywhere that keeps it inside the poster.
    crop = torch.stack([torch.where(flip < FLIP_P, -width, width), (1 - width) * (2 * cx - 1),
                        height, (1 - height) * (2 * cy - 1)], 1)
    grid = _crop_grid(crop.to(x.device, x.dtype), *x.shape[2:])
    # 'border': the outermost half pixel samples the edge pixel, not black padding.
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    # Brightness b then contrast c around the mean grey g (b g after brightness) is one affine map
    # per sample: (b o - b g) c + b g = (b c) o + b g (1 - c).
    b = _uniform(brightness, BRIGHTNESS).to(x.device, x.dtype).view(n, 1, 1, 1)
    c = _uniform(contrast, CONTRAST).to(x.device, x.dtype).view(n, 1, 1, 1)
    grey = (out.mean((2, 3)) @ torch.tensor(GREY, device=x.device, dtype=x.dtype)).view(n, 1, 1, 1)
    return _same_format(out.mul_(b * c).add_(b * grey * (1 - c)).clamp_(0, 1), x)


def _crop_grid(crop: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """grid_sample's N,H,W,2 grid for axis-aligned crops, crop: N,4 (x scale, x shift, y scale, y shift).

    What F.affine_grid gives for theta [[sx, 0, tx], [0, sy, ty]] (align_corners=False), built as
    an outer sum of per-sample lines instead of a batched matrix product: 10x faster on the CPU.
    """
    n = crop.shape[0]
    u = (torch.arange(width, device=crop.device, dtype=crop.dtype) * 2 + 1) / width - 1  # pixel centres
    v = (torch.arange(height, device=crop.device, dtype=crop.dtype) * 2 + 1) / height - 1
    sx, tx, sy, ty = (p.view(n, 1, 1) for p in crop.unbind(1))
    across, down = (sx * u + tx).expand(n, height, width), (sy * v.view(height, 1) + ty).expand(n, height, width)
    return torch.stack([across, down], 3)
