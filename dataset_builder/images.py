"""Decoding, validating and resizing posters: the one place that touches pixels.

Every failure is a PosterError with a countable reason, so callers record and skip it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import PosterError

# The study's full poster size (width x height): IMDb's thumbnail size.
BASE_SIZE = (182, 268)
# The study's shrink ratios, in percent of BASE_SIZE.
STUDY_RATIOS = (30, 44, 58, 72, 86, 100)
# Posters smaller than this (either side) carry too little to learn from.
MIN_SIDE = 32
# A poster above this many pixels is treated as a decompression bomb (a real poster is < 20 Mpx).
MAX_PIXELS = 50_000_000


def size_for_ratio(ratio: int) -> tuple[int, int]:
    """(width, height) of a ratio: round(182 r) x round(268 r), e.g. 58 -> (106, 155)."""
    # Integer round-half-up: no float error, no banker's rounding at .5.
    return ((BASE_SIZE[0] * ratio + 50) // 100, (BASE_SIZE[1] * ratio + 50) // 100)


def open_poster(source: str | os.PathLike | bytes) -> Image.Image:
    """Decode a poster fully into an RGB image, or raise PosterError saying why it cannot be used.

    Handles EXIF orientation and CMYK, greyscale, palette and alpha modes (alpha over white).
    """
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise PosterError("empty", "zero bytes")
        fp = io.BytesIO(source)
    else:
        path = Path(source)
        try:
            if path.stat().st_size == 0:
                raise PosterError("empty", f"{path}: zero bytes")
        except FileNotFoundError:
            raise PosterError("missing", f"{path}: no such file") from None
        fp = path
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; make every bomb an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(fp) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise PosterError("too-large", f"{img.width}x{img.height} pixels")
                # JPEG's DCT scaling: decode at no less than twice the base size, far cheaper.
                img.draft("RGB", (BASE_SIZE[0] * 2, BASE_SIZE[1] * 2))
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = to_rgb(img)
        except PosterError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise PosterError("too-large", str(e)) from None
        except UnidentifiedImageError:
            raise PosterError("not-an-image", "not a decodable image") from None
        except (OSError, SyntaxError, ValueError) as e:
            # Pillow reports a cut-off file as OSError("image file is truncated ...") and
            # broken headers as SyntaxError/ValueError.
            reason = "truncated" if "truncated" in str(e) else "corrupt"
            raise PosterError(reason, str(e)) from None
    if min(rgb.size) < MIN_SIDE:
        raise PosterError("too-small", f"{rgb.width}x{rgb.height} pixels")
    return rgb


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; transparent areas become white, as a poster on a page."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode.startswith("I;16") or img.mode == "I":
        # 16-bit greyscale: scale to 8 bits before conversion, else everything clips to white.
        arr = np.asarray(img, dtype=np.uint32) >> 8
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")


def resize_all(img: Image.Image, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """The poster at each (width, height) in `sizes`, as uint8 HxWx3 arrays.

    A poster larger than the base size is first shrunk to 182x268 with an antialiasing filter
    (Lanczos), once, and every ratio is taken from that; a smaller poster is resized straight to
    each size, so that a ratio at the source's own size is the source itself, not a round trip.
    Enlarging uses bicubic: antialiasing only matters when shrinking, and it costs a third less.
    """
    src = img
    if img.width >= BASE_SIZE[0] and img.height >= BASE_SIZE[1] and img.size != BASE_SIZE:
        src = img.resize(BASE_SIZE, Image.Resampling.LANCZOS)
    return [np.asarray(resize_one(src, size)) for size in sizes]


def resize_one(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    if img.size == size:
        return img
    enlarging = size[0] > img.width or size[1] > img.height
    return img.resize(size, Image.Resampling.BICUBIC if enlarging else Image.Resampling.LANCZOS)
