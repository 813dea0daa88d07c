"""Decoding every kind of poster a user meets, and refusing the broken ones with a reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dataset_builder.errors import PosterError
from dataset_builder.images import STUDY_RATIOS, open_poster, resize_all, size_for_ratio
from support.posters import jpeg_bytes


def test_study_sizes_are_round_182r_by_268r():
    assert [size_for_ratio(r) for r in STUDY_RATIOS] == [
        (55, 80), (80, 118), (106, 155), (131, 193), (157, 230), (182, 268)
    ]


def noisy_jpeg() -> bytes:
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (268, 182, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "JPEG", quality=90)
    assert len(buf.getvalue()) > 20_000
    return buf.getvalue()


def save(tmp_path, name, img: Image.Image, fmt, **options):
    path = tmp_path / name
    img.save(path, fmt, **options)
    return path


@pytest.mark.parametrize("mode", ["CMYK", "L", "RGB"])
def test_jpeg_modes_decode_to_rgb(tmp_path, mode):
    path = tmp_path / f"{mode}.jpg"
    path.write_bytes(jpeg_bytes((200, 40, 40), mode=mode))
    img = open_poster(path)
    assert img.mode == "RGB" and img.size == (182, 268)
    r, g, b = np.asarray(img).reshape(-1, 3).mean(axis=0)
    if mode == "L":
        assert abs(r - g) < 2 and abs(g - b) < 2
    else:
        assert r > 150 and g < 90 and b < 90


def test_palette_with_transparency_and_alpha_go_over_white(tmp_path):
    rgba = Image.new("RGBA", (100, 150), (255, 0, 0, 0))  # fully transparent red
    rgba.paste((0, 0, 255, 255), (0, 0, 50, 150))  # opaque blue left half
    png = save(tmp_path, "alpha.png", rgba, "PNG")
    indexed = Image.new("P", (100, 150), 0)
    indexed.putpalette([255, 0, 0, 0, 0, 255])  # index 0 red (made transparent), index 1 blue
    indexed.paste(1, (0, 0, 50, 150))
    palette = save(tmp_path, "palette.png", indexed, "PNG", transparency=0)
    for path in (png, palette):
        arr = np.asarray(open_poster(path))
        assert tuple(arr[75, 25]) == (0, 0, 255)
        assert tuple(arr[75, 75]) in {(255, 255, 255)}, path.name


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (268, 182), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 134, 182))  # left half white, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = save(tmp_path, "rotated.jpg", img, "JPEG", exif=exif.tobytes())
    shown = open_poster(path)
    assert shown.size == (182, 268)
    arr = np.asarray(shown).mean(axis=2)
    assert arr[:100].mean() > 200 and arr[-100:].mean() < 50  # the white half is now on top


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"<html><body>Not found</body></html>", "not-an-image"),
        (noisy_jpeg()[:4000], "truncated"),
        (jpeg_bytes(size=(20, 30)), "too-small"),
    ],
    ids=["zero-byte", "html-as-jpg", "truncated", "tiny"],
)
def test_unusable_posters_raise_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "poster.jpg"
    path.write_bytes(content)
    with pytest.raises(PosterError) as caught:
        open_poster(path)
    assert caught.value.reason == reason


def test_decompression_bomb_is_refused_without_decoding(tmp_path):
    # A 1-bit PNG of 10000 x 10000 = 100 Mpx compresses to a few kB.
    path = save(tmp_path, "bomb.png", Image.new("1", (10_000, 10_000)), "PNG")
    assert path.stat().st_size < 100_000
    with pytest.raises(PosterError) as caught:
        open_poster(path)
    assert caught.value.reason == "too-large"


def test_missing_file(tmp_path):
    with pytest.raises(PosterError) as caught:
        open_poster(tmp_path / "nope.jpg")
    assert caught.value.reason == "missing"


def test_resize_all_gives_exact_shapes_and_keeps_a_same_size_source():
    src = Image.fromarray(np.random.default_rng(0).integers(0, 256, (155, 106, 3), dtype=np.uint8))
    arrays = resize_all(src, [size_for_ratio(r) for r in STUDY_RATIOS])
    assert [a.shape for a in arrays] == [(80, 55, 3), (118, 80, 3), (155, 106, 3), (193, 131, 3), (230, 157, 3), (268, 182, 3)]
    assert all(a.dtype == np.uint8 for a in arrays)
    # 58% of 182x268 is the source's own size: no round trip through 182x268.
    assert np.array_equal(arrays[2], np.asarray(src))


def test_large_source_is_shrunk_with_antialiasing():
    # A 1-pixel checkerboard averages to grey when shrunk properly; nearest-neighbour keeps extremes.
    board = (np.indices((536, 364)).sum(axis=0) % 2 * 255).astype(np.uint8)
    src = Image.fromarray(np.stack([board] * 3, axis=-1))
    (small,) = resize_all(src, [size_for_ratio(30)])
    assert abs(small.mean() - 127.5) < 10 and small.std() < 25
