"""A real HTTP server on 127.0.0.1 that plays TMDb's API, OMDb's API and an image host.

Every route can be made to misbehave the way the internet does: an HTTP error (optionally only
the first N times, optionally with Retry-After), a response slower than the client's timeout,
a connection reset or a stall mid-body, a truncated JPEG, HTML served as image/jpeg, an oversized body
(with or without Content-Length), a redirect. It counts every request by route, so a test can
prove what was (not) fetched.

Routes:
    /tmdb/3/find/<imdb id>?external_source=imdb_id   TMDb's find-by-external-id
    /omdb/?i=<imdb id>&apikey=KEY                    OMDb (counted as "/omdb/<imdb id>")
    anything else                                    whatever `serve` / `fail` / ... set up
"""

from __future__ import annotations

import io
import json
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

TMDB_BAD_KEY = {"status_code": 7, "status_message": "Invalid API key: You must be granted a valid key.", "success": False}


def make_jpeg(seed: int = 0, size: tuple[int, int] = (182, 268), quality: int = 85) -> bytes:
    """A real JPEG poster whose pixels depend on `seed` (so posters differ byte for byte)."""
    w, h = size
    img = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    # A few bands so the file is not trivially compressible and decoding does real work.
    for i in range(0, h, 16):
        img.paste(((seed + i) % 256, (i * 3) % 256, (seed * 7 + i) % 256), (0, i, w, min(h, i + 8)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "image/jpeg"
    status: int = 200
    fail_status: int | None = None  # answer this instead of `body` ...
    fail_times: int | None = None  # ... this many times (None: always), then serve `body`
    retry_after: str | None = None
    delay_s: float = 0.0  # before the headers: longer than the client's read timeout = a timeout
    reset_mid_body: int = 0  # the first N answers send half the declared body, then RST the connection
    stall_mid_body_s: float = 0.0  # send half the body, wait this long, then the rest
    etag: str | None = None  # sent as ETag; with it, Range requests are honoured (If-Range checked)
    declare_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    location: str | None = None  # a redirect to here
    served: int = 0


@dataclass
class FakeWeb:
    """Start with `with FakeWeb() as web:`; `web.url(path)` is the absolute URL of a route."""

    latency_s: float = 0.0  # added to every request, as a far server would
    tmdb_api_key: str | None = None
    tmdb_bearer: str | None = None
    omdb_api_key: str | None = None
    tmdb: dict[str, dict] = field(default_factory=dict)  # imdb id -> find answer
    omdb: dict[str, dict] = field(default_factory=dict)  # imdb id -> OMDb answer
    routes: dict[str, Route] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)  # route -> requests received
    headers_seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (route, request headers)
    max_in_flight: int = 0  # most requests being answered at once

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._in_flight = 0

    # --- setting up routes -------------------------------------------------------------

    def serve(self, path: str, body: bytes, content_type: str = "image/jpeg", **kw) -> None:
        self.routes[path] = Route(body=body, content_type=content_type, **kw)

    def fail(self, path: str, status: int, times: int | None = None, retry_after: str | None = None, body: bytes = b"") -> None:
        """Answer `status` (the first `times` requests, or always), then `body` as a JPEG."""
        self.routes[path] = Route(body=body, fail_status=status, fail_times=times, retry_after=retry_after)

    def redirect(self, path: str, location: str) -> None:
        self.routes[path] = Route(status=302, location=location)

    def tmdb_poster(self, imdb_id: str, tv: str | None = None, movie: str | None = None) -> None:
        """TMDb's answer for an IMDb id: a tv result and/or a movie result with these poster paths."""
        def results(poster_path: str | None, name_key: str) -> list[dict]:
            if poster_path is None:
                return []
            return [{"id": abs(hash(imdb_id)) % 10**6, name_key: f"Title {imdb_id}", "poster_path": poster_path or None}]

        self.tmdb[imdb_id] = {
            "movie_results": results(movie, "title"),
            "person_results": [],
            "tv_results": results(tv, "name"),
            "tv_episode_results": [],
            "tv_season_results": [],
        }

    def omdb_poster(self, imdb_id: str, poster: str) -> None:
        self.omdb[imdb_id] = {"Title": f"Title {imdb_id}", "Year": "2001", "imdbID": imdb_id, "Type": "series", "Poster": poster, "Response": "True"}

    # --- running -----------------------------------------------------------------------

    @property
    def base(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def count(self, prefix: str = "") -> int:
        with self._lock:
            return sum(n for route, n in self.requests.items() if route.startswith(prefix))

    def start(self) -> "FakeWeb":
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            # Headers and body go out in separate writes; with Nagle on, each response would
            # stall ~40 ms on the client's delayed ACK, which no real server suffers.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                web._handle(self)

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeWeb":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- answering ---------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        key = f"/omdb/{query.get('i', '')}" if path == "/omdb/" else path
        with self._lock:
            self.requests[key] += 1
            self.headers_seen.append((key, dict(h.headers)))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            self._answer(h, path, key, query)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, h: BaseHTTPRequestHandler, path: str, key: str, query: dict[str, str]) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
        route = self.routes.get(key)
        if route is not None:
            with self._lock:
                route.served += 1
                failing = route.fail_status is not None and (route.fail_times is None or route.served <= route.fail_times)
            if route.delay_s:
                time.sleep(route.delay_s)
            if failing:
                extra = {"Retry-After": route.retry_after} if route.retry_after else {}
                return _send(h, route.fail_status, b'{"error": "injected"}', "application/json", extra)
            if route.location:
                return _send(h, route.status, b"", "text/plain", {"Location": route.location})
        if path.startswith("/tmdb/3/find/"):
            return self._tmdb(h, path.rsplit("/", 1)[1], query)
        if path == "/omdb/":
            return self._omdb(h, query)
        if route is None:
            return _send(h, 404, b"not found", "text/plain")
        self._send_body(h, route)

    def _send_body(self, h: BaseHTTPRequestHandler, r: Route) -> None:
        if r.reset_mid_body >= r.served:
            _send_half(h, r)
            # SO_LINGER 0: close with a TCP RST, as a dropped connection looks to the client.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        if r.stall_mid_body_s:
            _send_half(h, r)
            time.sleep(r.stall_mid_body_s)
            try:
                h.wfile.write(r.body[len(r.body) // 2 :])
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if not r.declare_length:
            h.send_response(r.status)
            h.send_header("Content-Type", r.content_type)
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(r.body)
            h.close_connection = True
            return
        if r.etag is not None:
            return self._send_ranged(h, r)
        _send(h, r.status, r.body, r.content_type)

    def _send_ranged(self, h: BaseHTTPRequestHandler, r: Route) -> None:
        """As a static file server does: ETag, and Range honoured when If-Range still matches."""
        ranged = h.headers.get("Range", "")
        if_range = h.headers.get("If-Range")
        if not ranged.startswith("bytes=") or (if_range is not None and if_range != r.etag):
            return _send(h, 200, r.body, r.content_type, {"ETag": r.etag, "Accept-Ranges": "bytes"})
        start = int(ranged[len("bytes="):].split("-")[0])
        if start >= len(r.body):
            return _send(h, 416, b"", "text/plain", {"Content-Range": f"bytes */{len(r.body)}", "ETag": r.etag})
        extra = {"ETag": r.etag, "Content-Range": f"bytes {start}-{len(r.body) - 1}/{len(r.body)}"}
        _send(h, 206, r.body[start:], r.content_type, extra)

    def _tmdb(self, h: BaseHTTPRequestHandler, imdb_id: str, query: dict[str, str]) -> None:
        auth = h.headers.get("Authorization", "")
        key_ok = self.tmdb_api_key is not None and query.get("api_key") == self.tmdb_api_key
        bearer_ok = self.tmdb_bearer is not None and auth == f"Bearer {self.tmdb_bearer}"
        if not (key_ok or bearer_ok):
            return _send_json(h, 401, TMDB_BAD_KEY)
        if query.get("external_source") != "imdb_id":
            return _send_json(h, 400, {"status_code": 5, "status_message": "Invalid parameters", "success": False})
        empty = {"movie_results": [], "person_results": [], "tv_results": [], "tv_episode_results": [], "tv_season_results": []}
        _send_json(h, 200, self.tmdb.get(imdb_id, empty))

    def _omdb(self, h: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        if self.omdb_api_key is None or query.get("apikey") != self.omdb_api_key:
            return _send_json(h, 401, {"Response": "False", "Error": "Invalid API key!"})
        answer = self.omdb.get(query.get("i", ""))
        if answer is None:
            return _send_json(h, 200, {"Response": "False", "Error": "Incorrect IMDb ID."})
        _send_json(h, 200, answer)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its timeout, a test's kill) is expected here, not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _send_half(h: BaseHTTPRequestHandler, r: Route) -> None:
    """Headers announcing the whole body, then only its first half."""
    h.send_response(200)
    h.send_header("Content-Type", r.content_type)
    h.send_header("Content-Length", str(len(r.body)))
    h.end_headers()
    h.wfile.write(r.body[: len(r.body) // 2])
    h.wfile.flush()


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    try:
        h.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout): nothing to answer


def _send_json(h: BaseHTTPRequestHandler, status: int, value: dict) -> None:
    _send(h, status, json.dumps(value).encode(), "application/json;charset=utf-8")
