"""`dataset-builder import`: the study's layout, Kaggle's, any CSV; broken rows and broken posters."""

from __future__ import annotations

import csv

import pytest

from dataset_builder.cli import main
from dataset_builder.raw import read_raw
from support.posters import colour_of, jpeg_bytes


def write_authors_set(folder, rows, missing=()):
    """The study's published layout: Id zero-padded, Genres a list literal, images by unpadded id."""
    images = folder / "posters"
    images.mkdir(parents=True)
    with open(folder / "set.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Id", "Genres", "img-url"])
        for i, (pid, genres) in enumerate(rows):
            writer.writerow([pid, repr(genres), f"https://example.invalid/{pid}.jpg"])
            if pid not in missing:
                (images / f"{int(pid)}.jpg").write_bytes(jpeg_bytes(colour_of(i)))
    return folder / "set.csv", images


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_authors_layout_with_a_missing_image(tmp_path, capsys):
    csv_path, images = write_authors_set(
        tmp_path, [("0042114", ["Comedy", "Family"]), ("1234567", ["Horror"]), ("12345678", ["Drama"])], missing={"1234567"}
    )
    code, out, _ = run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", csv_path, "--images", images)
    assert code == 0
    assert "2 usable posters of 3 titles" in out and "1 missing" in out
    raw = read_raw(tmp_path / "raw")
    assert [(p.id, p.genres, p.status) for p in raw.posters] == [
        ("tt0042114", ["Comedy", "Family"], "ok"),
        ("tt1234567", ["Horror"], "missing"),
        ("tt12345678", ["Drama"], "ok"),
    ]
    assert (tmp_path / "raw" / "images" / "tt0042114.jpg").read_bytes() == (images / "42114.jpg").read_bytes()
    assert [(f.id, f.reason) for f in raw.failures] == [("tt1234567", "missing")]


def test_broken_posters_are_recorded_and_skipped(tmp_path, capsys):
    csv_path, images = write_authors_set(tmp_path, [(f"{i:07d}", ["Drama"]) for i in range(1, 6)])
    (images / "2.jpg").write_bytes(b"")
    (images / "3.jpg").write_bytes(b"<html>oops</html>")
    (images / "4.jpg").write_bytes(jpeg_bytes(size=(10, 10)))
    code, out, _ = run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", csv_path, "--images", images)
    assert code == 0
    raw = read_raw(tmp_path / "raw")
    assert {f.id: f.reason for f in raw.failures} == {"tt0000002": "empty", "tt0000003": "not-an-image", "tt0000004": "too-small"}
    assert [p.id for p in raw.usable] == ["tt0000001", "tt0000005"]
    assert "2 usable posters of 5 titles" in out


KAGGLE_ROWS = (
    "imdbId,Imdb Link,Title,IMDB Score,Genre,Poster\n"
    "114709,http://www.imdb.com/title/tt114709,Toy Story (1995),8.3,Animation|Adventure|Comedy,https://x.invalid/a.jpg\n"
    "113497,http://www.imdb.com/title/tt113497,Amélie (2001),8.3,Comedy|Romance,https://x.invalid/b.jpg\n"
)


def import_kaggle(tmp_path, capsys, text: str):
    """Kaggle's MovieGenre.csv (Latin-1) holding `text`, with both posters on disk, imported: run()'s result."""
    images = tmp_path / "img"
    images.mkdir()
    (images / "114709.jpg").write_bytes(jpeg_bytes())
    (images / "113497.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "MovieGenre.csv").write_bytes(text.encode("iso-8859-1"))
    return run(capsys, "import", tmp_path / "raw", "--format", "kaggle", "--csv", tmp_path / "MovieGenre.csv", "--images", images)


def test_kaggle_layout_in_latin1(tmp_path, capsys):
    code, _, _ = import_kaggle(tmp_path, capsys, KAGGLE_ROWS)
    assert code == 0
    raw = read_raw(tmp_path / "raw")
    assert [(p.id, p.title, p.year, p.genres) for p in raw.posters] == [
        ("tt0114709", "Toy Story", "1995", ["Animation", "Adventure", "Comedy"]),
        ("tt0113497", "Amélie", "2001", ["Comedy", "Romance"]),
    ]


def test_generic_csv_with_named_columns(tmp_path, capsys):
    images = tmp_path / "img"
    images.mkdir()
    (images / "a.jpeg").write_bytes(jpeg_bytes())
    (images / "show-b.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "t.csv").write_text("key,labels,path\nshow-a,Drama;Crime,a.jpeg\nshow-b,Comedy,\n")
    code, _, _ = run(
        capsys, "import", tmp_path / "raw", "--format", "csv", "--csv", tmp_path / "t.csv", "--images", images,
        "--id-column", "key", "--genres-column", "labels", "--file-column", "path", "--genres-sep", ";",
    )
    assert code == 0
    raw = read_raw(tmp_path / "raw")
    assert [(p.id, p.genres, p.file) for p in raw.posters] == [
        ("show-a", ["Drama", "Crime"], "images/show-a.jpeg"),
        ("show-b", ["Comedy"], "images/show-b.jpg"),
    ]


@pytest.mark.parametrize(
    "csv_text, message",
    [
        ("Id,img-url\n0000001,u\n", "set.csv: missing column(s) Genres"),
        ("Id,Genres,img-url\n0000001,['Drama'],u\n0000002,Drama|Comedy,u\n", "set.csv line 3: Genres 'Drama|Comedy' is not a Python list"),
        ("Id,Genres,img-url\n0000001,['Drama'],u\n0000002,['Drama'],u\n1,['Drama'],u\n", "set.csv line 4: duplicate id tt0000001 (first at line 2)"),
        ("Id,Genres,img-url\nabc,['Drama'],u\n", "set.csv line 2: Id 'abc' is not an IMDb id"),
    ],
    ids=["missing-column", "unparseable-genres", "duplicate-id", "bad-id"],
)
def test_bad_tables_stop_before_any_work(tmp_path, capsys, csv_text, message):
    images = tmp_path / "posters"
    images.mkdir()
    (images / "1.jpg").write_bytes(jpeg_bytes())
    (images / "2.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "set.csv").write_text(csv_text)
    code, out, err = run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", tmp_path / "set.csv", "--images", images)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "raw").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_refuses_to_replace_a_collection_unless_asked(tmp_path, capsys):
    csv_path, images = write_authors_set(tmp_path, [("0000001", ["Drama"])])
    args = ["import", tmp_path / "raw", "--format", "authors", "--csv", csv_path, "--images", images]
    assert run(capsys, *args)[0] == 0
    code, _, err = run(capsys, *args)
    assert code == 2 and "raw: already holds a raw collection; pass --overwrite to replace it" in err
    assert run(capsys, *args, "--overwrite")[0] == 0


def test_the_studys_published_set(shared_posters, tmp_path, capsys):
    code, out, _ = run(
        capsys, "import", tmp_path / "raw", "--format", "authors",
        "--csv", shared_posters / "484da.csv", "--images", shared_posters / "posters-58",
    )
    assert code == 0
    raw = read_raw(tmp_path / "raw")
    assert len(raw.usable) == 5791
    assert sorted((f.id, f.reason) for f in raw.failures) == [("tt2909912", "missing"), ("tt5537534", "missing")]
    code, out, _ = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", "--genres", "Horror,Romance,Action,Documentary", "--ratios", "30")
    assert code == 0
    assert "Built" in out and ": 2332 posters" in out


def test_kaggle_repeated_imdb_ids_keep_the_first_and_record_the_rest_as_duplicates(tmp_path, capsys):
    repeated = "114709,http://www.imdb.com/title/tt114709,Toy Story (1995),8.3,Animation,https://x.invalid/c.jpg\n"
    code, out, _ = import_kaggle(tmp_path, capsys, KAGGLE_ROWS + repeated)
    assert code == 0
    raw = read_raw(tmp_path / "raw")
    assert [(p.id, p.genres) for p in raw.posters] == [("tt0114709", ["Animation", "Adventure", "Comedy"]), ("tt0113497", ["Comedy", "Romance"])]
    assert [(f.id, f.reason) for f in raw.failures] == [("tt0114709", "duplicate")]
    assert "line 4: same imdbId as line 2" in raw.failures[0].detail
    assert "2 usable posters" in out and "1 duplicate" in out
