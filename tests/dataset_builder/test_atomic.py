"""dataset_builder.atomic: every file the tools write appears whole or not at all."""

from __future__ import annotations

import os

import pytest

from dataset_builder import atomic
from dataset_builder.atomic import AtomicFile, write_atomic, write_csv_atomic, write_json_atomic


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_two_writers_of_one_file_never_share_a_temporary_name(tmp_path):
    # Two reports written at once: each lands whole, the last to close wins, nothing is left behind.
    path = tmp_path / "results.md"
    first, second = AtomicFile(path, "w"), AtomicFile(path, "w")
    assert first.tmp != second.tmp and first.tmp.parent == second.tmp.parent == tmp_path
    first.write("first\n" * 1000)
    second.write("second\n")
    first.close()
    assert path.read_text() == "first\n" * 1000
    second.close()
    assert path.read_text() == "second\n"
    assert leftovers(tmp_path) == []


def test_an_exception_while_writing_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = tmp_path / "posters.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with AtomicFile(path, "w") as f:
            f.write("half a ta")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n"
    assert leftovers(tmp_path) == []
    with pytest.raises(ZeroDivisionError):
        write_atomic(path, lambda tmp: (tmp.write_text("half"), 1 / 0))
    assert path.read_text() == "old\n" and leftovers(tmp_path) == []


def test_the_file_is_fsynced_before_it_is_renamed_in(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    write_json_atomic(tmp_path / "manifest.json", {"a": 1})
    write_atomic(tmp_path / "heatmap.png", lambda tmp: tmp.write_bytes(b"png"))
    write_csv_atomic(tmp_path / "failures.csv", ["id", "reason"], [{"id": "tt1", "reason": "missing"}])
    assert events == ["fsync", "replace"] * 3
    assert (tmp_path / "failures.csv").read_text() == "id,reason\ntt1,missing\n"


def test_a_writer_killed_mid_write_leaves_a_name_the_downloader_cleans_up(tmp_path):
    f = AtomicFile(tmp_path / "posters.csv", "w")
    f.write("id\n")
    f.file.close()  # as if the process died: the temporary file stays, the real one never appears
    assert [p.name for p in tmp_path.glob(atomic.TEMPORARY_GLOB)] == [f.tmp.name]
    assert not (tmp_path / "posters.csv").exists()
