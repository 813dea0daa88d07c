"""Synthetic TV-series posters whose genres show in the pixels at a coarse and a fine scale.

The offline default data set: no download, deterministic by seed, shaped like the study's real
set, and hard enough that image size matters. docs/synthetic.md has the full tables; in short:

Labels (per title)
    An *anchor* genre is drawn, then each of its *companions* joins independently with
    probability COMPANION_SCALE x P(companion | anchor), P taken from the real set's
    co-occurrences (COMPANIONS). The anchor probabilities are solved (anchor_probabilities) so
    that every genre's frequency is exactly proportional to GENRE_COUNTS, the real set's counts:
    Drama and Comedy frequent, Documentary and Horror rare. A title carries 1 genre ~29% of
    the time, 2 ~35%, 3 ~22%, 4 or more ~13%. Horror, Documentary, Reality-TV, Romance and
    Action rarely name each other as companions, so they co-occur little, as in the study.

Pixels (per poster, 182x268)
    Cues are planned from the labels with deliberate disagreement (the label noise): each
    labelled genre's coarse cue is drawn with probability P_COARSE and, independently, its fine
    cue with probability P_FINE; with probability P_IMPOSTOR one genre the title does NOT carry
    has its cues drawn too.
    - coarse cue (survives any shrink): the genre's shape (disc, ring, triangle, ...) in its
      colour, 68-100 px across, near its own place on a 3x3 grid; and the background gradient
      pulled towards the mean colour of the coarse-cued genres.
    - fine cue (blurs away when shrunk): a 70-110 px patch, at a random place, of sinusoidal
      luminance stripes at the genre's own angle and period (2.5-4.5 px). A Lanczos shrink keeps
      stripes whose per-axis frequency stays under about half a cycle per pixel after it, so
      none survive at 30%, the study's five genres' and the top five's show at 58%, and the
      finest need 72-86% (Look.first_visible_ratio). The stripes have zero mean and are drawn
      unclipped, so no trace of them survives a blur.
    - nuisance: random backgrounds (gradient plus smooth blotches), random clutter shapes in
      random colours (the same shape vocabulary as the cues), random lines, a title block of
      random shape and place with glyph-like 1-3 px strokes, stripe patches at random angles
      and periods, global brightness and contrast jitter, Gaussian pixel noise, JPEG quality 90.

Every poster depends only on (seed, index): its own numpy Generator is seeded with both, so the
same seed gives byte-identical images and labels whatever the number of worker processes.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from ..images import BASE_SIZE
from ..raw import Poster, RawCollection, RawCollectionWriter
from ..workers import cpu_workers, process_pool

WIDTH, HEIGHT = BASE_SIZE

# Titles per genre in the study's real set (../shared/data/tv-posters/484da.csv, 5793 titles):
# synthetic frequencies are proportional to these.
GENRE_COUNTS: dict[str, int] = {
    "Drama": 2860, "Comedy": 2699, "Action": 1121, "Animation": 1086, "Crime": 1043,
    "Thriller": 994, "Adventure": 955, "Mystery": 915, "Romance": 881, "Fantasy": 867,
    "Family": 862, "Sci-Fi": 826, "Reality-TV": 357, "Horror": 325, "Documentary": 248,
    "History": 193, "Music": 147, "Short": 140, "Game-Show": 136, "Talk-Show": 128,
    "Sport": 117, "War": 96, "Musical": 81, "Biography": 73, "Western": 55, "News": 43,
}
GENRES: tuple[str, ...] = tuple(GENRE_COUNTS)

# P(companion | anchor) in the real set, kept where >= 0.10 (rounded): who appears beside whom.
COMPANIONS: dict[str, dict[str, float]] = {
    "Drama": {"Comedy": .29, "Crime": .28, "Thriller": .28, "Mystery": .26, "Romance": .21, "Action": .21,
              "Sci-Fi": .15, "Fantasy": .15, "Adventure": .13, "Animation": .12},
    "Comedy": {"Drama": .31, "Animation": .26, "Family": .23, "Romance": .17, "Adventure": .17, "Fantasy": .16,
               "Action": .14, "Sci-Fi": .10},
    "Action": {"Drama": .53, "Adventure": .51, "Animation": .45, "Sci-Fi": .42, "Fantasy": .36, "Comedy": .33,
               "Thriller": .28, "Crime": .25, "Family": .22, "Mystery": .18, "Romance": .11},
    "Animation": {"Comedy": .65, "Adventure": .51, "Action": .47, "Family": .44, "Fantasy": .42, "Sci-Fi": .34,
                  "Drama": .32, "Romance": .16, "Mystery": .13, "Thriller": .12, "Short": .10},
    "Crime": {"Drama": .78, "Thriller": .47, "Mystery": .47, "Action": .27, "Comedy": .19},
    "Thriller": {"Drama": .81, "Mystery": .49, "Crime": .49, "Action": .32, "Sci-Fi": .24, "Fantasy": .18,
                 "Horror": .17, "Adventure": .15, "Animation": .13, "Comedy": .12},
    "Adventure": {"Action": .60, "Animation": .57, "Comedy": .48, "Fantasy": .45, "Sci-Fi": .43, "Family": .43,
                  "Drama": .40, "Thriller": .15, "Mystery": .15},
    "Mystery": {"Drama": .80, "Thriller": .53, "Crime": .53, "Fantasy": .23, "Sci-Fi": .22, "Action": .22,
                "Horror": .19, "Comedy": .18, "Adventure": .16, "Animation": .15},
    "Romance": {"Drama": .69, "Comedy": .53, "Animation": .20, "Fantasy": .18, "Action": .15, "Adventure": .11},
    "Fantasy": {"Animation": .52, "Comedy": .50, "Adventure": .50, "Drama": .48, "Action": .46, "Sci-Fi": .33,
                "Family": .32, "Mystery": .24, "Thriller": .21, "Horror": .20, "Romance": .18},
    "Family": {"Comedy": .73, "Animation": .56, "Adventure": .47, "Fantasy": .32, "Action": .29, "Drama": .28,
               "Sci-Fi": .27, "Short": .11},
    "Sci-Fi": {"Action": .58, "Drama": .51, "Adventure": .50, "Animation": .45, "Fantasy": .35, "Comedy": .34,
               "Thriller": .29, "Family": .28, "Mystery": .24, "Horror": .12, "Crime": .11},
    "Reality-TV": {"Game-Show": .22, "Comedy": .17, "Documentary": .13},
    "Horror": {"Drama": .63, "Fantasy": .54, "Mystery": .53, "Thriller": .52, "Comedy": .32, "Sci-Fi": .31,
               "Animation": .30, "Action": .26, "Adventure": .21, "Crime": .15},
    "Documentary": {"Reality-TV": .19, "Crime": .15, "History": .12, "Comedy": .10},
    "History": {"Drama": .68, "Romance": .25, "Action": .25, "War": .23, "Biography": .19, "Adventure": .18,
                "Documentary": .15, "Comedy": .13},
    "Music": {"Comedy": .60, "Drama": .36, "Family": .30, "Animation": .19, "Romance": .18, "Musical": .14,
              "Fantasy": .12, "Adventure": .12, "Talk-Show": .10, "Reality-TV": .10},
    "Short": {"Comedy": .86, "Animation": .79, "Family": .70, "Adventure": .64, "Fantasy": .41, "Action": .33,
              "Sci-Fi": .28, "Drama": .14, "Mystery": .10},
    "Game-Show": {"Reality-TV": .57, "Comedy": .32, "Family": .12},
    "Talk-Show": {"Comedy": .66, "News": .21, "Music": .12},
    "Sport": {"Drama": .40, "Comedy": .34, "Animation": .25, "Action": .25, "Documentary": .17,
              "Reality-TV": .14, "Family": .12, "Adventure": .12},
    "War": {"Drama": .77, "History": .47, "Action": .45, "Adventure": .23, "Romance": .19, "Comedy": .14,
            "Thriller": .12, "Animation": .12},
    "Musical": {"Comedy": .77, "Family": .63, "Animation": .56, "Adventure": .37, "Fantasy": .33, "Drama": .31,
                "Music": .25, "Short": .15, "Romance": .12},
    "Biography": {"Drama": .64, "History": .49, "Documentary": .32, "Crime": .22, "Romance": .14, "War": .11,
                  "Mystery": .11},
    "Western": {"Drama": .38, "Action": .33, "Adventure": .29, "Comedy": .24, "Family": .24, "Crime": .16,
                "Animation": .16, "Sci-Fi": .13},
    "News": {"Talk-Show": .63, "Comedy": .42, "Documentary": .14},
}
# The real set lists up to 12 genres a title (IMDb's pages); halving the pull keeps most titles
# at 1-3 genres, as IMDb's dataset dumps do, while keeping who-goes-with-whom.
COMPANION_SCALE = 0.55


@dataclass(frozen=True)
class Look:
    """How one genre shows in a poster."""

    colour: tuple[int, int, int]
    shape: str  # one of SHAPES
    place: tuple[float, float]  # centre of its shape, as fractions of (width, height)
    stripe_angle: float  # degrees, direction ACROSS the stripes: 0 = vertical stripes, 90 = horizontal
    stripe_period: float  # pixels at 182x268

    def first_visible_ratio(self) -> float:
        """The shrink ratio (1.0 = 182x268) from which this genre's stripes keep about half their amplitude."""
        return stripe_visible_from(self.stripe_angle, self.stripe_period)


SHAPES = ("disc", "ring", "square", "diamond", "triangle", "triangle-down", "hbar", "vbar", "cross")
_L, _C, _R, _T, _M, _B = 0.25, 0.5, 0.75, 0.2, 0.5, 0.8
# Colour, shape, grid place, stripe angle and period per genre. The benchmark genres (Romance,
# Action, Horror, Documentary, Reality-TV) and the top five (Drama, Comedy, Action, Animation,
# Crime) each get distinct stripe angles visible from 58%; the rest spread up to 100%.
LOOKS: dict[str, Look] = {
    "Drama": Look((120, 40, 60), "square", (_C, _M), 67.5, 4.5),
    "Comedy": Look((250, 200, 40), "disc", (_L, _T), 112.5, 4.5),
    "Action": Look((230, 80, 20), "triangle", (_R, _B), 0.0, 4.5),
    "Animation": Look((60, 200, 230), "ring", (_R, _T), 157.5, 4.5),
    "Crime": Look((40, 40, 50), "vbar", (_L, _B), 22.5, 4.5),
    "Thriller": Look((90, 90, 110), "diamond", (_C, _T), 90.0, 3.0),
    "Adventure": Look((70, 150, 60), "triangle", (_L, _M), 45.0, 3.0),
    "Mystery": Look((80, 50, 130), "ring", (_C, _B), 135.0, 3.0),
    "Romance": Look((240, 110, 170), "disc", (_R, _M), 45.0, 4.0),
    "Fantasy": Look((150, 90, 220), "diamond", (_R, _T), 22.5, 3.0),
    "Family": Look((120, 220, 110), "disc", (_C, _B), 157.5, 3.0),
    "Sci-Fi": Look((30, 110, 220), "cross", (_C, _T), 0.0, 3.5),
    "Reality-TV": Look((250, 150, 40), "hbar", (_C, _T), 157.5, 4.0),
    "Horror": Look((150, 0, 0), "triangle-down", (_L, _T), 135.0, 4.0),
    "Documentary": Look((170, 160, 130), "square", (_L, _B), 90.0, 4.5),
    "History": Look((150, 110, 60), "vbar", (_R, _M), 90.0, 2.5),
    "Music": Look((230, 60, 230), "ring", (_L, _M), 0.0, 2.5),
    "Short": Look((200, 230, 240), "square", (_R, _T), 45.0, 2.5),
    "Game-Show": Look((255, 230, 0), "diamond", (_R, _B), 135.0, 2.5),
    "Talk-Show": Look((0, 170, 170), "hbar", (_C, _B), 67.5, 3.0),
    "Sport": Look((0, 140, 90), "disc", (_L, _B), 0.0, 4.0),
    "War": Look((100, 110, 60), "cross", (_L, _T), 90.0, 3.5),
    "Musical": Look((250, 170, 200), "triangle-down", (_R, _M), 112.5, 3.0),
    "Biography": Look((200, 180, 160), "diamond", (_L, _M), 22.5, 3.5),
    "Western": Look((190, 120, 50), "triangle", (_C, _M), 67.5, 2.5),
    "News": Look((200, 30, 40), "hbar", (_R, _B), 157.5, 2.5),
}

# The label noise: how often a carried genre's cues are drawn, and a foreign genre's are.
P_COARSE = 0.45
P_FINE = 0.8
P_IMPOSTOR = 0.15
# Per-axis stripe frequency after a shrink (cycles/pixel) at which Pillow's Lanczos keeps about
# half the amplitude: Nyquist. A fifth above it, almost nothing is left (docs/synthetic.md).
VISIBLE_FREQ = 0.5
JPEG_QUALITY = 90
# Posters per worker task: big enough to amortise the call, small enough for a live progress bar.
CHUNK = 50

_SYLLABLES = ("ka", "lo", "mi", "ren", "tor", "sa", "vel", "dun", "ara", "no", "shi", "bel", "cor", "ix", "em", "ul")


def stripe_visible_from(angle: float, period: float) -> float:
    """The shrink ratio at which stripes of this angle and period reach VISIBLE_FREQ on either axis."""
    theta = math.radians(angle)
    return max(abs(math.cos(theta)), abs(math.sin(theta))) / (period * VISIBLE_FREQ)


@lru_cache(maxsize=1)
def anchor_probabilities() -> np.ndarray:
    """P(anchor = genre), solved so that genre frequencies are proportional to GENRE_COUNTS.

    A genre's frequency is P(anchor) + sum over anchors a of P(a) x pull(a -> genre): linear in
    the anchor probabilities, so one linear solve gives them exactly.
    """
    pull = companion_matrix()
    counts = np.array([GENRE_COUNTS[g] for g in GENRES], dtype=np.float64)
    weights = np.linalg.solve((np.eye(len(GENRES)) + pull).T, counts)
    if (weights < 0).any():  # a table edit that no anchor mix can satisfy
        raise ValueError(f"COMPANIONS too strong for {[g for g, w in zip(GENRES, weights) if w < 0]}")
    return weights / weights.sum()


@lru_cache(maxsize=1)
def companion_matrix() -> np.ndarray:
    """pull[a, b] = P(b joins | anchor a)."""
    index = {g: i for i, g in enumerate(GENRES)}
    pull = np.zeros((len(GENRES), len(GENRES)))
    for anchor, companions in COMPANIONS.items():
        for genre, p in companions.items():
            pull[index[anchor], index[genre]] = COMPANION_SCALE * p
    return pull


def sample_genres(rng: np.random.Generator) -> list[str]:
    """One title's genres, in GENRES order (most frequent first)."""
    anchor = rng.choice(len(GENRES), p=anchor_probabilities())
    joined = rng.random(len(GENRES)) < companion_matrix()[anchor]
    joined[anchor] = True
    return [GENRES[i] for i in np.flatnonzero(joined)]


@dataclass(frozen=True)
class Cues:
    """Which genres a poster shows, at which scale (differs from its labels: the label noise)."""

    coarse: tuple[str, ...]
    fine: tuple[str, ...]


def plan_cues(rng: np.random.Generator, genres: list[str]) -> Cues:
    shown = list(genres)
    if rng.random() < P_IMPOSTOR:
        others = [g for g in GENRES if g not in genres]
        weights = np.array([GENRE_COUNTS[g] for g in others], dtype=np.float64)
        shown.append(others[rng.choice(len(others), p=weights / weights.sum())])
    coarse = tuple(g for g in shown if rng.random() < P_COARSE)
    fine = tuple(g for g in shown if rng.random() < P_FINE)
    return Cues(coarse, fine)


def render(rng: np.random.Generator, cues: Cues) -> np.ndarray:
    """A HEIGHT x WIDTH x 3 uint8 poster showing `cues` among nuisance."""
    img = Image.fromarray(background(rng, cues.coarse))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.poisson(2)):  # clutter, drawn under the cues
        draw_shape(draw, SHAPES[rng.integers(len(SHAPES))], random_point(rng), rng.uniform(6, 22), random_colour(rng))
    for _ in range(rng.poisson(2)):
        draw.line([random_point(rng), random_point(rng)], fill=random_colour(rng), width=int(rng.integers(1, 4)))
    for genre in cues.coarse:
        look = LOOKS[genre]
        centre = (
            (look.place[0] + rng.normal(0, 0.04)) * WIDTH,
            (look.place[1] + rng.normal(0, 0.04)) * HEIGHT,
        )
        draw_shape(draw, look.shape, centre, rng.uniform(34, 50), jitter(rng, look.colour, 15))
    title_block(rng, draw)
    pixels = np.asarray(img, dtype=np.float32)
    for genre in cues.fine:
        look = LOOKS[genre]
        add_stripes(rng, pixels, look.stripe_angle, look.stripe_period)
    for _ in range(rng.poisson(0.4)):  # stripes that mean nothing
        add_stripes(rng, pixels, rng.uniform(0, 180), rng.uniform(2.0, 7.0))
    contrast, brightness = rng.uniform(0.8, 1.15), rng.uniform(-20, 20)
    pixels = (pixels - 128) * contrast + 128 + brightness
    pixels += rng.normal(0, rng.uniform(3, 10), size=pixels.shape).astype(np.float32)
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)


def background(rng: np.random.Generator, tinted_by: tuple[str, ...]) -> np.ndarray:
    """A gradient between two colours, each pulled towards the cued genres' mean colour, plus blotches."""
    top, bottom = random_colour(rng), random_colour(rng)
    if tinted_by:
        tint = np.mean([LOOKS[g].colour for g in tinted_by], axis=0)
        top = mix(top, tint, rng.uniform(0.2, 0.6))
        bottom = mix(bottom, tint, rng.uniform(0.2, 0.6))
    t = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None, None]
    if rng.random() < 0.5:  # diagonal instead of vertical
        t = (t + np.linspace(0.0, 1.0, WIDTH, dtype=np.float32)[None, :, None]) / 2
    grad = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    grad = np.broadcast_to(grad, (HEIGHT, WIDTH, 3))
    # Smooth blotches: a few random pixels blown up, so they carry no fine detail.
    coarse = rng.uniform(-1, 1, size=(rng.integers(3, 7), rng.integers(2, 5), 3))
    blotch_img = Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC)
    blotches = (np.asarray(blotch_img, np.float32) - 127.5) * (rng.uniform(0, 50) / 127.5)
    return np.clip(grad + blotches, 0, 255).astype(np.uint8)


def title_block(rng: np.random.Generator, draw: ImageDraw.ImageDraw) -> None:
    """A block of random shape and place holding rows of glyph-like strokes (fine nuisance)."""
    w, h = rng.uniform(0.5, 0.95) * WIDTH, rng.uniform(0.08, 0.2) * HEIGHT
    x0 = rng.uniform(0, WIDTH - w)
    y0 = rng.choice([rng.uniform(0.02, 0.12), rng.uniform(0.4, 0.5), rng.uniform(0.75, 0.88)]) * HEIGHT
    box = (x0, y0, x0 + w, y0 + h)
    fill = random_colour(rng)
    if rng.random() < 0.3:
        pass  # no block: the letters sit on the poster itself
    elif rng.random() < 0.5:
        draw.rectangle(box, fill=fill)
    else:
        draw.rounded_rectangle(box, radius=float(rng.uniform(3, h / 2)), fill=fill)
    ink = tuple(255 - c for c in fill)
    rows = int(rng.integers(1, 3))
    glyph_h = h / (rows + 1)
    for r in range(rows):
        x, y = int(x0) + 4, int(y0 + (r + 0.5) * glyph_h)
        while x < x0 + w - 6:
            stroke_w = int(rng.integers(1, 4))
            draw.rectangle((x, y, x + stroke_w - 1, y + int(glyph_h * rng.uniform(0.5, 1.0))), fill=ink)
            if rng.random() < 0.4:  # a crossbar
                yb = y + int(glyph_h * rng.uniform(0.1, 0.6))
                draw.rectangle((x, yb, x + int(rng.integers(2, 6)), yb + stroke_w - 1), fill=ink)
            x += stroke_w + int(rng.integers(2, 7)) + (int(rng.integers(3, 8)) if rng.random() < 0.15 else 0)


def add_stripes(rng: np.random.Generator, pixels: np.ndarray, angle: float, period: float) -> None:
    """Zero-mean sinusoidal luminance stripes over a random patch, in place."""
    pw, ph = int(rng.integers(70, 110)), int(rng.integers(70, 110))
    x0, y0 = int(rng.integers(0, WIDTH - pw + 1)), int(rng.integers(0, HEIGHT - ph + 1))
    theta = math.radians(angle)
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    wave = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * (2 * math.pi / period) + rng.uniform(0, 2 * math.pi))
    patch = pixels[y0 : y0 + ph, x0 : x0 + pw]
    # Pull the patch towards mid-grey first so the stripes are not clipped (clipping would shift
    # the patch's mean, a trace that survives shrinking).
    amplitude = rng.uniform(50, 70)
    patch[:] = np.clip(patch, amplitude, 255 - amplitude) + (amplitude * wave)[:, :, None]


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, centre: tuple[float, float], r: float, colour) -> None:
    cx, cy = centre
    if shape == "disc":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(2, int(r / 3)))
    elif shape == "square":
        draw.rectangle((cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85), fill=colour)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=colour)
    elif shape == "triangle-down":
        draw.polygon([(cx, cy + r), (cx + r, cy - r * 0.8), (cx - r, cy - r * 0.8)], fill=colour)
    elif shape == "hbar":
        draw.rectangle((cx - r * 1.3, cy - r * 0.35, cx + r * 1.3, cy + r * 0.35), fill=colour)
    elif shape == "vbar":
        draw.rectangle((cx - r * 0.35, cy - r * 1.3, cx + r * 0.35, cy + r * 1.3), fill=colour)
    elif shape == "cross":
        draw.rectangle((cx - r, cy - r * 0.3, cx + r, cy + r * 0.3), fill=colour)
        draw.rectangle((cx - r * 0.3, cy - r, cx + r * 0.3, cy + r), fill=colour)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def random_point(rng: np.random.Generator) -> tuple[float, float]:
    return float(rng.uniform(0, WIDTH)), float(rng.uniform(0, HEIGHT))


def random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, size=3))


def jitter(rng: np.random.Generator, colour, spread: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.uniform(-spread, spread), 0, 255)) for c in colour)


def mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))


def random_title(rng: np.random.Generator) -> str:
    words = ["".join(_SYLLABLES[i] for i in rng.integers(len(_SYLLABLES), size=rng.integers(1, 4))) for _ in range(rng.integers(1, 4))]
    return " ".join(w.capitalize() for w in words)


@dataclass(frozen=True)
class SyntheticPoster:
    id: str
    title: str
    year: int
    genres: list[str]
    jpeg: bytes


def poster_id(index: int) -> str:
    return f"syn{index:07d}"


def make_poster(seed: int, index: int) -> SyntheticPoster:
    """Poster `index` of the set with this seed: a function of (seed, index) alone."""
    rng = np.random.default_rng([seed, index])
    genres = sample_genres(rng)
    title, year = random_title(rng), int(rng.integers(1950, 2023))
    pixels = render(rng, plan_cues(rng, genres))
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return SyntheticPoster(poster_id(index), title, year, genres, buf.getvalue())


def _make_chunk(seed: int, start: int, stop: int) -> list[SyntheticPoster]:
    return [make_poster(seed, i) for i in range(start, stop)]


def generate(seed: int, count: int, workers: int = 2) -> Iterator[SyntheticPoster]:
    """Posters 0..count-1 in order, made by `workers` processes (1: in this process)."""
    chunks = [(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)]
    if workers <= 1 or len(chunks) <= 1:
        for start, stop in chunks:
            yield from _make_chunk(seed, start, stop)
        return
    pool = process_pool(workers)
    try:
        for chunk in pool.map(_make_chunk, [seed] * len(chunks), *zip(*chunks)):
            yield from chunk
    finally:
        # A consumer that stops early (an error, Ctrl-C) should not wait for the chunks still queued.
        pool.shutdown(wait=True, cancel_futures=True)


def write_collection(dest: str | os.PathLike, count: int, seed: int, overwrite: bool = False,
                     workers: int | None = None) -> RawCollection:
    """Generate `count` posters with `seed` into a raw collection at `dest` (atomically), drawn by
    `workers` processes (default: every core)."""
    workers = cpu_workers(workers)
    with RawCollectionWriter(dest, overwrite=overwrite) as writer:
        for poster in tqdm(generate(seed, count, workers), total=count, desc="synthetic", unit="poster"):
            path, rel = writer.image_path(poster.id)
            path.write_bytes(poster.jpeg)
            writer.add(Poster(id=poster.id, genres=poster.genres, title=poster.title, year=str(poster.year), file=rel))
        return writer.commit()
