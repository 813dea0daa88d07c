"""The retry policy every network path shares: which failures are worth another try, and when.

The downloader, the poster-API client and the dump fetcher all turn a failed request into a
NetFailure with a short countable reason (http-404, timeout, reset, ...) and retry the same
ones, the same way: exponential backoff with jitter, or the server's own Retry-After.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import TypeVar

import requests
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from .errors import PosterError

# 408/425/429 say "later"; 5xx are the server's own trouble. Anything else 4xx will not change.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Reasons a rerun tries again; every other reason is an answer that a rerun would get again.
RETRYABLE_REASONS = frozenset({"timeout", "reset", "connection"} | {f"http-{s}" for s in RETRYABLE_STATUS})
# Never wait longer than this for one Retry-After: past it, give up now and let a rerun try.
MAX_RETRY_AFTER_S = 60.0

T = TypeVar("T")


class NetFailure(PosterError):
    """A request that failed, with the reason it is counted under and the server's Retry-After."""

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None):
        super().__init__(reason, detail)
        self.retry_after = retry_after


class Cancelled(Exception):
    """The run is stopping (Ctrl-C): abandon this request, record nothing for it."""


def is_retryable(reason: str) -> bool:
    return reason in RETRYABLE_REASONS


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_failure(response: requests.Response, what: str) -> NetFailure:
    """A non-success HTTP answer as a NetFailure (reason http-<status>), keeping its Retry-After."""
    return NetFailure(
        f"http-{response.status_code}",
        f"HTTP {response.status_code} {response.reason or ''} from {what}".replace("  ", " "),
        retry_after_seconds(response.headers.get("Retry-After")),
    )


def exception_failure(e: Exception, what: str) -> NetFailure:
    """A requests (or urllib3, when streaming raw) exception as a NetFailure with a countable reason.

    `what` names the target in the detail; callers that hold secrets pass a redacted name and
    redact the result, since requests puts the full URL (query included) into its messages.
    """
    if isinstance(e, (requests.Timeout, ReadTimeoutError)) or (
        # A read timeout while streaming the body arrives as ConnectionError(ReadTimeoutError).
        isinstance(e, requests.ConnectionError) and e.args and isinstance(e.args[0], ReadTimeoutError)
    ):
        return NetFailure("timeout", f"timed out: {what}")
    if isinstance(e, (requests.exceptions.ChunkedEncodingError, ProtocolError)):
        return NetFailure("reset", f"connection broken mid-body: {what}")
    if isinstance(e, requests.TooManyRedirects):
        return NetFailure("too-many-redirects", f"too many redirects: {what}")
    if isinstance(e, (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema, requests.exceptions.InvalidURL)):
        return NetFailure("bad-url", f"not an http(s) URL after redirects: {what}")
    if isinstance(e, requests.ConnectionError):
        text = str(e)
        if "reset" in text.lower() or "RemoteDisconnected" in text or "aborted" in text.lower():
            return NetFailure("reset", f"connection reset: {what}")
        return NetFailure("connection", f"cannot connect: {what}")
    return NetFailure("error", f"{type(e).__name__}: {what}")


def backoff_delay(attempt: int, base_s: float) -> float:
    """Exponential backoff with full jitter, so many workers that failed together do not retry together."""
    return random.uniform(0.5, 1.0) * base_s * (2**attempt)


def with_retries(
    call: Callable[[], T],
    retries: int,
    backoff_s: float,
    stop: threading.Event | None = None,
    on_retry_after: Callable[[float], None] | None = None,
) -> T:
    """Run `call` until it succeeds, fails for good, or has been retried `retries` times.

    `call` raises NetFailure; a retryable one is tried again after its Retry-After (when the
    server sent one; `on_retry_after` hears it, to pause other workers too) or after backoff.
    A Retry-After beyond MAX_RETRY_AFTER_S ends the tries at once: a rerun will try later.
    """
    attempt = 0
    while True:
        try:
            return call()
        except NetFailure as failure:
            if not is_retryable(failure.reason) or attempt >= retries:
                raise
            delay = failure.retry_after
            if delay is not None:
                if delay > MAX_RETRY_AFTER_S:
                    raise
                if on_retry_after:
                    on_retry_after(delay)
            else:
                delay = backoff_delay(attempt, backoff_s)
            attempt += 1
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise Cancelled() from None


def finished_batches(pool: Executor, call: Callable[[T], object], items: Iterable[T], running: dict[Future, T],
                     limit: int, poll_s: float = 0.5) -> Iterator[set[Future]]:
    """Run call(item) on `pool` for every item, at most `limit` submitted at once; yield what finishes.

    Bounded, so a million items are never a million futures. `running` (future -> item) is the
    caller's: it pops what it handles, and after an interrupt it still knows what was in flight.
    Each batch comes within `poll_s` (possibly empty), so the caller can save progress and the
    main thread can take Ctrl-C.
    """
    queue = iter(items)
    while True:
        while len(running) < limit and (item := next(queue, None)) is not None:
            running[pool.submit(call, item)] = item
        if not running:
            return
        done, _ = wait(running, timeout=poll_s, return_when=FIRST_COMPLETED)
        yield done
