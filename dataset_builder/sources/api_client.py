"""A JSON API client fit for poster APIs: rate limited, retried, cached on disk, and discreet.

- Rate limit: requests are spaced evenly, across all threads; a 429's Retry-After pauses everyone.
- Retries: 429, 5xx and network failures, with backoff (net.with_retries).
- Cache: answers are appended to a JSON-lines file as they arrive, so a rerun (even after a
  kill) asks nothing twice. Only answers are kept there (a URL, or "" for "no poster"); never
  keys, never failures.
- Secrets: an API key may travel in a URL; no message this module makes ever contains a URL
  with its query, and `redact` scrubs the secrets from anything else that must be shown.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import requests

from ..net import Cancelled, NetFailure, exception_failure, status_failure, with_retries, RETRYABLE_STATUS


class RateLimiter:
    """At most `per_second` acquisitions a second, evenly spaced, shared by every thread."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event | None = None) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise Cancelled()

    def pause(self, seconds: float) -> None:
        """The server asked everyone to wait (Retry-After): no slot before then."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


class ApiClient:
    """GETs JSON from one API; `name` (e.g. "TMDb") stands for it in every message."""

    def __init__(
        self,
        name: str,
        secrets: list[str],
        rate_per_s: float = 20.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        timeout: tuple[float, float] = (5.0, 20.0),
        headers: dict[str, str] | None = None,
        stop: threading.Event | None = None,
    ):
        self.name = name
        self.secrets = [s for s in secrets if s]
        self.limiter = RateLimiter(rate_per_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout = timeout
        self.stop = stop or threading.Event()
        self.session = requests.Session()
        self.session.headers.update(headers or {})

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def get_json(self, url: str, params: dict[str, str], what: str) -> tuple[int, dict]:
        """(status, JSON body) of a GET, after retries; `what` names the request in messages.

        Retryable failures that outlast the retries raise NetFailure; any other status is
        returned for the caller to interpret (APIs put their reasons in the body).
        """

        def once() -> tuple[int, dict]:
            self.limiter.wait(self.stop)
            try:
                r = self.session.get(url, params=params, timeout=self.timeout)
            except requests.RequestException as e:
                raise exception_failure(e, f"{self.name} {what}") from None
            if r.status_code in RETRYABLE_STATUS:
                raise status_failure(r, f"{self.name} {what}")
            try:
                body = r.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            return r.status_code, body

        try:
            return with_retries(once, self.retries, self.backoff_s, self.stop, on_retry_after=self.limiter.pause)
        except NetFailure as e:
            raise NetFailure(e.reason, self.redact(e.detail), e.retry_after) from None


class AnswerCache:
    """id -> answer ("" = none), on disk as JSON lines, one namespace per resolver setting.

    The namespace holds what changes an answer (the API and image bases, the width), so a
    changed setting asks again instead of reusing answers that no longer fit.
    """

    def __init__(self, path: Path | None, namespace: str):
        self.path = path
        self.namespace = namespace
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._file = None
        if path is not None and path.is_file():
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by a kill: that answer is asked again
                    if isinstance(entry, dict) and entry.get("ns") == namespace:
                        self._answers[str(entry["id"])] = str(entry["answer"])

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str) -> str | None:
        return self._answers.get(key)

    def put(self, key: str, answer: str) -> None:
        with self._lock:
            self._answers[key] = answer
            if self.path is None:
                return
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(json.dumps({"ns": self.namespace, "id": key, "answer": answer}) + "\n")
            # Flushed per answer: a kill loses at most the answer being written.
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                os.fsync(self._file.fileno())
                self._file.close()
                self._file = None
