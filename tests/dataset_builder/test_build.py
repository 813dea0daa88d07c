"""`dataset-builder build` and the reader: shapes, alignment by id, splits, manifest, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from dataset_builder import build as build_module
from dataset_builder.cli import main
from dataset_builder.errors import BadInput
from dataset_builder.raw import read_raw, write_tables
from dataset_builder.store import open_dataset, sha256_of
from support.posters import GENRES, coloured_raw, colour_of, learnable_raw
from support.processes import children_of, interruptible, is_alive, killed_at_exit, wait_for, while_running


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def genres_of(i: int) -> list[str]:
    """Every title has Drama or Comedy; every third Horror too; titles 0 mod 7 have Romance only."""
    if i % 7 == 0:
        return ["Romance"]
    return [GENRES[i % 2]] + (["Horror"] if i % 3 == 0 else [])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    coloured_raw(root / "raw", 120, genres_of)
    code = main(["build", str(root / "raw"), str(root / "ds"), "--genres", "Drama,Horror,Romance", "--seed", "3"])
    assert code == 0
    return root


def test_default_ratios_have_the_studys_exact_sizes(built):
    ds = open_dataset(built / "ds")
    assert ds.ratios == [30, 44, 58, 72, 86, 100]
    shapes = [ds.images(r).shape[1:] for r in ds.ratios]
    assert shapes == [(80, 55, 3), (118, 80, 3), (155, 106, 3), (193, 131, 3), (230, 157, 3), (268, 182, 3)]
    assert all(ds.images(r).dtype == np.uint8 for r in ds.ratios)


def test_images_labels_and_ids_are_aligned_by_id(built):
    ds = open_dataset(built / "ds")
    kept = [i for i in range(120) if set(genres_of(i)) & {"Drama", "Horror", "Romance"}]
    assert list(ds.ids) == [f"tt{i:07d}" for i in kept]
    for row, i in enumerate(kept):
        assert np.abs(ds.images(30)[row].reshape(-1, 3).mean(axis=0) - colour_of(i)).max() < 6, f"row {row} is not title {i}"
        assert list(ds.labels[row]) == [int(g in genres_of(i)) for g in ("Drama", "Horror", "Romance")]


def test_splits_are_seeded_disjoint_and_hold_every_genre(built, tmp_path, capsys):
    ds = open_dataset(built / "ds")
    splits = {name: set(ds.split(name).tolist()) for name in ("train", "val", "test")}
    assert set.union(*splits.values()) == set(range(len(ds.ids)))
    assert sum(len(s) for s in splits.values()) == len(ds.ids)
    n = len(ds.ids)
    assert abs(len(splits["train"]) - 0.7 * n) <= 2 and abs(len(splits["val"]) - 0.15 * n) <= 2
    for name in splits:
        assert ds.labels[ds.split(name)].any(axis=0).all(), f"a genre is missing from {name}"
    # Same seed, same split; the manifest records it.
    assert run(capsys, "build", built / "raw", tmp_path / "again", "--genres", "Drama,Horror,Romance", "--seed", "3", "--ratios", "30")[0] == 0
    assert np.array_equal(open_dataset(tmp_path / "again").split("val"), ds.split("val"))
    assert ds.manifest["seed"] == 3


def test_manifest_records_what_a_user_needs(built):
    manifest = json.loads((built / "ds" / "manifest.json").read_text())
    assert manifest["format_version"] == 1
    assert manifest["genres"] == ["Drama", "Horror", "Romance"]
    assert manifest["ratios"]["58"]["size"] == [106, 155]
    # Sources are 120x180: 58% (106x155) is a shrink, 72% (131x193) an enlargement.
    assert manifest["ratios"]["58"]["upscaled"] is False and manifest["ratios"]["72"]["upscaled"] is True
    assert manifest["splits"]["train"] + manifest["splits"]["val"] + manifest["splits"]["test"] == manifest["count"]
    assert manifest["genre_counts"]["Horror"]["all"] == sum("Horror" in genres_of(i) for i in range(120))
    for name, digest in manifest["sha256"].items():
        assert sha256_of(built / "ds" / name) == digest


def test_reader_returns_memory_maps_without_copying(built):
    ds = open_dataset(built / "ds")
    images = ds.images(100)
    assert isinstance(images, np.memmap) and not images.flags.writeable
    assert isinstance(ds.labels, np.memmap) and isinstance(ds.split("train"), np.memmap)


def test_reader_rejects_a_damaged_dataset(built, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built / "ds", copy)
    np.save(copy / "labels.npy", np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(BadInput, match=r"labels.npy: shape \(3, 3\), manifest.json says"):
        open_dataset(copy)
    with pytest.raises(BadInput, match="no ratio 50 in this dataset"):
        open_dataset(built / "ds").images(50)


def test_rules_top_and_min_cooccurrence(tmp_path, capsys):
    learnable_raw(tmp_path / "raw", count=60)
    assert run(capsys, "build", tmp_path / "raw", tmp_path / "top", "--genres", "top:2", "--ratios", "30")[0] == 0
    counts = Counter(g for p in read_raw(tmp_path / "raw").usable for g in p.genres)
    expected = sorted(counts, key=lambda g: (-counts[g], g))[:2]
    assert open_dataset(tmp_path / "top").genres == expected
    assert run(capsys, "build", tmp_path / "raw", tmp_path / "mc", "--genres", "min-cooccurrence:3", "--ratios", "30")[0] == 0
    assert len(open_dataset(tmp_path / "mc").genres) == 3


def test_broken_poster_at_build_time_is_skipped_and_counted(tmp_path, capsys):
    coloured_raw(tmp_path / "raw", 30, genres_of)
    (tmp_path / "raw" / "images" / "tt0000004.jpg").write_bytes(b"\xff\xd8\xff garbage")
    code, out, _ = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--ratios", "30,58")
    assert code == 0 and "failed to decode: 1 not-an-image" in out
    ds = open_dataset(tmp_path / "ds")
    assert "tt0000004" not in set(ds.ids)
    row = list(ds.ids).index("tt0000005")
    assert np.abs(ds.images(58)[row].reshape(-1, 3).mean(axis=0) - colour_of(5)).max() < 6


def test_broken_posters_rows_are_dropped_keeping_every_other_row_aligned(tmp_path, capsys, monkeypatch):
    # Copied a few rows at a time, so that chunk edges fall beside dropped rows.
    monkeypatch.setattr(build_module, "COPY_BYTES", 3 * 268 * 182 * 3)
    coloured_raw(tmp_path / "raw", 40, genres_of)
    broken = {1, 2, 9, 22, 39}  # the first kept title is 3; 39 is the last row
    for i in broken:
        (tmp_path / "raw" / "images" / f"tt{i:07d}.jpg").write_bytes(b"\xff\xd8\xff garbage")
    code, out, _ = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--ratios", "30,100")
    assert code == 0 and f"failed to decode: {len(broken)} not-an-image" in out
    ds = open_dataset(tmp_path / "ds")
    kept = [i for i in range(40) if i not in broken and {"Drama", "Comedy"} & set(genres_of(i))]
    assert list(ds.ids) == [f"tt{i:07d}" for i in kept]
    for ratio in (30, 100):
        colours = ds.images(ratio).reshape(len(kept), -1, 3).mean(axis=1)
        assert np.abs(colours - [colour_of(i) for i in kept]).max() < 6, f"a row of ratio {ratio} is not its title's"
    assert ds.labels.tolist() == [[int(g in genres_of(i)) for g in ("Drama", "Comedy")] for i in kept]


def test_dropping_rows_holds_a_bounded_chunk_in_memory(tmp_path, monkeypatch):
    """A ratio's array can be gigabytes: dropping failed rows copies it a chunk at a time."""
    monkeypatch.setattr(build_module, "COPY_BYTES", 2**20, raising=False)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 268, 182, 3), dtype=np.uint8)  # 44 MB
    np.save(tmp_path / "images_r100.npy", images)
    ok = rng.random(300) < 0.9
    expected = tmp_path / "expected.npy"
    np.save(expected, images[ok])
    del images
    tracemalloc.start()
    try:
        build_module._drop_rows(tmp_path, [100], ok)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tmp_path / "images_r100.npy").read_bytes() == expected.read_bytes()  # header and rows, in order
    assert peak < 3 * 2**20, f"{peak / 2**20:.0f} MiB held at once to drop {int((~ok).sum())} rows of 44 MB"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expected.npy", "images_r100.npy"]


def stop_download_before(raw, ids: set[str]) -> None:
    """Make `raw` what a download stopped midway leaves: `ids` still pending, with no image."""
    collection = read_raw(raw)
    for p in collection.posters:
        if p.id in ids:
            (raw / p.file).unlink()
            p.status, p.file = "pending", ""
    write_tables(raw, collection.posters, collection.failures)


def test_titles_never_downloaded_are_counted_and_noted(tmp_path, capsys):
    coloured_raw(tmp_path / "raw", 30, genres_of)
    args = ["--genres", "Drama,Comedy", "--ratios", "30"]
    code, out, err = run(capsys, "build", tmp_path / "raw", tmp_path / "whole", *args)
    assert code == 0 and "never downloaded" not in out and "note:" not in err

    pending = {"tt0000003", "tt0000010", "tt0000020"}
    stop_download_before(tmp_path / "raw", pending)
    code, out, err = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", *args)
    assert code == 0, err  # a note, not a refusal
    assert "; 3 titles left out because their poster was never downloaded (status pending);" in out
    assert err.splitlines()[-1] == (
        f"dataset-builder: note: {tmp_path / 'raw'}: 3 titles have no poster yet (status pending: their download was "
        f"stopped); finish it by rerunning the import or imdb command that wrote {tmp_path / 'raw'}, then build again")
    ds = open_dataset(tmp_path / "ds")
    assert not pending & set(ds.ids) and len(ds.ids) == len(open_dataset(tmp_path / "whole").ids) - 3
    assert {k: ds.manifest["source"][k] for k in ("titles", "usable_posters", "pending_posters")} == {
        "titles": 30, "usable_posters": 27, "pending_posters": 3}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--genres", "Drama,Western"], "--genres: unknown genre(s) Western; the collection has"),
        (["--genres", "top:0"], "--genres top:0: K must be between 1 and"),
        (["--genres", "Drama", "--ratios", "0"], "--ratios: 0 is outside 1..100"),
        (["--genres", "Drama", "--ratios", "-30"], "--ratios: -30 is outside 1..100"),
        (["--genres", "Drama", "--ratios", "30,101"], "--ratios: 101 is outside 1..100"),
        (["--genres", "Drama", "--ratios", "thirty"], "--ratios: 'thirty' is not a whole percent"),
        (["--genres", "Drama", "--split", "0.8,0.3,0.1"], "--split 0.8,0.3,0.1: expected three positive fractions summing to 1"),
    ],
)
def test_bad_flags_are_one_line_errors(tmp_path, capsys, flags, message):
    coloured_raw(tmp_path / "raw", 12, genres_of)
    code, _, err = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", *flags)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_refuses_an_existing_dataset_unless_overwrite(tmp_path, capsys):
    coloured_raw(tmp_path / "raw", 20, genres_of)
    args = ["build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--ratios", "30"]
    assert run(capsys, *args)[0] == 0
    before = (tmp_path / "ds" / "manifest.json").read_text()
    code, _, err = run(capsys, *args[:-1], "44")
    assert code == 2 and "ds: already holds a built dataset; pass --overwrite to replace it" in err
    assert (tmp_path / "ds" / "manifest.json").read_text() == before
    assert run(capsys, *args[:-1], "44", "--overwrite")[0] == 0
    assert open_dataset(tmp_path / "ds").ratios == [44]


def test_missing_raw_collection(tmp_path, capsys):
    code, _, err = run(capsys, "build", tmp_path / "nothing", tmp_path / "ds", "--genres", "Drama")
    assert code == 2 and "nothing/posters.csv: not found" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_build_leaves_nothing_that_looks_finished(tmp_path, sig):
    learnable_raw(tmp_path / "raw", count=600, size=(364, 536))
    # Output to a file, not a pipe: a worker left running would hold a pipe open.
    log = tmp_path / "build.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dataset_builder.cli", "build", str(tmp_path / "raw"), str(tmp_path / "ds"), "--genres", "top:3", "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=interruptible,
        )
    # Wait until the arrays are being written by the build's worker, then interrupt.
    with killed_at_exit(proc):
        workers = wait_for(while_running(proc, lambda: list(tmp_path.glob(".ds.building-*/images_r100.npy")) and children_of(proc.pid)),
                           60, "the build's worker writing the arrays", every=0.05)
        time.sleep(0.5)
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
    assert proc.returncode != 0, f"the build ended before the signal came: {log.read_text()[-2000:]}"
    # Its worker ends with it, even when the build could not tell it to (SIGKILL).
    wait_for(lambda: not any(map(is_alive, workers)), 10, f"the build's workers {workers} to end")
    assert not (tmp_path / "ds").exists()
    leftovers = list(tmp_path.glob(".ds.*"))
    if sig == signal.SIGINT:
        assert leftovers == []  # cleaned up on the way out
    assert not any((p / "manifest.json").exists() for p in leftovers)
