"""`dataset-builder eda`: the report's numbers match a collection written by hand; charts; bad input."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from dataset_builder.cli import main
from dataset_builder.eda import CHARTS, REPORT
from dataset_builder.raw import Poster, RawCollectionWriter
from support.posters import jpeg_bytes

# (genres, poster size) of each usable title; one more title fails (no image).
TITLES = [
    (["Drama", "Crime"], (100, 150)),
    (["Drama", "Crime", "Thriller"], (100, 150)),
    (["Drama"], (100, 150)),
    (["Comedy", "Drama"], (182, 268)),
    (["Comedy"], (60, 90)),
]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def raw(tmp_path):
    with RawCollectionWriter(tmp_path / "raw") as writer:
        for i, (genres, size) in enumerate(TITLES):
            path, rel = writer.image_path(f"t{i}")
            path.write_bytes(jpeg_bytes(size=size))
            writer.add(Poster(id=f"t{i}", genres=genres, file=rel))
        writer.fail(Poster(id="t9", genres=["Horror"]), "missing", "no image file")
        writer.commit()
    return tmp_path / "raw"


def table(report: str, header_start: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table whose header line starts with `header_start`."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return [rows[0]] + rows[2:]  # drop the |---| line


def test_report_numbers_match_the_collection(raw, tmp_path, capsys):
    code, out, err = run(capsys, "eda", raw, "--out", tmp_path / "eda")
    assert code == 0, err
    report = (tmp_path / "eda" / REPORT).read_text()
    assert "6 titles in posters.csv; 5 with a usable poster" in report
    assert "failed titles by reason: 1 missing" in report

    counts = {row[0]: (int(row[1]), row[2]) for row in table(report, "| genre |")[1:]}
    assert counts == {"Drama": (4, "80.0%"), "Comedy": (2, "40.0%"), "Crime": (2, "40.0%"), "Thriller": (1, "20.0%")}
    assert "Horror" not in counts  # only on the failed title

    cardinality = {int(r[0]): int(r[1]) for r in table(report, "| genres per title |")[1:]}
    assert cardinality == {1: 2, 2: 2, 3: 1}
    assert "Mean 1.80 genres per title." in report

    matrix = table(report, "| |")
    header = matrix[0][1:]
    cell = {(row[0], g): int(v) for row in matrix[1:] for g, v in zip(header, row[1:])}
    assert cell[("Drama", "Crime")] == cell[("Crime", "Drama")] == 2
    assert cell[("Comedy", "Drama")] == 1
    assert cell[("Comedy", "Crime")] == 0
    assert cell[("Drama", "Drama")] == 4
    assert "Drama + Crime (2)" in report

    sizes = {r[0]: int(r[1]) for r in table(report, "| width x height |")[1:]}
    assert sizes == {"100 x 150": 3, "182 x 268": 1, "60 x 90": 1}
    assert "3 distinct sizes; width min 60, median 100, max 182; height min 90, median 150, max 268" in report

    assert "5 titles with a usable poster of 6, 4 genres" in out
    assert str(tmp_path / "eda" / REPORT) in out


def test_charts_are_valid_pngs_linked_from_the_report(raw, tmp_path, capsys):
    assert run(capsys, "eda", raw, "--out", tmp_path / "eda")[0] == 0
    report = (tmp_path / "eda" / REPORT).read_text()
    for name in CHARTS.values():
        assert f"]({name})" in report
        with Image.open(tmp_path / "eda" / name) as img:
            assert img.format == "PNG"
            assert img.width > 200 and img.height > 200
            img.verify()
    assert sorted(p.name for p in (tmp_path / "eda").iterdir()) == sorted([REPORT, *CHARTS.values()])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_missing_raw_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    code, out, err = run(capsys, "eda", tmp_path / "nowhere", "--out", tmp_path / "eda")
    assert code == 2
    assert err.count("\n") == 1 and "nowhere/posters.csv: not found" in err
    assert not (tmp_path / "eda").exists()


def test_posters_csv_missing_a_column_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "posters.csv").write_text("id,genres\nt0,Drama\n")
    code, _, err = run(capsys, "eda", tmp_path / "raw", "--out", tmp_path / "eda")
    assert code == 2
    assert err.count("\n") == 1 and re.search(r"posters\.csv: missing column\(s\) title, year", err)
    assert not (tmp_path / "eda").exists()


def test_collection_without_usable_posters_is_refused(tmp_path, capsys):
    with RawCollectionWriter(tmp_path / "raw") as writer:
        writer.fail(Poster(id="t0", genres=["Drama"]), "truncated")
        writer.commit()
    code, _, err = run(capsys, "eda", tmp_path / "raw", "--out", tmp_path / "eda")
    assert code == 2
    assert "no usable posters to analyse" in err and err.count("\n") == 1


def test_an_old_report_is_replaced_only_with_overwrite_and_other_files_never(raw, tmp_path, capsys):
    out_dir = tmp_path / "eda"
    assert run(capsys, "eda", raw, "--out", out_dir)[0] == 0
    code, _, err = run(capsys, "eda", raw, "--out", out_dir)
    assert code == 2 and "eda: already holds an EDA report; pass --overwrite to replace it" in err
    assert run(capsys, "eda", raw, "--out", out_dir, "--overwrite")[0] == 0
    (out_dir / "notes.txt").write_text("mine")
    for flags in ([], ["--overwrite"]):
        code, _, err = run(capsys, "eda", raw, "--out", out_dir, *flags)
        assert code == 2 and "eda: holds an EDA report and 1 file not written by dataset-builder (notes.txt)" in err
    assert (out_dir / "notes.txt").read_text() == "mine" and (out_dir / REPORT).is_file()


def test_unreadable_poster_header_is_counted_not_fatal(raw, tmp_path, capsys):
    (raw / "images" / "t4.jpg").write_bytes(b"not a jpeg")
    code, _, err = run(capsys, "eda", raw, "--out", tmp_path / "eda")
    assert code == 0, err
    report = (tmp_path / "eda" / REPORT).read_text()
    assert "Read from the image headers of 4 posters (1 unreadable headers left out)" in report
