"""`dataset-builder imdb` and `import` of URLs, end to end against a loopback TMDb/OMDb/image host.

Includes the interruption test: a real `dataset-builder` process stopped by SIGINT or SIGKILL in
the middle of its downloads, then rerun to completion.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imdb.parser.s3.importer import import_dir

from dataset_builder.cli import main
from dataset_builder.errors import PosterError
from dataset_builder.images import open_poster
from dataset_builder.raw import read_raw
from dataset_builder.sources.poster_urls import PROBE_ID
from dataset_builder.store import open_dataset
from support.dump_fixtures import STUDY_CASES, STUDY_KEPT, series_cases, write_dumps
from support.http_fixtures import FakeWeb, make_jpeg
from support.processes import interruptible

KEY = "tmdb-K3y-never-print-me-7781"
_script = Path(sys.executable).with_name("dataset-builder")
DATASET_BUILDER = [str(_script)] if _script.exists() else [sys.executable, "-m", "dataset_builder.cli"]


def site(web: FakeWeb, cases: list[tuple], broken_every: int = 0) -> set[str]:
    """TMDb knows a poster for every case; the image host serves it, but every n-th is a 404 (returned)."""
    broken = set()
    for n, case in enumerate(cases):
        imdb_id = case[0]
        web.tmdb_poster(imdb_id, tv=f"/{imdb_id}.jpg")
        if broken_every and n % broken_every == broken_every - 1:
            web.fail(f"/img/w185/{imdb_id}.jpg", 404)
            broken.add(imdb_id)
        else:
            web.serve(f"/img/w185/{imdb_id}.jpg", make_jpeg(n))
    return broken


def imdb_args(web: FakeWeb, raw: Path, dumps: Path, *extra) -> list[str]:
    return ["imdb", str(raw), "--dumps", str(dumps), "--posters", "tmdb", "--tmdb-api-base", web.url("/tmdb/3"),
            "--tmdb-image-base", web.url("/img"), "--api-rate", "1000", *map(str, extra)]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def web():
    with FakeWeb(tmdb_api_key=KEY, omdb_api_key=KEY) as server:
        yield server


def test_dumps_plus_tmdb_make_a_raw_collection_that_build_takes(tmp_path, web, capsys, monkeypatch):
    monkeypatch.setenv("TMDB_API_KEY", KEY)
    cases = [c for c, _ in STUDY_CASES] + series_cases(60)
    dumps = write_dumps(tmp_path / "dumps", cases)
    broken = site(web, cases, broken_every=10)
    code, out, err = run(capsys, *imdb_args(web, tmp_path / "raw", dumps))
    assert code == 0, err
    raw = read_raw(tmp_path / "raw")
    selected = STUDY_KEPT[:-1] + [c[0] for c in series_cases(60)] + STUDY_KEPT[-1:]  # numeric order: tt12345678 last
    assert [p.id for p in raw.posters] == selected
    assert [p.id for p in raw.usable] == [i for i in selected if i not in broken]
    assert raw.failure_counts() == {"http-404": len(broken & set(selected))} and broken & set(selected)
    first = raw.posters[0]
    assert (first.id, first.title, first.year, first.genres, first.status) == ("tt0000001", "Exactly 1950 and 1000 votes", "1950", ["Drama"], "ok")
    assert (tmp_path / "raw" / first.file).read_bytes() == make_jpeg(0)
    assert "Selected 65 titles (types tvSeries, start year >= 1950, votes >= 1000)" in out
    assert "1 more had no genres" in out and f"{len(raw.usable)} usable posters of 65 titles" in out
    assert "poster/s" in err  # the progress bar, on stderr
    code, out, err = run(capsys, "build", tmp_path / "raw", tmp_path / "ds", "--genres", "Drama,Comedy", "--ratios", "30", "--seed", "0")
    assert code == 0, err
    ids = set(open_dataset(tmp_path / "ds").ids.tolist())
    assert ids == {p.id for p in raw.usable if {"Drama", "Comedy"} & set(p.genres)} and len(ids) > 20


def test_omdb_csv_and_cinemagoer_database_sources(tmp_path, web, capsys, monkeypatch):
    cases = [c for c, _ in STUDY_CASES]
    dumps = write_dumps(tmp_path / "dumps", cases)
    for n, imdb_id in enumerate(STUDY_KEPT):
        web.serve(f"/img/{imdb_id}.jpg", make_jpeg(n))
    # OMDb: Poster field, N/A for one title.
    monkeypatch.setenv("OMDB_API_KEY", KEY)
    for imdb_id in STUDY_KEPT:
        web.omdb_poster(imdb_id, web.url(f"/img/{imdb_id}.jpg") if imdb_id != "tt0000010" else "N/A")
    code, out, err = run(capsys, "imdb", tmp_path / "omdb", "--dumps", dumps, "--posters", "omdb", "--omdb-api-base", web.url("/omdb/"))
    assert code == 0, err
    assert {p.id: p.status for p in read_raw(tmp_path / "omdb").posters} == {i: "no-poster" if i == "tt0000010" else "ok" for i in STUDY_KEPT}
    # The study's own CSV of URLs (Id zero-padded, img-url); one title missing from it.
    with open(tmp_path / "484da.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Id", "Genres", "img-url"])
        for imdb_id in STUDY_KEPT[1:]:
            w.writerow([imdb_id[2:], "['Drama']", web.url(f"/img/{imdb_id}.jpg")])
    code, out, err = run(capsys, "imdb", tmp_path / "csv", "--dumps", dumps, "--posters", f"csv:{tmp_path / '484da.csv'}")
    assert code == 0, err
    assert {p.id: p.status for p in read_raw(tmp_path / "csv").posters} == {i: "no-poster" if i == STUDY_KEPT[0] else "ok" for i in STUDY_KEPT}
    # The same titles from a cinemagoer database instead of the dump files.
    import_dir(str(dumps), f"sqlite:///{tmp_path / 'imdb.db'}")
    code, out, err = run(capsys, "imdb", tmp_path / "db", "--imdb-db", f"sqlite:///{tmp_path / 'imdb.db'}", "--posters", f"csv:{tmp_path / '484da.csv'}")
    assert code == 0, err
    assert read_raw(tmp_path / "db").posters == read_raw(tmp_path / "csv").posters


def test_import_of_a_csv_with_urls_and_no_images_downloads_them(tmp_path, web, capsys):
    with open(tmp_path / "set.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Id", "Genres", "img-url"])
        for i in range(1, 6):
            w.writerow([f"{i:07d}", "['Comedy', 'Family']", web.url(f"/img/{i}.jpg")])
            if i != 3:
                web.serve(f"/img/{i}.jpg", make_jpeg(i))
    code, out, err = run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", tmp_path / "set.csv", "--per-host", "2")
    assert code == 0, err
    raw = read_raw(tmp_path / "raw")
    assert [(p.id, p.genres, p.status) for p in raw.posters] == [
        (f"tt{i:07d}", ["Comedy", "Family"], "http-404" if i == 3 else "ok") for i in range(1, 6)
    ]
    assert "Downloaded 4 of 5 posters tried" in out


def test_bad_input_stops_before_any_work(tmp_path, web, capsys, monkeypatch):
    dumps = write_dumps(tmp_path / "dumps")
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    monkeypatch.delenv("TMDB_BEARER_TOKEN", raising=False)
    code, _, err = run(capsys, *imdb_args(web, tmp_path / "raw", dumps))
    assert code == 2 and "set TMDB_API_KEY (a v3 API key) or TMDB_BEARER_TOKEN" in err
    monkeypatch.setenv("TMDB_API_KEY", KEY)
    for extra, message in (
        (["--types", "tvSeries,series"], "--types tvSeries,series: unknown type(s) series"),
        (["--limit", "0"], "--limit 0: expected at least 1"),
        (["--per-host", "0"], "--per-host 0: expected at least 1"),
        (["--posters", "imdb"], "--posters imdb: expected tmdb, omdb or csv:FILE"),
    ):
        code, _, err = run(capsys, *imdb_args(web, tmp_path / "raw", dumps, *extra))
        assert code == 2 and message in err, err
    code, _, err = run(capsys, *imdb_args(web, tmp_path / "raw", tmp_path / "nodumps"))
    assert code == 2 and "nodumps/title.basics.tsv.gz: not found" in err
    assert not (tmp_path / "raw").exists() and web.count("/img/") == 0
    # A wrong API address or a refused key fails at once, before the scan of the dumps.
    code, _, err = run(capsys, *imdb_args(web, tmp_path / "raw", tmp_path / "nodumps", "--tmdb-api-base", web.url("/v3")))
    assert code == 2 and "TMDb does not answer as expected (HTTP 404 from TMDb find tt0903747); check the API base URL" in err
    monkeypatch.setenv("TMDB_API_KEY", "wrong")
    code, _, err = run(capsys, *imdb_args(web, tmp_path / "raw", tmp_path / "nodumps"))
    assert code == 2 and "TMDb refused the credentials in TMDB_API_KEY (HTTP 401: Invalid API key" in err
    monkeypatch.setenv("TMDB_API_KEY", KEY)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    code, _, err = run(capsys, *imdb_args(web, tmp_path / "mine", dumps))
    assert code == 2 and "mine: holds 1 file not written by dataset-builder (notes.txt)" in err


def test_keys_never_appear_in_output_errors_or_files(tmp_path, web):
    cases = series_cases(12)
    dumps = write_dumps(tmp_path / "dumps", cases)
    site(web, cases)
    web.fail(f"/tmdb/3/find/{cases[0][0]}", 500)  # fails for good: its error is reported
    web.fail(f"/tmdb/3/find/{cases[1][0]}", 429, times=1, retry_after="1")
    web.tmdb_poster(cases[2][0], tv="/elsewhere.jpg")
    web.fail("/img/w185/elsewhere.jpg", 503)
    env = dict(os.environ, TMDB_API_KEY=KEY)
    argv = imdb_args(web, tmp_path / "raw", dumps, "--api-retries", "1", "--retries", "0")
    done = subprocess.run(DATASET_BUILDER + argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "api-http-500" in done.stdout  # the failures were reported ...
    unauthorised = subprocess.run(DATASET_BUILDER + imdb_args(web, tmp_path / "raw2", dumps), capture_output=True, text=True,
                                  env=dict(os.environ, TMDB_API_KEY="wrong-" + KEY), timeout=60)
    assert unauthorised.returncode == 2 and "TMDb refused the credentials in TMDB_API_KEY (HTTP 401" in unauthorised.stderr
    # ... and neither the key nor the refused key is anywhere: output, errors, or any file written.
    texts = [done.stdout, done.stderr, unauthorised.stdout, unauthorised.stderr]
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".gz"]
    assert len(texts) > 6 and not [t for t in texts if KEY in t]


def image_names(raw: Path) -> set[str]:
    return {p.name for p in (raw / "images").iterdir() if not p.name.startswith(".")}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_download_resumes_without_refetching(tmp_path, capsys, monkeypatch, sig):
    cases = series_cases(240)
    dumps = write_dumps(tmp_path / "dumps", cases)
    with FakeWeb(tmdb_api_key=KEY, latency_s=0.03) as web:
        site(web, cases, broken_every=25)
        web.serve(f"/img/w185/{cases[7][0]}.jpg", b"<html>not a poster</html>")
        argv = imdb_args(web, tmp_path / "raw", dumps, "--per-host", "4", "--checkpoint", "0.2")

        # The reference: the same job, never interrupted.
        monkeypatch.setenv("TMDB_API_KEY", KEY)
        code, _, err = run(capsys, *imdb_args(web, tmp_path / "reference", dumps, "--per-host", "4"))
        assert code == 0, err
        reference = read_raw(tmp_path / "reference")

        proc = subprocess.Popen(DATASET_BUILDER + argv, env=dict(os.environ, TMDB_API_KEY=KEY),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
        deadline = time.monotonic() + 60
        while not ((tmp_path / "raw" / "images").is_dir() and len(image_names(tmp_path / "raw")) >= 40):
            assert proc.poll() is None and time.monotonic() < deadline, "the download ended before it could be interrupted"
            time.sleep(0.01)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), err
        finished = image_names(tmp_path / "raw")
        assert 40 <= len(finished) < 230, "interrupted in the middle"
        for name in finished:  # every image on disk is whole: written under a temporary name, then renamed
            try:
                open_poster(tmp_path / "raw" / "images" / name)
            except PosterError as e:
                pytest.fail(f"{name} is a partial file: {e}")
        stopped = read_raw(tmp_path / "raw")  # the tables of a stopped run are readable as they are
        assert {p.file.split("/")[1] for p in stopped.usable} <= finished
        if sig == signal.SIGINT:
            assert "rerun the same command" in out and "interrupted" in err
            assert {p.status for p in stopped.posters} - {"ok", "http-404", "not-an-image"} <= {"pending"}
            assert not [p for p in (tmp_path / "raw" / "images").iterdir() if p.name.startswith(".")]

        before = dict(web.requests)
        code, _, err = run(capsys, *argv)
        assert code == 0, err
        again = {route for route, n in web.requests.items() if n > before.get(route, 0)}

    assert not [name for name in finished if f"/img/w185/{name}" in again], "a finished image was fetched again"
    assert not [r for r in again if r.startswith("/tmdb/") and r != f"/tmdb/3/find/{PROBE_ID}"], "the rerun asked TMDb again"
    resumed = read_raw(tmp_path / "raw")
    assert [(p.id, p.status) for p in resumed.posters] == [(p.id, p.status) for p in reference.posters]
    assert resumed.failure_counts() == reference.failure_counts() == {"http-404": 9, "not-an-image": 1}
    assert {p.name for p in (tmp_path / "raw" / "images").iterdir()} == image_names(tmp_path / "reference")


def test_the_study_csv_of_urls_parses_whole_and_its_real_posters_download(tmp_path, web, capsys, shared_posters):
    from dataset_builder.sources.poster_urls import CsvResolver

    urls = CsvResolver(shared_posters / "484da.csv").urls
    assert len(urls) == 5793 and all(u.startswith("https://m.media-amazon.com/images/") for u in urls.values())
    # The first 150 rows again, their URLs pointing at the loopback host serving the real posters.
    with open(shared_posters / "484da.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:150]
    for row in rows:
        image = shared_posters / "posters-58" / f"{int(row['Id'])}.jpg"
        web.serve(f"/real/{row['Id']}.jpg", image.read_bytes())
        row["img-url"] = web.url(f"/real/{row['Id']}.jpg")
    with open(tmp_path / "study.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["Id", "Genres", "img-url"])
        writer.writeheader()
        writer.writerows(rows)
    code, out, err = run(capsys, "import", tmp_path / "raw", "--format", "authors", "--csv", tmp_path / "study.csv")
    assert code == 0, err
    raw = read_raw(tmp_path / "raw")
    assert len(raw.usable) == 150 and raw.posters[0].genres == ["Comedy", "Family"]
    assert (tmp_path / "raw" / "images" / "tt0042114.jpg").read_bytes() == (shared_posters / "posters-58" / "42114.jpg").read_bytes()
