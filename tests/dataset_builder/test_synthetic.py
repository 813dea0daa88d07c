"""`dataset-builder synthetic`: determinism, labels shaped like the real set, cues at two scales, CLI."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from dataset_builder.cli import main
from dataset_builder.images import size_for_ratio
from dataset_builder.raw import read_raw
from dataset_builder.sources import synthetic
from dataset_builder.sources.synthetic import GENRE_COUNTS, GENRES, LOOKS, Cues, make_poster, render, sample_genres

STUDY_FIVE = ("Romance", "Action", "Horror", "Documentary", "Reality-TV")
TOP_FIVE = ("Drama", "Comedy", "Action", "Animation", "Crime")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def labels() -> list[list[str]]:
    rng = np.random.default_rng(11)
    return [sample_genres(rng) for _ in range(30_000)]


# --- determinism, count and size -------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_different():
    a, b, c = make_poster(7, 3), make_poster(7, 3), make_poster(8, 3)
    assert a.jpeg == b.jpeg and a.genres == b.genres and a.title == b.title
    assert c.jpeg != a.jpeg
    assert make_poster(7, 4).jpeg != a.jpeg  # posters of one set differ from each other


def test_collection_is_identical_whatever_the_worker_count(tmp_path):
    # 60 posters: two chunks, so two processes really share the work.
    one = synthetic.write_collection(tmp_path / "one", 60, seed=5, workers=1)
    two = synthetic.write_collection(tmp_path / "two", 60, seed=5, workers=2)
    other = synthetic.write_collection(tmp_path / "other", 60, seed=6, workers=2)
    assert (one.root / "posters.csv").read_bytes() == (two.root / "posters.csv").read_bytes()
    for p in one.posters:
        assert (one.root / p.file).read_bytes() == (two.root / p.file).read_bytes()
    assert (other.root / "posters.csv").read_bytes() != (one.root / "posters.csv").read_bytes()
    differing = sum((one.root / p.file).read_bytes() != (other.root / p.file).read_bytes() for p in one.posters)
    assert differing == 60


def test_count_size_and_format(tmp_path):
    collection = synthetic.write_collection(tmp_path / "raw", 25, seed=0, workers=1)
    again = read_raw(tmp_path / "raw")
    assert len(again.posters) == len(again.usable) == 25 and not again.failures
    assert len({p.id for p in again.posters}) == 25
    assert len(list((tmp_path / "raw" / "images").iterdir())) == 25
    for p in collection.posters:
        with Image.open(tmp_path / "raw" / p.file) as img:
            assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (182, 268))
        assert 1 <= len(p.genres) and set(p.genres) <= set(GENRES)
        assert 1950 <= int(p.year) <= 2022 and p.title


# --- labels ----------------------------------------------------------------------------------


def test_label_cardinality_is_one_to_three_plus(labels):
    sizes = Counter(min(len(g), 4) for g in labels)
    share = {k: sizes[k] / len(labels) for k in (1, 2, 3, 4)}
    assert min(len(g) for g in labels) == 1
    assert 0.22 < share[1] < 0.36
    assert 0.28 < share[2] < 0.42
    assert 0.15 < share[3] < 0.30
    assert 0.07 < share[4] < 0.22  # 4 or more
    assert all(len(set(g)) == len(g) for g in labels)


def test_genre_frequencies_follow_the_real_set(labels):
    counts = Counter(g for ls in labels for g in ls)
    ranked = [g for g, _ in counts.most_common()]
    assert ranked[:2] == ["Drama", "Comedy"]
    assert set(counts) == set(GENRES)
    n = len(labels)
    assert counts["Drama"] / n > 0.3 and counts["Comedy"] / n > 0.3
    assert counts["Documentary"] / n < 0.04 and counts["Horror"] / n < 0.05
    # Proportional to the real counts: frequent genres within 8%, rarer within 25% (sampling noise).
    scale = counts["Drama"] / GENRE_COUNTS["Drama"]
    for genre, real in GENRE_COUNTS.items():
        tolerance = 0.08 if real > 500 else 0.25
        assert counts[genre] == pytest.approx(real * scale, rel=tolerance), genre


def test_cooccurrence_like_the_study(labels):
    sets = [set(g) for g in labels]

    def jaccard(a: str, b: str) -> float:
        """Titles with both over titles with either (the real set: Crime-Drama 0.26, Action-Horror 0.06)."""
        return sum(a in s and b in s for s in sets) / sum(a in s or b in s for s in sets)

    for a, b in [("Crime", "Drama"), ("Crime", "Thriller"), ("Family", "Comedy"), ("Family", "Animation")]:
        assert jaccard(a, b) > 0.1, (a, b)
    # The study's five, chosen for co-occurring least: every pair rarely together.
    for a, b in itertools.combinations(STUDY_FIVE, 2):
        assert jaccard(a, b) < 0.09, (a, b)


# --- pixels: coarse cues survive shrinking, fine cues blur away ------------------------------


def shrink(pixels: np.ndarray, ratio: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize(size_for_ratio(ratio), Image.Resampling.LANCZOS), np.float64)


def cue_difference(genre_a: str, genre_b: str, scale: str, ratio: int, posters: int = 12) -> float:
    """How much of the pixel difference between two genres' cues a shrink to `ratio` keeps.

    Each pair of posters is rendered from the same random stream, so they differ only in the one
    genre's cue: their difference is the cue itself, free of nuisance.
    """
    kept = []
    for k in range(posters):
        cues = [Cues((g,), ()) if scale == "coarse" else Cues((), (g,)) for g in (genre_a, genre_b)]
        a, b = (render(np.random.default_rng([4242, k]), c) for c in cues)
        full = np.std(a.astype(np.float64) - b)
        kept.append(np.std(shrink(a, ratio) - shrink(b, ratio)) / full)
    return float(np.mean(kept))


def test_coarse_cue_mean_colour_differs_by_genre():
    def mean_colour(genre: str) -> np.ndarray:
        return np.mean([render(np.random.default_rng([7, k]), Cues((genre,), ())).mean(axis=(0, 1)) for k in range(12)], axis=0)

    horror, animation = mean_colour("Horror"), mean_colour("Animation")  # blood red vs cyan
    assert horror[0] - animation[0] > 10 and animation[2] - horror[2] > 10


def test_coarse_cue_survives_shrinking_to_30_percent():
    for a, b in [("Horror", "Animation"), ("Romance", "Documentary"), ("Action", "Reality-TV")]:
        assert cue_difference(a, b, "coarse", 30) > 0.6, (a, b)


def high_pass_anisotropy(pixels: np.ndarray) -> float:
    """log(horizontal / vertical gradient energy) of the luminance: > 0 when vertical stripes dominate."""
    lum = pixels.astype(np.float64) @ [0.299, 0.587, 0.114]
    return float(np.log(np.mean(np.diff(lum, axis=1) ** 2) / np.mean(np.diff(lum, axis=0) ** 2)))


def test_fine_cue_is_high_pass_energy_that_differs_by_genre_and_vanishes_at_30_percent():
    # Action: vertical stripes (angle 0); Documentary: horizontal (angle 90), both 4.5 px.
    def gap(ratio: int | None) -> float:
        values = {}
        for genre in ("Action", "Documentary"):
            posters = [render(np.random.default_rng([99, k]), Cues((), (genre,))) for k in range(12)]
            values[genre] = np.mean([high_pass_anisotropy(p if ratio is None else shrink(p, ratio)) for p in posters])
        return values["Action"] - values["Documentary"]

    full, at_58, at_30 = gap(None), gap(58), gap(30)
    assert full > 0.5  # the genres' high-pass energy points different ways at 182x268 ...
    assert at_58 > 0.5 * full  # ... still does at 58% ...
    assert abs(at_30) < 0.15 * full  # ... and is mostly gone at 30%


def test_fine_cues_blur_away_at_30_percent_and_the_study_genres_show_at_58():
    for a, b in [("Romance", "Horror"), ("Action", "Documentary"), ("Drama", "Crime"), ("Comedy", "Animation")]:
        assert cue_difference(a, b, "fine", 30) < 0.15, (a, b)
        assert cue_difference(a, b, "fine", 58) > 0.6, (a, b)
    assert cue_difference("History", "Music", "fine", 58) < 0.15  # 2.5 px stripes need 86-100%


def test_every_genre_has_a_look_and_fine_cues_need_more_than_30_percent():
    assert set(LOOKS) == set(GENRES)
    assert len({(look.colour, look.shape, look.place) for look in LOOKS.values()}) == len(GENRES)
    for genre, look in LOOKS.items():
        assert 0.3 < look.first_visible_ratio() <= 1.0, genre
    for genre in set(STUDY_FIVE) | set(TOP_FIVE):
        assert LOOKS[genre].first_visible_ratio() <= 0.58, genre
    # Within each benchmark set the stripe angles all differ, so the fine cue tells them apart.
    for group in (STUDY_FIVE, TOP_FIVE):
        assert len({LOOKS[g].stripe_angle for g in group}) == len(group)


# --- the command -----------------------------------------------------------------------------


def test_cli_writes_a_collection_and_summarises_it(tmp_path, capsys):
    code, out, err = run(capsys, "synthetic", tmp_path / "raw", "--count", 30, "--seed", 2)
    assert code == 0, err
    assert "30 usable posters of 30 titles" in out and "seed 2" in out and "posters/s" in out
    collection = read_raw(tmp_path / "raw")
    assert [p.id for p in collection.posters] == [f"syn{i:07d}" for i in range(30)]
    assert collection.posters[4].genres == make_poster(2, 4).genres
    assert (tmp_path / "raw" / collection.posters[4].file).read_bytes() == make_poster(2, 4).jpeg


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--count", "0"], "--count: expected a whole number of posters >= 1, got 0"),
        (["--seed", "-1"], "--seed: expected a whole number >= 0, got -1"),
    ],
)
def test_cli_bad_flags_are_one_line_exit_2(tmp_path, capsys, flags, message):
    code, _, err = run(capsys, "synthetic", tmp_path / "raw", *flags)
    assert code == 2
    assert err == f"dataset-builder: error: {message}\n"
    assert not (tmp_path / "raw").exists()


def test_cli_refuses_a_folder_of_other_files_and_replaces_a_collection_only_with_overwrite(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "synthetic", raw, "--count", 5)
    assert code == 2
    assert err.count("\n") == 1 and "raw: holds 1 file not written by dataset-builder (notes.txt)" in err
    assert [p.name for p in raw.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]  # no temporary folder left behind

    (raw / "notes.txt").unlink()
    assert run(capsys, "synthetic", raw, "--count", 3)[0] == 0
    code, _, err = run(capsys, "synthetic", raw, "--count", 5)
    assert code == 2 and "raw: already holds a raw collection; pass --overwrite to replace it" in err
    code, out, err = run(capsys, "synthetic", raw, "--count", 5, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in raw.iterdir()) == ["failures.csv", "images", "posters.csv"]
    assert len(read_raw(raw).posters) == 5
