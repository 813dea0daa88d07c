"""Poster URL resolvers against a real loopback TMDb/OMDb: answers, retries, rate limit, cache, secrecy."""

from __future__ import annotations

import socket
import time
import traceback

import pytest

from dataset_builder.errors import BadInput
from dataset_builder.net import NetFailure
from dataset_builder.raw import Poster
from dataset_builder.sources.api_client import AnswerCache, RateLimiter
from dataset_builder.sources.poster_urls import CsvResolver, OmdbResolver, TmdbResolver, make_resolver, resolve_posters
from support.http_fixtures import FakeWeb

KEY = "k3y-Sup3rS3cret-0042"
BEARER = "eyJhbGciOiJIUzI1NiJ9.bearer-S3cret"


def posters(*ids: str) -> list[Poster]:
    return [Poster(id=i, genres=["Drama"]) for i in ids]


def tmdb(web: FakeWeb, **kw) -> TmdbResolver:
    kw.setdefault("api_key", KEY)
    return TmdbResolver(api_base=web.url("/tmdb/3"), image_base=web.url("/img"), rate_per_s=1000, **kw)


@pytest.fixture
def web():
    with FakeWeb(tmdb_api_key=KEY, tmdb_bearer=BEARER, omdb_api_key=KEY) as server:
        yield server


def test_tmdb_prefers_the_tv_result_then_the_movie_result(web):
    web.tmdb_poster("tt0000001", tv="/tv1.jpg", movie="/movie1.jpg")
    web.tmdb_poster("tt0000002", movie="/movie2.jpg")
    web.tmdb_poster("tt0000003", tv="", movie="/movie3.jpg")  # a tv result without a poster
    web.tmdb_poster("tt0000004")  # found nothing
    r = tmdb(web, width="w342")
    assert r.lookup("tt0000001") == web.url("/img/w342/tv1.jpg")
    assert r.lookup("tt0000002") == web.url("/img/w342/movie2.jpg")
    assert r.lookup("tt0000003") == web.url("/img/w342/movie3.jpg")
    assert r.lookup("tt0000004") == ""
    assert r.lookup("tt9999999") == ""  # TMDb answers an unknown id with empty lists


def test_tmdb_bearer_token_goes_in_a_header_not_the_url(web):
    web.tmdb_poster("tt0000001", tv="/a.jpg")
    r = tmdb(web, api_key=None, bearer=BEARER)
    assert r.lookup("tt0000001") == web.url("/img/w185/a.jpg")
    route, headers = web.headers_seen[-1]
    assert route == "/tmdb/3/find/tt0000001" and headers["Authorization"] == f"Bearer {BEARER}"


def test_refused_keys_stop_with_a_message_that_does_not_show_them(web):
    for resolver, var in (
        (tmdb(web, api_key="wrong-" + KEY), "TMDB_API_KEY"),
        (tmdb(web, api_key=None, bearer="wrong-" + BEARER), "TMDB_BEARER_TOKEN"),
        (OmdbResolver("wrong-" + KEY, api_base=web.url("/omdb/"), rate_per_s=1000), "OMDB_API_KEY"),
    ):
        with pytest.raises(BadInput) as e:
            resolver.lookup("tt0000001")
        assert var in str(e.value) and "401" in str(e.value)
        assert KEY not in str(e.value) and BEARER not in str(e.value)


def test_missing_keys_name_the_variables():
    with pytest.raises(BadInput, match="TMDB_API_KEY .* or TMDB_BEARER_TOKEN"):
        make_resolver("tmdb", environ={})
    with pytest.raises(BadInput, match="set OMDB_API_KEY"):
        make_resolver("omdb", environ={})
    with pytest.raises(BadInput, match="--posters imdb: expected tmdb, omdb or csv:FILE"):
        make_resolver("imdb", environ={})
    with pytest.raises(BadInput, match="--tmdb-api-base ftp://x: expected an http"):
        make_resolver("tmdb", tmdb_api_base="ftp://x", environ={"TMDB_API_KEY": KEY})
    with pytest.raises(BadInput, match="--tmdb-width 185: expected a TMDb poster size such as w185"):
        make_resolver("tmdb", tmdb_width="185", environ={"TMDB_API_KEY": KEY})


def test_retries_on_5xx_and_429_honouring_retry_after(web):
    web.tmdb_poster("tt0000001", tv="/a.jpg")
    web.tmdb_poster("tt0000002", tv="/b.jpg")
    web.fail("/tmdb/3/find/tt0000001", 503, times=2)
    web.fail("/tmdb/3/find/tt0000002", 429, times=1, retry_after="1")
    r = tmdb(web)
    r.client.backoff_s = 0.01
    assert r.lookup("tt0000001") == web.url("/img/w185/a.jpg")
    assert web.requests["/tmdb/3/find/tt0000001"] == 3
    started = time.monotonic()
    assert r.lookup("tt0000002") == web.url("/img/w185/b.jpg")
    assert time.monotonic() - started >= 0.95
    assert web.requests["/tmdb/3/find/tt0000002"] == 2


def test_lookups_that_fail_for_good_are_failures_not_answers(web, tmp_path):
    web.tmdb_poster("tt0000001", tv="/a.jpg")
    web.fail("/tmdb/3/find/tt0000002", 500)
    web.fail("/tmdb/3/find/tt0000003", 404)
    r = tmdb(web)
    r.client.retries, r.client.backoff_s = 1, 0.01
    cache = AnswerCache(tmp_path / "cache.jsonl", r.namespace)
    result = resolve_posters(r, posters("tt0000001", "tt0000002", "tt0000003", "tt0000004"), cache)
    cache.close()
    assert [(p.id, p.url, p.status) for p in result.posters] == [
        ("tt0000001", web.url("/img/w185/a.jpg"), "ok"),
        ("tt0000002", "", "api-http-500"),
        ("tt0000003", "", "api-http-404"),
        ("tt0000004", "", "no-poster"),
    ]
    assert [f.reason for f in result.failures] == ["api-http-500", "api-http-404", "no-poster"]
    assert all(KEY not in f.detail for f in result.failures)
    # Definite answers are cached (a URL, or "no poster"); failures are not, so a rerun asks again.
    assert len(AnswerCache(tmp_path / "cache.jsonl", r.namespace)) == 2


def test_a_rerun_asks_nothing_twice_and_the_cache_holds_no_key(web, tmp_path):
    ids = [f"tt{i:07d}" for i in range(1, 21)]
    for i in ids[:15]:
        web.tmdb_poster(i, tv=f"/{i}.jpg")
    first = resolve_posters(tmdb(web), posters(*ids), AnswerCache(tmp_path / "c.jsonl", tmdb(web).namespace))
    assert first.asked == 20 and web.count("/tmdb/") == 20
    second = resolve_posters(tmdb(web), posters(*ids), AnswerCache(tmp_path / "c.jsonl", tmdb(web).namespace))
    assert second.cached == 20 and second.asked == 0 and web.count("/tmdb/") == 20
    assert [p.url for p in second.posters] == [p.url for p in first.posters]
    assert KEY not in (tmp_path / "c.jsonl").read_text()
    # Another poster width is another answer: asked again.
    wider = tmdb(web, width="w500")
    resolve_posters(wider, posters(*ids[:3]), AnswerCache(tmp_path / "c.jsonl", wider.namespace))
    assert web.count("/tmdb/") == 23


def test_a_line_cut_short_by_a_kill_is_asked_again(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"ns": "n", "id": "tt1", "answer": "http://x/1.jpg"}\n{"ns": "n", "id": "tt2", "ans')
    cache = AnswerCache(path, "n")
    assert cache.get("tt1") == "http://x/1.jpg" and cache.get("tt2") is None


def test_omdb_poster_field_with_na_and_unknown_ids(web):
    web.omdb_poster("tt0000001", "https://m.media-amazon.com/images/M/abc.jpg")
    web.omdb_poster("tt0000002", "N/A")
    r = OmdbResolver(KEY, api_base=web.url("/omdb/"), rate_per_s=1000)
    assert r.lookup("tt0000001") == "https://m.media-amazon.com/images/M/abc.jpg"
    assert r.lookup("tt0000002") == ""
    assert r.lookup("tt0000003") == ""  # OMDb: {"Response": "False", "Error": "Incorrect IMDb ID."}
    assert web.requests["/omdb/tt0000001"] == 1


def test_the_rate_limit_spaces_requests_across_threads(web):
    for i in range(1, 13):
        web.tmdb_poster(f"tt{i:07d}", tv=f"/{i}.jpg")
    r = TmdbResolver(api_key=KEY, api_base=web.url("/tmdb/3"), image_base=web.url("/img"), rate_per_s=20)
    started = time.monotonic()
    resolve_posters(r, posters(*[f"tt{i:07d}" for i in range(1, 13)]), workers=6)
    assert time.monotonic() - started >= 11 / 20 * 0.95  # 12 requests, evenly 50 ms apart


def test_rate_limiter_pause_delays_every_later_slot():
    limiter = RateLimiter(1000)
    limiter.pause(0.3)
    started = time.monotonic()
    limiter.wait()
    assert time.monotonic() - started >= 0.28


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_of_urls_in_the_study_kaggle_and_plain_layouts(tmp_path):
    authors = write(tmp_path / "484da.csv", '\ufeffId,Genres,img-url\n0042114,"[\'Comedy\']",https://m.media-amazon.com/a.jpg\n12345678,[\'Drama\'],https://x/b.jpg\n')
    r = CsvResolver(authors)
    assert r.lookup("tt0042114") == "https://m.media-amazon.com/a.jpg" and r.lookup("tt12345678") == "https://x/b.jpg"
    kaggle = write(
        tmp_path / "MovieGenre.csv",
        'imdbId,Imdb Link,Title,IMDB Score,Genre,Poster\n'
        '114709,http://www.imdb.com/title/tt114709,Toy Story (1995),8.3,Animation|Comedy,https://x/toy.jpg\n'
        '113497,http://www.imdb.com/title/tt113497,Amélie (2001),8.1,Comedy,https://x/amelie.jpg\n'
        '113497,http://www.imdb.com/title/tt113497,Amélie (2001),8.1,Comedy,https://x/other.jpg\n'
        '999,http://www.imdb.com/title/tt999,No poster (2001),5,Drama,\n',
        encoding="iso-8859-1",
    )
    r = CsvResolver(kaggle)
    assert r.lookup("tt0114709") == "https://x/toy.jpg"
    assert r.lookup("tt0113497") == "https://x/amelie.jpg"  # duplicate id: the first URL wins
    assert r.lookup("tt0000999") == ""
    plain = write(tmp_path / "urls.csv", "tconst,url\ntt0000007,http://x/7.jpg\n")
    assert CsvResolver(plain).lookup("tt0000007") == "http://x/7.jpg"


def test_a_csv_of_urls_with_bad_columns_or_ids_names_the_file_and_line(tmp_path):
    bad_header = write(tmp_path / "a.csv", "name,link\nx,http://x\n")
    with pytest.raises(BadInput, match=r"a.csv: expected an id and a URL column .*header has name, link"):
        CsvResolver(bad_header)
    bad_id = write(tmp_path / "b.csv", "Id,Genres,img-url\n0042114,[],http://x/1\nabc,[],http://x/2\n")
    with pytest.raises(BadInput, match=r"b.csv line 3: Id 'abc' is not an IMDb id"):
        CsvResolver(bad_id)
    with pytest.raises(BadInput, match=r"--posters csv:.*missing.csv: not found"):
        make_resolver(f"csv:{tmp_path / 'missing.csv'}", environ={})


def test_a_dead_api_host_is_a_failure_whose_traceback_does_not_show_the_key():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = TmdbResolver(api_key=KEY, api_base=f"http://127.0.0.1:{port}/3", image_base="http://127.0.0.1/img", rate_per_s=1000, retries=0)
    with pytest.raises(NetFailure) as e:
        r.lookup("tt0000001")
    assert e.value.reason == "connection" and "TMDb find tt0000001" in e.value.detail
    assert KEY not in "".join(traceback.format_exception(e.value))
