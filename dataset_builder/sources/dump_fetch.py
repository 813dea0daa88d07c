"""Fetch IMDb's dataset dumps: resumable (HTTP Range) and atomic.

Each file downloads into `.NAME.part` beside its final name. An interrupted fetch keeps the part;
the next run asks only for the rest (`Range: bytes=N-`, with `If-Range` naming the version it
began with, so a file IMDb has since replaced restarts instead of being spliced). The finished
file is checked (size, gzip header) and renamed into place, so `NAME` is always whole.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

from ..errors import BadInput
from ..net import NetFailure, exception_failure, is_retryable, status_failure, with_retries
from .imdb_dumps import DUMP_FILES

IMDB_DUMPS_URL = "https://datasets.imdbws.com/"
CHUNK = 1 << 20


def fetch_dumps(
    dest: Path,
    base_url: str = IMDB_DUMPS_URL,
    files: tuple[str, ...] = DUMP_FILES,
    refresh: bool = False,
    retries: int = 5,
    timeout: tuple[float, float] = (10.0, 60.0),
) -> list[Path]:
    """Fetch `files` from `base_url` into `dest`; an existing whole file is kept unless `refresh`."""
    if not base_url.startswith(("http://", "https://")):
        raise BadInput(f"--base-url {base_url}: expected an http:// or https:// URL")
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest}: exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    base = base_url if base_url.endswith("/") else base_url + "/"
    done = []
    with requests.Session() as session:
        for name in files:
            final = dest / name
            if final.is_file() and not refresh:
                print(f"{final}: already here ({final.stat().st_size:,} bytes); --refresh fetches it again")
            else:
                url = base + name
                try:
                    with_retries(lambda: _fetch_once(session, url, final, timeout), retries, backoff_s=2.0)
                except NetFailure as e:
                    resume = "; the part fetched so far is kept: rerun to resume" if is_retryable(e.reason) else ""
                    raise BadInput(f"{e.detail or e.reason}{resume}") from None
            done.append(final)
    return done


def _fetch_once(session: requests.Session, url: str, final: Path, timeout: tuple[float, float]) -> None:
    part = final.with_name(f".{final.name}.part")
    meta = final.with_name(f".{final.name}.part.json")  # the version the part belongs to
    have = part.stat().st_size if part.exists() else 0
    validator = json.loads(meta.read_text()).get("validator") if have and meta.exists() else None
    # The bytes as stored: a server that labels .gz files Content-Encoding: gzip must not have
    # them unpacked on the way (the part's size would no longer match the file's).
    headers = {"Accept-Encoding": "identity"}
    if have and validator:
        headers |= {"Range": f"bytes={have}-", "If-Range": validator}
    try:
        with session.get(url, headers=headers, stream=True, timeout=timeout) as r:
            if r.status_code == 416 and have:
                # The part is already the whole file: nothing left to ask for.
                total = _total_from_content_range(r.headers.get("Content-Range"))
                if total != have:
                    _discard(part, meta)
                    raise NetFailure("reset", f"{url}: the server has a different version; starting over")
                return _finish(part, meta, final, have)
            if r.status_code not in (200, 206):
                raise status_failure(r, url)
            if r.status_code == 200:
                have = 0  # a full answer: the server ignored the Range or the file changed
            elif _start_from_content_range(r.headers.get("Content-Range")) != have:
                _discard(part, meta)
                raise NetFailure("reset", f"{url}: the server resumed at the wrong byte; starting over")
            total = have + int(r.headers["Content-Length"]) if "Content-Length" in r.headers else None
            validator = r.headers.get("ETag") or r.headers.get("Last-Modified")
            meta.write_text(json.dumps({"validator": validator, "url": url}))
            with open(part, "r+b" if have else "wb") as f, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=final.name
            ) as bar:
                f.seek(have)
                f.truncate()
                for chunk in r.raw.stream(CHUNK, decode_content=False):
                    f.write(chunk)
                    bar.update(len(chunk))
                f.flush()
                os.fsync(f.fileno())
            size = part.stat().st_size
            if total is not None and size != total:
                raise NetFailure("reset", f"{url}: got {size:,} of {total:,} bytes")
            return _finish(part, meta, final, size)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as e:
        raise exception_failure(e, url) from None


def _finish(part: Path, meta: Path, final: Path, size: int) -> None:
    try:
        with gzip.open(part, "rb") as f:
            f.read(1 << 16)
    except (OSError, EOFError, zlib.error) as e:
        _discard(part, meta)
        raise BadInput(f"{final}: the downloaded file is not gzip ({e}); check --base-url") from None
    os.replace(part, final)
    meta.unlink(missing_ok=True)
    print(f"{final}: fetched ({size:,} bytes)")


def _discard(part: Path, meta: Path) -> None:
    part.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)


def _start_from_content_range(value: str | None) -> int | None:
    # "bytes 100-199/12345" -> 100
    try:
        return int(value.split()[1].split("-")[0]) if value else None
    except (IndexError, ValueError):
        return None


def _total_from_content_range(value: str | None) -> int | None:
    # "bytes */12345" on a 416; "bytes 0-99/12345" otherwise.
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1]
    return int(total) if total.isdigit() else None
