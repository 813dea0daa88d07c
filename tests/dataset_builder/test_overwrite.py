"""--overwrite replaces only what dataset-builder wrote: never a user's file, never the command's
own inputs; the old folder stays whole until the new one is; killed runs' leftovers go away."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest

from dataset_builder import store
from dataset_builder.cli import main
from dataset_builder.raw import read_raw
from dataset_builder.store import open_dataset
from support.dump_fixtures import STUDY_KEPT, write_dumps
from support.http_fixtures import FakeWeb, make_jpeg
from support.posters import GENRES, coloured_raw, colour_of, jpeg_bytes

REFUSED = "--overwrite replaces only what dataset-builder wrote: choose another folder, or empty this one yourself"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def genres_of(i: int) -> list[str]:
    return [GENRES[i % 2]] + (["Horror"] if i % 3 == 0 else [])


def everything_under(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for a folder): what 'nothing touched' compares."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def authors_csv(path: Path, ids: list[int], url_of=lambda i: f"https://example.invalid/{i}.jpg") -> Path:
    """The study's layout: Id zero-padded, Genres a list literal, img-url."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Id", "Genres", "img-url"])
        writer.writerows([f"{i:07d}", repr(genres_of(i)), url_of(i)] for i in ids)
    return path


def poster_folder(folder: Path, ids: list[int]) -> Path:
    folder.mkdir(parents=True)
    for i in ids:
        (folder / f"{i}.jpg").write_bytes(jpeg_bytes(colour_of(i)))
    return folder


@pytest.fixture
def web():
    with FakeWeb() as server:
        yield server


def serve_posters(web: FakeWeb, ids: list[int], prefix: str = "/img") -> None:
    for i in ids:
        web.serve(f"{prefix}/{i}.jpg", make_jpeg(i))


def command_line(command: str, tmp: Path, web: FakeWeb, dest: Path) -> list:
    """Each dataset-builder command that takes --overwrite, writing `dest`, its inputs under tmp/in."""
    inputs = tmp / "in"
    inputs.mkdir()
    if command == "synthetic":
        return ["synthetic", dest, "--count", 5, "--workers", 1]
    if command == "import --images":
        return ["import", dest, "--format", "authors", "--csv", authors_csv(inputs / "set.csv", [1, 2]),
                "--images", poster_folder(inputs / "posters", [1, 2])]
    if command == "import URLs":
        serve_posters(web, [1, 2])
        csv_path = authors_csv(inputs / "set.csv", [1, 2], lambda i: web.url(f"/img/{i}.jpg"))
        return ["import", dest, "--format", "authors", "--csv", csv_path]
    if command == "imdb":
        urls = authors_csv(inputs / "urls.csv", [int(i[2:]) for i in STUDY_KEPT], lambda i: web.url(f"/img/{i}.jpg"))
        return ["imdb", dest, "--dumps", write_dumps(inputs / "dumps"), "--posters", f"csv:{urls}"]
    coloured_raw(inputs / "raw", 20, genres_of)
    if command == "build":
        return ["build", inputs / "raw", dest, "--genres", "Drama,Comedy", "--ratios", "30", "--workers", 1]
    assert command == "eda"
    return ["eda", inputs / "raw", "--out", dest]


COMMANDS = ["synthetic", "import --images", "import URLs", "imdb", "build", "eda"]


@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_never_deletes_a_users_file(command, tmp_path, web, capsys):
    thesis = tmp_path / "thesis"
    argv = command_line(command, tmp_path, web, thesis)
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("three years of work")
    before = everything_under(tmp_path)
    code, out, err = run(capsys, *argv, "--overwrite")
    assert code == 2, out + err
    assert err == f"dataset-builder: error: {thesis}: holds 1 file not written by dataset-builder (thesis.txt); {REFUSED}\n"
    assert everything_under(tmp_path) == before, "nothing touched, no hidden folder left"
    assert web.count() == 0


@pytest.mark.parametrize("name, text", [
    ("manifest.json", '{"name": "my web app", "version": "1.0"}'),
    ("posters.csv", "title,rating\nThe Wire,10\n"),
    ("report.md", "# Quarterly report\n"),
])
def test_a_users_file_named_like_ours_is_not_taken_for_ours(name, text, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / name).write_text(text)
    code, _, err = run(capsys, "synthetic", tmp_path / "mine", "--count", 3, "--overwrite")
    assert code == 2 and f"mine: holds 1 file not written by dataset-builder ({name})" in err
    assert (tmp_path / "mine" / name).read_text() == text and [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_a_dataset_holding_a_users_file_is_not_replaced(tmp_path, capsys):
    coloured_raw(tmp_path / "raw", 20, genres_of)
    args = ["build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--ratios", "30", "--workers", 1]
    assert run(capsys, *args)[0] == 0
    (tmp_path / "ds" / "notes.txt").write_text("which run was this?")
    (tmp_path / "ds" / "plots").mkdir()
    before = everything_under(tmp_path)
    code, _, err = run(capsys, *args, "--overwrite")
    assert code == 2
    assert f"ds: holds a built dataset and 1 file and 1 folder not written by dataset-builder (notes.txt, plots/); {REFUSED}" in err
    assert everything_under(tmp_path) == before


def test_build_into_a_folder_holding_its_raw_collection_keeps_it(tmp_path, capsys):
    coloured_raw(tmp_path / "proj" / "raw", 20, genres_of)
    before = everything_under(tmp_path)
    for out in (tmp_path / "proj", tmp_path / "proj" / "raw"):
        code, _, err = run(capsys, "build", tmp_path / "proj" / "raw", out, "--genres", "Drama,Comedy", "--overwrite")
        assert code == 2 and err.count("\n") == 1
        assert f"{out}: holds this command's input RAW ({tmp_path / 'proj' / 'raw'}), which replacing {out} would delete" in err
    code, _, err = run(capsys, "eda", tmp_path / "proj" / "raw", "--out", tmp_path / "proj", "--overwrite")
    assert code == 2 and "proj: holds this command's input RAW" in err
    assert everything_under(tmp_path) == before


def test_import_into_a_folder_holding_its_csv_and_images_keeps_them(tmp_path, web, capsys):
    proj = tmp_path / "proj2"
    csv_path = authors_csv(poster_folder(proj / "imgs", [1, 2]).parent / "base.csv", [1, 2])
    before = everything_under(tmp_path)
    code, _, err = run(capsys, "import", proj, "--format", "authors", "--csv", csv_path, "--images", proj / "imgs", "--overwrite")
    assert code == 2 and f"proj2: holds this command's input --csv ({csv_path})" in err
    # The same CSV with URLs, downloaded instead (no --images).
    code, _, err = run(capsys, "import", proj, "--format", "authors", "--csv", csv_path, "--overwrite")
    assert code == 2 and f"proj2: holds this command's input --csv ({csv_path})" in err
    # An input inside a folder dataset-builder wrote is kept too.
    assert run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", csv_path, "--images", proj / "imgs")[0] == 0
    os.replace(proj, tmp_path / "raw" / "images" / "mine")
    code, _, err = run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", tmp_path / "raw" / "images" / "mine" / "base.csv",
                       "--images", tmp_path / "raw" / "images" / "mine" / "imgs", "--overwrite")
    assert code == 2 and "raw: holds this command's input --csv" in err
    assert (tmp_path / "raw" / "images" / "mine" / "base.csv").read_bytes() == before["proj2/base.csv"]
    assert web.count() == 0


def test_imdb_into_a_folder_holding_its_dumps_keeps_them(tmp_path, capsys):
    dumps = write_dumps(tmp_path / "proj" / "dumps")
    urls = authors_csv(tmp_path / "urls.csv", [1])
    before = everything_under(tmp_path)
    code, _, err = run(capsys, "imdb", tmp_path / "proj", "--dumps", dumps, "--posters", f"csv:{urls}", "--overwrite")
    assert code == 2 and f"proj: holds this command's input --dumps ({dumps})" in err
    assert everything_under(tmp_path) == before


def test_a_killed_runs_leftovers_are_removed_by_the_next_run_saying_so(tmp_path, capsys):
    coloured_raw(tmp_path / "raw", 20, genres_of)
    killed = tmp_path / f".ds.building-{dead_pid()}-x1y2"
    killed.mkdir()
    (killed / "images_r30.npy").write_bytes(bytes(3 * 2**20))
    trash = tmp_path / f".ds.old-{dead_pid()}-a1b2"
    trash.mkdir()
    running = tmp_path / f".ds.building-{os.getpid()}-z3"  # this process is alive: its folder stays
    running.mkdir()
    code, out, err = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--ratios", "30", "--workers", 1)
    assert code == 0, err
    assert (f"dataset-builder: removed {killed.name} (3.0 MiB), {trash.name} (0.0 MiB) beside ds: "
            f"left by a run that was killed\n") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, "ds", "raw"])
    # A raw collection's writer leaves .RAW.writing-<pid>-...: the next import removes it.
    killed = tmp_path / f".raw.writing-{dead_pid()}-q9"
    (killed / "images").mkdir(parents=True)
    code, _, err = run(capsys, "synthetic", tmp_path / "raw", "--count", 5, "--workers", 1, "--overwrite")
    assert code == 0 and f"removed {killed.name} (0.0 MiB) beside raw" in err
    assert not killed.exists() and len(read_raw(tmp_path / "raw").posters) == 5


def test_a_failed_overwrite_keeps_the_old_dataset_whole(tmp_path, capsys, monkeypatch):
    coloured_raw(tmp_path / "raw", 20, genres_of)
    args = ["build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--workers", 1, "--ratios"]
    assert run(capsys, *args, "30")[0] == 0
    before = everything_under(tmp_path)

    def interrupted(folder, manifest):
        raise KeyboardInterrupt  # Ctrl-C with every array written, the manifest not yet

    monkeypatch.setattr(store, "write_manifest", interrupted)
    assert run(capsys, *args, "44", "--overwrite")[0] == 130
    assert everything_under(tmp_path) == before
    monkeypatch.undo()
    assert run(capsys, *args, "44", "--overwrite")[0] == 0
    assert open_dataset(tmp_path / "ds").ratios == [44] and sorted(p.name for p in tmp_path.iterdir()) == ["ds", "raw"]


def test_two_builds_into_one_new_folder_the_first_to_finish_stands(tmp_path, capsys, monkeypatch):
    coloured_raw(tmp_path / "raw", 20, genres_of)
    args = ["build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--workers", 1, "--ratios"]
    write_manifest = store.write_manifest
    calls = []

    def other_run_finishes_meanwhile(folder, manifest):
        calls.append(folder)
        if len(calls) == 1:  # while this build is busy, a second one into the same OUT ends first
            assert main([str(a) for a in args + ["44"]]) == 0
        write_manifest(folder, manifest)

    monkeypatch.setattr(store, "write_manifest", other_run_finishes_meanwhile)
    code, _, err = run(capsys, *args, "30")
    assert code == 2
    assert err.endswith(f"dataset-builder: error: {tmp_path / 'ds'}: another run finished writing it first; its result stands\n")
    assert open_dataset(tmp_path / "ds").ratios == [44]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "raw"], "the loser's temporary folder is removed"


def test_a_url_import_replaces_the_old_collection_only_once_complete(tmp_path, web, capsys):
    ids = [1, 2, 3, 4, 5, 6]
    serve_posters(web, ids)
    old_csv = authors_csv(tmp_path / "old.csv", ids, lambda i: web.url(f"/img/{i}.jpg"))
    assert run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", old_csv)[0] == 0
    old = everything_under(tmp_path / "raw")
    # The new posters' server answers 503 for half of them: it went down midway.
    serve_posters(web, ids[:3], prefix="/new")
    for i in ids[3:]:
        web.fail(f"/new/{i}.jpg", 503)
    new_csv = authors_csv(tmp_path / "new.csv", ids, lambda i: web.url(f"/new/{i}.jpg"))
    argv = ["import", tmp_path / "raw", "--format", "authors", "--csv", new_csv, "--retries", 0, "--overwrite"]
    code, out, err = run(capsys, *argv)
    assert code == 1, err
    assert "3 worth retrying" in out
    assert (f"{tmp_path / 'raw'} still holds its old collection: the new one replaces it once no poster is left "
            f"worth retrying; rerun the same command to go on.") in out
    assert everything_under(tmp_path / "raw") == old
    assert (tmp_path / ".raw.replacing" / "posters.csv").is_file()
    # The server is back: the rerun fetches only the missing three, then replaces the old collection.
    serve_posters(web, ids[3:], prefix="/new")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    raw = read_raw(tmp_path / "raw")
    assert [p.url for p in raw.usable] == [web.url(f"/new/{i}.jpg") for i in ids]
    assert {route: n for route, n in web.requests.items() if route.startswith("/new/")} == {f"/new/{i}.jpg": 2 if i > 3 else 1 for i in ids}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "old.csv", "raw"]


def test_imdb_overwrite_replaces_the_collection_when_complete(tmp_path, web, capsys):
    serve_posters(web, range(len(STUDY_KEPT)))
    urls = authors_csv(tmp_path / "urls.csv", [int(i[2:]) for i in STUDY_KEPT], lambda i: web.url(f"/img/{i % len(STUDY_KEPT)}.jpg"))
    argv = ["imdb", tmp_path / "raw", "--dumps", write_dumps(tmp_path / "dumps"), "--posters", f"csv:{urls}"]
    assert run(capsys, *argv)[0] == 0
    (tmp_path / "raw" / "images" / f"{STUDY_KEPT[0]}.jpg").unlink()  # a rerun would resume: fetch only this one
    code, out, err = run(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert f"Downloaded {len(STUDY_KEPT)} of {len(STUDY_KEPT)} posters tried" in out, "afresh, not resumed"
    assert len(read_raw(tmp_path / "raw").usable) == len(STUDY_KEPT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dumps", "raw", "urls.csv"]


def test_build_refuses_a_posters_csv_with_a_repeated_id(tmp_path, capsys):
    coloured_raw(tmp_path / "raw", 20, genres_of)
    with open(tmp_path / "raw" / "posters.csv", newline="") as f:
        rows = list(csv.reader(f))
    rows.append(rows[3])  # a hand edit: title tt0000002 again, on line 22
    with open(tmp_path / "raw" / "posters.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    code, _, err = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy")
    assert code == 2
    assert err == f"dataset-builder: error: {tmp_path / 'raw' / 'posters.csv'} line 22: duplicate id tt0000002 (first at line 4)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_import_spells_each_genre_one_way_and_refuses_repeated_ids(tmp_path, capsys):
    images = poster_folder(tmp_path / "posters", [1, 2, 3, 4])
    (tmp_path / "t.csv").write_text("id,genres\n1, Drama | comedy \n2,Comedy\n3,horror\n4,Horror|COMEDY|Comedy\n")
    code, out, err = run(capsys, "import", tmp_path / "raw", "--format", "csv", "--csv", tmp_path / "t.csv", "--images", images)
    assert code == 0, err
    assert err.splitlines()[0] == (f"dataset-builder: {tmp_path / 't.csv'}: genres differing only in case were merged: "
                                   f"COMEDY into Comedy (1 title), comedy into Comedy (1 title), horror into Horror (1 title)")
    assert [p.genres for p in read_raw(tmp_path / "raw").posters] == [["Drama", "Comedy"], ["Comedy"], ["Horror"], ["Horror", "Comedy"]]
    (tmp_path / "t.csv").write_text("id,genres\n1,Drama\n2,Comedy\n1,Drama\n")
    code, _, err = run(capsys, "import", tmp_path / "again", "--format", "csv", "--csv", tmp_path / "t.csv", "--images", images)
    assert code == 2 and f"{tmp_path / 't.csv'} line 4: duplicate id 1 (first at line 2)" in err
