"""Real JPEG posters and raw collections for tests, made on the spot.

`colour_of(i)` gives each poster a distinct flat colour, so a test can tell from pixels alone
which title an image row came from (the study's images/labels mix-up is what this guards).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from dataset_builder.raw import Poster, RawCollection, RawCollectionWriter

GENRES = ("Drama", "Comedy", "Horror", "Romance", "Action", "Documentary")


def colour_of(i: int) -> tuple[int, int, int]:
    """A distinct, JPEG-robust colour per index (steps of 40 per channel survive compression)."""
    return (40 * (i % 6) + 20, 40 * ((i // 6) % 6) + 20, 40 * ((i // 36) % 6) + 20)


def jpeg_bytes(colour=(120, 60, 200), size=(182, 268), mode="RGB", quality=92, **save) -> bytes:
    img = Image.new("RGB", size, colour)
    if mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, **save)
    return buf.getvalue()


def genre_poster(genres: list[str], rng: np.random.Generator, size=(182, 268)) -> Image.Image:
    """A poster whose genres show in its pixels: one colour band per genre, plus noise."""
    w, h = size
    arr = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    band = h // len(GENRES)
    for g in genres:
        k = GENRES.index(g)
        arr[k * band : (k + 1) * band, :, k % 3] = 230
    return Image.fromarray(arr)


def learnable_raw(dest: Path, count: int = 120, seed: int = 0, size=(182, 268)) -> RawCollection:
    """A raw collection of `count` posters, 1-2 genres each, genres visible as colour bands."""
    rng = np.random.default_rng(seed)
    with RawCollectionWriter(dest) as writer:
        for i in range(count):
            n = 1 + int(rng.random() < 0.35)
            genres = sorted(rng.choice(GENRES, size=n, replace=False), key=GENRES.index)
            pid = f"tt{i:07d}"
            path, rel = writer.image_path(pid)
            genre_poster(list(genres), rng, size).save(path, "JPEG", quality=90)
            writer.add(Poster(id=pid, genres=list(genres), title=f"Title {i}", year="2000", file=rel))
        return writer.commit()


def coloured_raw(dest: Path, count: int, genres_of, size=(120, 180)) -> RawCollection:
    """Posters i = 0..count-1, each a flat colour_of(i), with genres_of(i) as labels."""
    with RawCollectionWriter(dest) as writer:
        for i in range(count):
            pid = f"tt{i:07d}"
            path, rel = writer.image_path(pid)
            path.write_bytes(jpeg_bytes(colour_of(i), size))
            writer.add(Poster(id=pid, genres=list(genres_of(i)), file=rel))
        return writer.commit()
