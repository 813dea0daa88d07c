"""Poster URLs for IMDb ids: from TMDb, from OMDb, or from a CSV of URLs.

IMDb's dumps carry no poster URLs. Each resolver answers one IMDb id with a URL, or "" when the
source has no poster for it (a definite answer, cached); a request that fails for good raises
NetFailure (not cached: a rerun asks again). Keys come from the environment only (never a flag,
which would show in `ps` and shell history) and never appear in any message.
"""

from __future__ import annotations

import csv
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from ..errors import BadInput
from ..net import NetFailure, finished_batches
from ..raw import Failure, Poster
from .api_client import AnswerCache, ApiClient
from .tables import imdb_id

TMDB_API_BASE = "https://api.themoviedb.org/3"
TMDB_IMAGE_BASE = "https://image.tmdb.org/t/p"
# w185 is the TMDb size nearest the study's 182x268; "original" is the full-size file.
TMDB_WIDTH = "w185"
OMDB_API_BASE = "https://www.omdbapi.com/"
NO_POSTER = "no-poster"  # failure reason: the source knows no poster for this title


class Resolver(Protocol):
    name: str
    namespace: str | None  # cache namespace; None: answers are local, nothing to cache

    def lookup(self, imdb_id: str) -> str: ...

    def cancel(self) -> None:
        """Make every lookup waiting for its turn give up (Ctrl-C)."""

    def verify(self) -> None:
        """One request before the real work, so a refused key or a wrong base URL fails in a second."""


class TmdbResolver:
    """TMDb's find-by-external-id: the first tv result's poster, else the first movie result's."""

    name = "TMDb"

    def __init__(self, api_key: str | None = None, bearer: str | None = None, api_base: str = TMDB_API_BASE,
                 image_base: str = TMDB_IMAGE_BASE, width: str = TMDB_WIDTH, rate_per_s: float = 20.0,
                 retries: int = 4):
        if not (api_key or bearer):
            raise BadInput("--posters tmdb: set TMDB_API_KEY (a v3 API key) or TMDB_BEARER_TOKEN (an API read access token) in the environment")
        _check_base("--tmdb-api-base", api_base)
        _check_base("--tmdb-image-base", image_base)
        if not re.fullmatch(r"w\d+|original", width):
            raise BadInput(f"--tmdb-width {width}: expected a TMDb poster size such as w185, w342, w500 or original")
        self.api_base = api_base.rstrip("/")
        self.image_base = image_base.rstrip("/")
        self.width = width
        self.credential = "TMDB_BEARER_TOKEN" if bearer else "TMDB_API_KEY"
        # The bearer token travels in a header, the v3 key as a query parameter (TMDb's two ways).
        self.params = {"external_source": "imdb_id"} | ({} if bearer else {"api_key": api_key})
        headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/json"} if bearer else {"Accept": "application/json"}
        self.client = ApiClient("TMDb", [api_key or "", bearer or ""], rate_per_s, retries, headers=headers)
        self.namespace = f"tmdb {self.api_base} {self.image_base} {self.width}"

    def lookup(self, imdb_id: str) -> str:
        status, body = self.client.get_json(f"{self.api_base}/find/{imdb_id}", self.params, f"find {imdb_id}")
        if status == 401:
            message = self.client.redact(str(body.get("status_message", "unauthorized")))
            raise BadInput(f"TMDb refused the credentials in {self.credential} (HTTP 401: {message})")
        if status != 200:
            raise NetFailure(f"http-{status}", f"HTTP {status} from TMDb find {imdb_id}")
        for group in ("tv_results", "movie_results"):
            for result in body.get(group) or []:
                path = result.get("poster_path")
                if path:
                    return f"{self.image_base}/{self.width}/{path.lstrip('/')}"
        return ""

    def cancel(self) -> None:
        self.client.stop.set()

    def verify(self) -> None:
        _verify(self)


class OmdbResolver:
    """OMDb's lookup by IMDb id: its `Poster` field; "N/A" or an unknown id means no poster."""

    name = "OMDb"

    def __init__(self, api_key: str | None, api_base: str = OMDB_API_BASE, rate_per_s: float = 10.0,
                 retries: int = 4):
        if not api_key:
            raise BadInput("--posters omdb: set OMDB_API_KEY in the environment")
        _check_base("--omdb-api-base", api_base)
        self.api_base = api_base
        self.api_key = api_key
        self.client = ApiClient("OMDb", [api_key], rate_per_s, retries)
        self.namespace = f"omdb {self.api_base}"

    def lookup(self, imdb_id: str) -> str:
        status, body = self.client.get_json(self.api_base, {"i": imdb_id, "apikey": self.api_key}, imdb_id)
        error = self.client.redact(str(body.get("Error", "")))
        if status == 401:
            # OMDb says 401 both for a bad key and for the daily limit; its message tells which.
            raise BadInput(f"OMDb refused OMDB_API_KEY (HTTP 401: {error or 'unauthorized'}); answers so far are cached, rerun to go on")
        if status != 200:
            raise NetFailure(f"http-{status}", f"HTTP {status} from OMDb {imdb_id}")
        if body.get("Response") == "False":
            if "not found" in error.lower() or "incorrect imdb id" in error.lower():
                return ""
            raise NetFailure("error", f"OMDb {imdb_id}: {error}")
        poster = str(body.get("Poster") or "")
        return "" if poster in ("", "N/A") else poster

    def cancel(self) -> None:
        self.client.stop.set()

    def verify(self) -> None:
        _verify(self)


# (id column, URL column) of the CSV layouts recognised by their header, in order of preference.
CSV_LAYOUTS = [("Id", "img-url"), ("imdbId", "Poster"), ("tconst", "url"), ("id", "url")]


class CsvResolver:
    """A CSV of poster URLs: the study's (Id, img-url), Kaggle's (imdbId, Poster), or id/tconst + url."""

    name = "CSV"
    namespace = None

    def __init__(self, path: Path):
        if not path.is_file():
            raise BadInput(f"--posters csv:{path}: not found")
        # latin-1 decodes any byte: only the ids and URLs are read, and those are ASCII in
        # every layout, while Kaggle's file is ISO-8859-1 and the study's UTF-8.
        with open(path, newline="", encoding="latin-1") as f:
            reader = csv.DictReader(f)
            header = [h.removeprefix("ï»¿") for h in reader.fieldnames or []]  # a UTF-8 BOM, read as latin-1
            reader.fieldnames = header
            layout = next(((i, u) for i, u in CSV_LAYOUTS if i in header and u in header), None)
            if layout is None:
                raise BadInput(
                    f"{path}: expected an id and a URL column ({', '.join(f'{i}+{u}' for i, u in CSV_LAYOUTS)}); header has {', '.join(header) or 'nothing'}"
                )
            self.urls: dict[str, str] = {}
            for row in reader:
                try:
                    key = imdb_id(row[layout[0]] or "")
                except ValueError:
                    raise BadInput(f"{path} line {reader.line_num}: {layout[0]} {row[layout[0]]!r} is not an IMDb id") from None
                url = (row[layout[1]] or "").strip()
                # Kaggle's file repeats some ids; the first URL given wins.
                if url and key not in self.urls:
                    self.urls[key] = url

    def lookup(self, imdb_id: str) -> str:
        return self.urls.get(imdb_id, "")

    def cancel(self) -> None:
        pass  # lookups are local and instant

    def verify(self) -> None:
        pass  # the file was read whole when this was made


# Any real title: the probe only proves that the API answers and takes the key.
PROBE_ID = "tt0903747"


def _verify(resolver: TmdbResolver | OmdbResolver) -> None:
    try:
        resolver.lookup(PROBE_ID)  # a refused key raises BadInput itself
    except NetFailure as e:
        raise BadInput(f"{resolver.name} does not answer as expected ({e.detail or e.reason}); check the API base URL") from None


def _check_base(flag: str, url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise BadInput(f"{flag} {url}: expected an http:// or https:// URL")


def make_resolver(spec: str, *, tmdb_api_base: str = TMDB_API_BASE, tmdb_image_base: str = TMDB_IMAGE_BASE,
                  tmdb_width: str = TMDB_WIDTH, omdb_api_base: str = OMDB_API_BASE, rate_per_s: float | None = None,
                  retries: int = 4, environ: dict[str, str] | None = None) -> Resolver:
    """`tmdb`, `omdb` or `csv:FILE` (the --posters flag) -> its resolver; keys from the environment."""
    env = os.environ if environ is None else environ
    client = {"retries": retries} | ({} if rate_per_s is None else {"rate_per_s": rate_per_s})
    if spec == "tmdb":
        return TmdbResolver(env.get("TMDB_API_KEY"), env.get("TMDB_BEARER_TOKEN"), tmdb_api_base, tmdb_image_base,
                            tmdb_width, **client)
    if spec == "omdb":
        return OmdbResolver(env.get("OMDB_API_KEY"), omdb_api_base, **client)
    if spec.startswith("csv:") and len(spec) > 4:
        return CsvResolver(Path(spec[4:]))
    raise BadInput(f"--posters {spec}: expected tmdb, omdb or csv:FILE")


@dataclass
class Resolution:
    """Posters with their URLs set, and the titles that got none (as failures with a reason)."""

    posters: list[Poster]
    failures: list[Failure] = field(default_factory=list)
    asked: int = 0  # requests made to the source this run (cached answers excluded)
    cached: int = 0

    def summary(self, source: str) -> str:
        found = sum(1 for p in self.posters if p.url)
        return (f"{source}: poster URLs for {found} of {len(self.posters)} titles "
                f"({self.cached} answers from the cache, {self.asked} asked now, {len(self.failures)} without a URL).")


def resolve_posters(resolver: Resolver, posters: list[Poster], cache: AnswerCache | None = None,
                    workers: int = 8) -> Resolution:
    """Set each poster's url from `resolver`; a title without one is marked failed with its reason.

    Lookups run on `workers` threads (the resolver's rate limit spaces them); each answer is
    cached as it arrives. Ctrl-C stops at once: the answers so far stay cached.
    """
    result = Resolution(posters)
    answers: dict[str, str] = {}
    todo = []
    for p in posters:
        hit = cache.get(p.id) if cache is not None else None
        if hit is not None:
            answers[p.id] = hit
            result.cached += 1
        else:
            todo.append(p.id)
    failures: dict[str, Failure] = {}
    running: dict[Future, str] = {}
    with tqdm(total=len(todo), desc=f"{resolver.name} lookups", unit="title", disable=not todo) as bar, \
            ThreadPoolExecutor(workers) as pool:
        try:
            for finished in finished_batches(pool, resolver.lookup, todo, running, workers * 4):
                for future in finished:
                    key = running.pop(future)
                    bar.update()
                    try:
                        answers[key] = future.result()
                    except NetFailure as e:
                        failures[key] = Failure(key, f"api-{e.reason}", e.detail)
                        continue
                    result.asked += 1
                    if cache is not None and resolver.namespace is not None:
                        cache.put(key, answers[key])
        except BaseException:
            # Ctrl-C or a fatal answer (a refused key): stop every lookup now.
            resolver.cancel()
            for future in running:
                future.cancel()
            raise
    for p in posters:
        url = answers.get(p.id)
        if url:
            p.url = url
        else:
            failure = failures.get(p.id) or Failure(p.id, NO_POSTER, f"{resolver.name} has no poster for {p.id}")
            p.url = ""
            p.status = failure.reason
            result.failures.append(failure)
    return result
