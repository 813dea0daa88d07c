"""Titles from IMDb's dumps (streamed) and from a cinemagoer database; fetching the dumps resumably."""

from __future__ import annotations

import gzip
import json

import pytest
from imdb.parser.s3.importer import import_dir

from dataset_builder.cli import main
from dataset_builder.errors import BadInput
from dataset_builder.sources import imdb_dumps
from dataset_builder.sources.imdb_dumps import Selection, select_from_cinemagoer_db, select_from_dumps
from support.dump_fixtures import STUDY_CASES, STUDY_KEPT, rng_seed_cases, write_dumps
from support.http_fixtures import FakeWeb


def test_the_study_selection_keeps_exactly_the_boundary_cases(tmp_path):
    picked = select_from_dumps(write_dumps(tmp_path))
    assert [t.id for t in picked.titles] == STUDY_KEPT
    by_id = {t.id: t for t in picked.titles}
    assert by_id["tt0000001"].year == 1950 and by_id["tt0000001"].votes == 1000
    assert by_id["tt0000010"].title == 'The "Quoted" Show'  # IMDb never quotes: the quotes are the title's
    assert by_id["tt0000010"].genres == ("Comedy", "Drama", "Romance")
    assert by_id["tt0000011"].title == "Café Ünïcode"
    assert by_id["tt12345678"].genres == ("Documentary",)
    assert picked.without_genres == 1  # tt0000008: selected, but IMDb gives it no genre
    poster = by_id["tt0000010"].to_poster()
    assert (poster.id, poster.genres, poster.year) == ("tt0000010", ["Comedy", "Drama", "Romance"], "1995")


def test_every_part_of_the_selection_is_configurable(tmp_path):
    dumps = write_dumps(tmp_path)
    with_minis = select_from_dumps(dumps, Selection(types=("tvSeries", "tvMiniSeries")))
    assert [t.id for t in with_minis.titles] == sorted(STUDY_KEPT + ["tt0000006"])
    earlier = select_from_dumps(dumps, Selection(since=1900))
    assert "tt0000002" in [t.id for t in earlier.titles]
    fewer_votes = select_from_dumps(dumps, Selection(min_votes=999))
    assert "tt0000003" in [t.id for t in fewer_votes.titles]
    movies = select_from_dumps(dumps, Selection(types=("movie",)))
    assert [t.id for t in movies.titles] == ["tt0000004"]


def test_chunk_boundaries_change_nothing(tmp_path, monkeypatch):
    cases = rng_seed_cases(500, seed=3)
    dumps = write_dumps(tmp_path, cases)
    whole = select_from_dumps(dumps, Selection(types=("tvSeries", "tvMiniSeries")))
    monkeypatch.setattr(imdb_dumps, "CHUNK_ROWS", 7)  # 72 chunks of basics, 65 of ratings
    chunked = select_from_dumps(dumps, Selection(types=("tvSeries", "tvMiniSeries")))
    assert chunked == whole and len(whole.titles) > 20


def test_most_voted_keeps_the_top_titles_in_id_order(tmp_path):
    picked = select_from_dumps(write_dumps(tmp_path))
    assert [t.id for t in picked.most_voted(2)] == ["tt0000012", "tt12345678"]  # 4000 and 100000 votes
    assert picked.most_voted(None) == picked.titles


def test_a_cinemagoer_database_gives_the_same_titles(tmp_path):
    cases = [c for c, _ in STUDY_CASES] + rng_seed_cases(300, seed=5)
    dumps = write_dumps(tmp_path / "dumps", cases)
    import_dir(str(dumps), f"sqlite:///{tmp_path / 'imdb.db'}")  # cinemagoer's own importer (s32cinemagoer.py)
    for selection in (Selection(), Selection(types=("tvSeries", "tvMiniSeries"), since=1960, min_votes=1500)):
        from_db = select_from_cinemagoer_db(f"sqlite:///{tmp_path / 'imdb.db'}", selection)
        from_dumps = select_from_dumps(dumps, selection)
        assert from_db.titles == from_dumps.titles and from_db.without_genres == from_dumps.without_genres
        assert len(from_db.titles) > 5


def test_bad_dumps_and_databases_are_named(tmp_path):
    with pytest.raises(BadInput, match=r"title.basics.tsv.gz: not found \(fetch the dumps with: dataset-builder imdb-dumps"):
        select_from_dumps(tmp_path)
    dumps = write_dumps(tmp_path / "d")
    (dumps / "title.ratings.tsv.gz").write_bytes(b"tconst\tnumVotes\n")
    with pytest.raises(BadInput, match=r"title.ratings.tsv.gz: not a gzipped IMDb TSV"):
        select_from_dumps(dumps)
    with gzip.open(dumps / "title.ratings.tsv.gz", "wt") as f:
        f.write("tconst\taverageRating\nt1\t5\n")
    with pytest.raises(BadInput, match=r"title.ratings.tsv.gz: missing column\(s\) numVotes"):
        select_from_dumps(dumps)
    with pytest.raises(BadInput, match=r"--types tvSeries,tvseries: unknown type\(s\) tvseries; IMDb's types are movie"):
        Selection(types=("tvSeries", "tvseries"))
    with pytest.raises(BadInput, match=r"--imdb-db sqlite:///.*nothere.db: no database file"):
        select_from_cinemagoer_db(f"sqlite:///{tmp_path / 'nothere.db'}")
    assert not (tmp_path / "nothere.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(BadInput, match=r"not a cinemagoer database .*s32cinemagoer.py"):
        select_from_cinemagoer_db(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(BadInput, match=r"--imdb-db postgresql://x/imdb: only sqlite:///FILE"):
        select_from_cinemagoer_db("postgresql://x/imdb")


# --- fetching the dumps ------------------------------------------------------------------


@pytest.fixture
def dump_site(tmp_path):
    """A server holding the two dump files (with ETags and Range support), and their bytes."""
    source = write_dumps(tmp_path / "source", rng_seed_cases(3000, seed=1))
    files = {name: (source / name).read_bytes() for name in ("title.basics.tsv.gz", "title.ratings.tsv.gz")}
    with FakeWeb() as web:
        for name, body in files.items():
            web.serve(f"/dumps/{name}", body, content_type="application/gzip", etag=f'"{name}-v1"')
        yield web, files


def fetch(capsys, web, dest, *extra):
    code = main(["imdb-dumps", str(dest), "--base-url", web.url("/dumps/"), *map(str, extra)])
    out, err = capsys.readouterr()
    return code, out, err


def test_fetch_writes_both_files_whole(tmp_path, dump_site, capsys):
    web, files = dump_site
    code, out, _ = fetch(capsys, web, tmp_path / "dumps")
    assert code == 0, out
    for name, body in files.items():
        assert (tmp_path / "dumps" / name).read_bytes() == body
    assert sorted(p.name for p in (tmp_path / "dumps").iterdir()) == sorted(files)  # no part files left
    assert "IMDb dumps ready" in out and "Next: dataset-builder imdb" in out
    assert [t.id for t in select_from_dumps(tmp_path / "dumps").titles]  # usable as is
    # Run again: both files are already whole, nothing is asked.
    code, out, _ = fetch(capsys, web, tmp_path / "dumps")
    assert code == 0 and web.count("/dumps/") == 2 and "already here" in out
    code, out, _ = fetch(capsys, web, tmp_path / "dumps", "--refresh")
    assert code == 0 and web.count("/dumps/") == 4


def test_an_interrupted_fetch_resumes_from_the_part(tmp_path, dump_site, capsys):
    web, files = dump_site
    dest = tmp_path / "dumps"
    dest.mkdir()
    body = files["title.basics.tsv.gz"]
    # What a fetch stopped halfway leaves: the first bytes, and the version they belong to.
    (dest / ".title.basics.tsv.gz.part").write_bytes(body[:5000])
    (dest / ".title.basics.tsv.gz.part.json").write_text(json.dumps({"validator": '"title.basics.tsv.gz-v1"'}))
    code, out, _ = fetch(capsys, web, dest)
    assert code == 0, out
    assert (dest / "title.basics.tsv.gz").read_bytes() == body
    ranges = [h.get("Range") for route, h in web.headers_seen if route.endswith("basics.tsv.gz")]
    assert ranges == ["bytes=5000-"]


def test_a_part_of_an_older_version_is_not_spliced(tmp_path, dump_site, capsys):
    web, files = dump_site
    dest = tmp_path / "dumps"
    dest.mkdir()
    (dest / ".title.basics.tsv.gz.part").write_bytes(b"x" * 5000)
    (dest / ".title.basics.tsv.gz.part.json").write_text(json.dumps({"validator": '"yesterday"'}))
    code, out, _ = fetch(capsys, web, dest)
    assert code == 0, out
    assert (dest / "title.basics.tsv.gz").read_bytes() == files["title.basics.tsv.gz"]


def test_a_connection_reset_mid_file_is_resumed_within_the_run(tmp_path, dump_site, capsys):
    web, files = dump_site
    web.routes["/dumps/title.ratings.tsv.gz"].reset_mid_body = 1
    code, out, _ = fetch(capsys, web, tmp_path / "dumps")
    assert code == 0, out
    assert (tmp_path / "dumps" / "title.ratings.tsv.gz").read_bytes() == files["title.ratings.tsv.gz"]
    assert web.requests["/dumps/title.ratings.tsv.gz"] == 2


def test_fetch_errors_are_one_line_and_name_the_url(tmp_path, dump_site, capsys):
    web, _ = dump_site
    code = main(["imdb-dumps", str(tmp_path / "d2"), "--base-url", web.url("/nothing/")])
    err = capsys.readouterr().err
    assert code == 2 and f"HTTP 404 Not Found from {web.url('/nothing/title.basics.tsv.gz')}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d2" / "title.basics.tsv.gz").exists()
    code = main(["imdb-dumps", str(tmp_path / "d3"), "--base-url", "ftp://datasets.imdbws.com/"])
    assert code == 2 and "--base-url ftp://datasets.imdbws.com/: expected an http:// or https:// URL" in capsys.readouterr().err
