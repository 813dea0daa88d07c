"""The downloader against a real loopback server: every fault counted by its reason, resume, limits."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from dataset_builder.download import DownloadOptions, download_collection
from dataset_builder.errors import BadInput
from dataset_builder.raw import Failure, Poster, read_raw
from support.http_fixtures import FakeWeb, make_jpeg

# Short timeouts and backoff: fault tests must be quick, and a slow route must outlast the timeout.
FAST = DownloadOptions(workers=8, per_host=4, connect_timeout_s=2.0, read_timeout_s=0.4, retries=2, backoff_s=0.05, max_bytes=200_000)


def poster(i: int, url: str) -> Poster:
    return Poster(id=f"tt{i:07d}", genres=["Drama"], title=f"T{i}", year="2000", url=url)


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (100, 150), (10, 200, 30, 128)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def web():
    with FakeWeb() as server:
        yield server


def faulty_site(web: FakeWeb) -> dict[str, tuple[str, str]]:
    """Routes with every fault the issue names: id -> (url, the status the downloader must record)."""
    good = make_jpeg(1)
    web.serve("/ok.jpg", good)
    web.serve("/picture.png", png_bytes(), content_type="image/png")
    web.fail("/gone.jpg", 404)
    web.fail("/broken.jpg", 500)
    web.fail("/flaky.jpg", 500, times=1, body=make_jpeg(2))
    web.fail("/busy.jpg", 429, times=1, retry_after="1", body=make_jpeg(3))
    web.serve("/slow.jpg", make_jpeg(4), delay_s=1.5)
    web.serve("/stalled.jpg", make_jpeg(8, size=(600, 900)), stall_mid_body_s=1.5)
    web.serve("/reset.jpg", make_jpeg(5), reset_mid_body=99)
    web.serve("/truncated.jpg", make_jpeg(6)[:1500])
    web.serve("/html.jpg", b"<!doctype html><html><body>Sorry</body></html>")
    web.serve("/huge.jpg", b"\xff\xd8\xff" + bytes(300_000))
    web.serve("/huge-unannounced.jpg", b"\xff\xd8\xff" + bytes(300_000), declare_length=False)
    web.serve("/tiny.jpg", make_jpeg(7, size=(12, 18)))
    web.serve("/empty.jpg", b"")
    web.redirect("/moved.jpg", "/ok.jpg")
    web.redirect("/to-file.jpg", "file:///etc/passwd")
    return {
        "ok": (web.url("/ok.jpg"), "ok"),
        "png": (web.url("/picture.png"), "ok"),
        "gone": (web.url("/gone.jpg"), "http-404"),
        "broken": (web.url("/broken.jpg"), "http-500"),
        "flaky": (web.url("/flaky.jpg"), "ok"),
        "busy": (web.url("/busy.jpg"), "ok"),
        "slow": (web.url("/slow.jpg"), "timeout"),
        "stalled": (web.url("/stalled.jpg"), "timeout"),
        "reset": (web.url("/reset.jpg"), "reset"),
        "truncated": (web.url("/truncated.jpg"), "truncated"),
        "html": (web.url("/html.jpg"), "not-an-image"),
        "huge": (web.url("/huge.jpg"), "too-large"),
        "huge-unannounced": (web.url("/huge-unannounced.jpg"), "too-large"),
        "tiny": (web.url("/tiny.jpg"), "too-small"),
        "empty": (web.url("/empty.jpg"), "empty"),
        "moved": (web.url("/moved.jpg"), "ok"),
        "to-file": (web.url("/to-file.jpg"), "bad-url"),
        "ftp": ("ftp://example.org/poster.jpg", "bad-url"),
        "no-url": ("", "no-url"),
    }


def test_every_fault_is_recorded_under_its_reason(tmp_path, web):
    site = faulty_site(web)
    names = list(site)
    posters = [poster(i, site[name][0]) for i, name in enumerate(names)]
    started = time.monotonic()
    report = download_collection(posters, tmp_path / "raw", FAST)
    elapsed = time.monotonic() - started

    raw = read_raw(tmp_path / "raw")
    assert {names[int(p.id[2:])]: p.status for p in raw.posters} == {name: want for name, (_, want) in site.items()}
    failed = {name for name, (_, want) in site.items() if want != "ok"}
    assert {names[int(f.id[2:])]: f.reason for f in raw.failures} == {n: site[n][1] for n in failed}
    assert report.fetched == 5 and sum(report.failed.values()) == len(failed) - 1  # no-url is not a download
    assert report.failed["http-500"] == 1 and report.failed["too-large"] == 2
    # What was written is exactly what was served, under the format's own extension.
    assert (tmp_path / "raw" / "images" / "tt0000000.jpg").read_bytes() == make_jpeg(1)
    assert (tmp_path / "raw" / "images" / "tt0000001.png").read_bytes() == png_bytes()
    assert (tmp_path / "raw" / "images" / f"tt{names.index('moved'):07d}.jpg").read_bytes() == make_jpeg(1)  # via the redirect
    assert sorted(p.name for p in (tmp_path / "raw" / "images").iterdir()) == sorted(p.file.split("/")[1] for p in raw.usable)
    # Retries: a 500 once then fine took 2 requests; a permanent 500 took 1 + 2 retries; a 404 is not retried.
    assert web.requests["/flaky.jpg"] == 2 and web.requests["/broken.jpg"] == 3 and web.requests["/gone.jpg"] == 1
    assert elapsed >= 1.0, "the 429's Retry-After: 1 was not honoured"
    assert "http-500" in report.summary() and "posters/s" in report.summary()


def test_rerun_fetches_only_what_is_missing_or_worth_retrying(tmp_path, web):
    site = faulty_site(web)
    names = list(site)
    make = lambda: [poster(i, site[name][0]) for i, name in enumerate(names)]  # noqa: E731
    download_collection(make(), tmp_path / "raw", FAST)
    first = read_raw(tmp_path / "raw")
    before = dict(web.requests)

    report = download_collection(make(), tmp_path / "raw", FAST)
    again = {route: n - before.get(route, 0) for route, n in web.requests.items() if n != before.get(route, 0)}
    # Only the retryable failures were asked again: 500, timeout, reset (each with its in-run retries).
    assert set(again) == {"/broken.jpg", "/slow.jpg", "/stalled.jpg", "/reset.jpg"}
    assert report.fetched == 0 and report.kept == 5
    assert report.known_failures == 9  # 404, truncated, html, 2 too-large, too-small, empty, 2 bad-url
    second = read_raw(tmp_path / "raw")
    assert [(p.id, p.status, p.file) for p in second.posters] == [(p.id, p.status, p.file) for p in first.posters]
    assert sorted((f.id, f.reason) for f in second.failures) == sorted((f.id, f.reason) for f in first.failures)


def test_a_changed_url_is_fetched_again(tmp_path, web):
    web.serve("/a.jpg", make_jpeg(1))
    web.serve("/b.jpg", make_jpeg(2))
    download_collection([poster(1, web.url("/a.jpg"))], tmp_path / "raw", FAST)
    download_collection([poster(1, web.url("/b.jpg"))], tmp_path / "raw", FAST)
    assert (tmp_path / "raw" / "images" / "tt0000001.jpg").read_bytes() == make_jpeg(2)
    assert web.requests["/a.jpg"] == 1 and web.requests["/b.jpg"] == 1


def test_concurrency_is_limited_per_host_not_overall(tmp_path):
    with FakeWeb(latency_s=0.1) as web:
        for i in range(24):
            web.serve(f"/{i}.jpg", make_jpeg(i))
        # Two host names for one server: the limit holds for each name separately.
        urls = [web.url(f"/{i}.jpg") if i % 2 else web.url(f"/{i}.jpg").replace("127.0.0.1", "localhost") for i in range(24)]
        options = DownloadOptions(workers=12, per_host=2, read_timeout_s=5, retries=0)
        report = download_collection([poster(i, u) for i, u in enumerate(urls)], tmp_path / "raw", options)
    assert report.fetched == 24 and report.hosts == 2
    assert web.max_in_flight == 4, "2 per host x 2 hosts"


def test_prefailed_titles_pass_through_and_ids_must_be_unique(tmp_path, web):
    web.serve("/a.jpg", make_jpeg(1))
    unresolved = Poster(id="tt0000002", genres=["Drama"], status="no-poster")
    report = download_collection(
        [poster(1, web.url("/a.jpg")), unresolved], tmp_path / "raw", FAST,
        known_failures=[Failure("tt0000002", "no-poster", "TMDb has no poster for tt0000002")],
    )
    raw = read_raw(tmp_path / "raw")
    assert [(p.id, p.status) for p in raw.posters] == [("tt0000001", "ok"), ("tt0000002", "no-poster")]
    assert [(f.id, f.reason, f.detail) for f in raw.failures] == [("tt0000002", "no-poster", "TMDb has no poster for tt0000002")]
    assert "1 no-poster" in report.summary()
    with pytest.raises(BadInput, match="duplicate id tt0000001"):
        download_collection([poster(1, "http://x/a"), poster(1, "http://x/b")], tmp_path / "other", FAST)


def test_a_folder_that_is_not_a_raw_collection_is_refused(tmp_path, web):
    web.serve("/a.jpg", make_jpeg(1))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.txt").write_text("precious")
    for overwrite in (False, True):  # --overwrite replaces only what dataset-builder wrote
        with pytest.raises(BadInput, match=r"notes: holds 1 file not written by dataset-builder \(thesis.txt\)"):
            download_collection([poster(1, web.url("/a.jpg"))], tmp_path / "notes", FAST, overwrite=overwrite)
    assert [p.name for p in tmp_path.iterdir()] == ["notes"]
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["thesis.txt"]
    assert (tmp_path / "notes" / "thesis.txt").read_text() == "precious" and web.count() == 0
