"""The poster downloader: URLs in, a raw collection out, resumable and safe to interrupt.

Many threads fetch at once, at most `per_host` at a time from any one host. Each image is
streamed under a byte cap, decoded fully by images.open_poster (the same checks every source
gets), and written under a temporary name then renamed, so images/ never holds a partial file.
posters.csv and failures.csv are rewritten atomically every few seconds and at the end (also on
Ctrl-C): not-yet-fetched titles carry the status "pending". A rerun into the same folder keeps
every image already there and fetches only what is missing, pending, or failed for a reason
worth retrying (timeout, reset, 429, 5xx): a 404 or a broken image is not asked for twice.

With --overwrite of an existing collection, the download goes into a sibling, .RAW.replacing,
which a rerun of the same command resumes, and replaces RAW only once complete (no poster left
worth retrying): until then the old collection stays whole.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm

from .atomic import TEMPORARY_GLOB
from .destination import Inputs, check_destination, holds_only, remove_leftovers, replace_dir
from .errors import BadInput, PosterError
from .images import open_poster
from .net import Cancelled, NetFailure, exception_failure, finished_batches, is_retryable, status_failure, with_retries
from .raw import IMAGES_DIR, OK, PENDING, POSTERS_CSV, RAW_COLLECTION, Failure, Poster, RawCollection, read_raw, summary, write_tables
from .workers import DOWNLOAD_WORKERS, add_workers_argument, check_workers, download_workers_help

TEMP_MARK = ".part-"  # temporary image files: ".<id>.part-<pid>-<thread>"
USER_AGENT = "tune-genres-dataset-builder/0.1 (poster downloader; python-requests)"
# Leading bytes of the formats posters come in -> the extension the file is saved under.
MAGIC = [(b"\xff\xd8\xff", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"RIFF", ".webp"), (b"BM", ".bmp")]


@dataclass
class DownloadOptions:
    workers: int = DOWNLOAD_WORKERS  # threads; more than per_host so that several hosts are served at once
    per_host: int = 8  # concurrent requests to one host: polite, and enough for 200+ posters/s
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0  # between two bytes
    total_timeout_s: float = 120.0  # for a whole image: a server trickling bytes counts as a timeout
    retries: int = 3  # per image, within this run, for retryable failures
    backoff_s: float = 0.5  # first retry after ~0.5 s, then 1, 2, ...
    max_bytes: int = 20 * 2**20  # an image larger than this is refused (a real poster is < 5 MB)
    checkpoint_s: float = 10.0  # rewrite posters.csv/failures.csv this often


def add_download_arguments(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    """The downloader's flags, shared by every command that downloads.

    `workers=False` for a command that already has its own --workers (its value, when given,
    is then the number of posters downloaded at once too).
    """
    d = DownloadOptions()
    g = parser.add_argument_group("downloading")
    if workers:
        add_workers_argument(g, download_workers_help())
    g.add_argument("--per-host", type=int, default=d.per_host, help=f"concurrent requests to one host (default {d.per_host})")
    g.add_argument("--connect-timeout", type=float, default=d.connect_timeout_s, help=f"seconds (default {d.connect_timeout_s:g})")
    g.add_argument("--read-timeout", type=float, default=d.read_timeout_s, help=f"seconds between bytes (default {d.read_timeout_s:g})")
    g.add_argument("--retries", type=int, default=d.retries, help=f"tries again per image on timeouts, resets, 429 and 5xx (default {d.retries})")
    g.add_argument("--max-mb", type=float, default=d.max_bytes / 2**20, help=f"largest image accepted, in MiB (default {d.max_bytes / 2**20:g})")
    g.add_argument("--checkpoint", type=float, default=d.checkpoint_s, help=f"seconds between saves of posters.csv (default {d.checkpoint_s:g})")


def download_options(args: argparse.Namespace) -> DownloadOptions:
    check_workers(args.workers)
    workers = args.workers if args.workers is not None else DownloadOptions().workers
    if args.per_host < 1:
        raise BadInput(f"--per-host {args.per_host}: expected at least 1")
    for flag in ("connect_timeout", "read_timeout", "max_mb", "checkpoint"):
        if getattr(args, flag) <= 0:
            raise BadInput(f"--{flag.replace('_', '-')} {getattr(args, flag)}: expected a positive number")
    if args.retries < 0:
        raise BadInput(f"--retries {args.retries}: expected 0 or more")
    return DownloadOptions(
        workers=workers, per_host=args.per_host, connect_timeout_s=args.connect_timeout,
        read_timeout_s=args.read_timeout, retries=args.retries, max_bytes=int(args.max_mb * 2**20),
        checkpoint_s=args.checkpoint,
    )


# A download with --overwrite into an existing collection goes into this sibling, .RAW.replacing: a
# rerun of the same command resumes it, and it replaces RAW once complete.
STAGING = "replacing"


@dataclass(frozen=True)
class DownloadFolder:
    """Where a download goes: `raw_dir` itself, or the staging sibling that will replace it."""

    raw_dir: Path  # the collection named on the command line
    folder: Path  # where this run downloads

    @property
    def staged(self) -> bool:
        return self.folder != self.raw_dir


def staging_folder(raw_dir: Path) -> Path:
    return raw_dir.absolute().with_name(f".{raw_dir.absolute().name}.{STAGING}")


def check_folder(raw_dir: Path, overwrite: bool = False, inputs: Inputs | None = None) -> DownloadFolder:
    """Where to download `raw_dir`; a folder that may not be written is refused before any work.

    Without `overwrite`, RAW itself: new, or an earlier run's collection to resume in place.
    With `overwrite` of an existing collection, its staging sibling: the old collection stays
    whole until the new one is complete (see `download_collection`).
    """
    if not overwrite and holds_only(raw_dir, RAW_COLLECTION):
        return DownloadFolder(raw_dir, raw_dir)  # resumed: nothing there is deleted
    replacing = check_destination(raw_dir, overwrite, inputs) is not None
    return DownloadFolder(raw_dir, staging_folder(raw_dir) if replacing else raw_dir)


def prepare_folder(target: DownloadFolder) -> None:
    """Make the download folder ready, removing what killed runs left beside RAW and in the folder."""
    remove_leftovers(target.raw_dir)
    (target.folder / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    for leftover in target.folder.glob(TEMPORARY_GLOB):
        leftover.unlink()  # a table being rewritten when a run was killed (atomic.write_csv_atomic)


@dataclass
class DownloadReport:
    collection: RawCollection
    fetched: int = 0  # images downloaded and written by this run
    kept: int = 0  # images an earlier run had already written
    known_failures: int = 0  # failures of an earlier run not worth asking again
    failed: Counter = field(default_factory=Counter)  # this run's failures by reason
    bytes: int = 0
    seconds: float = 0.0
    hosts: int = 0
    replacing_later: Path | None = None  # --overwrite: RAW, kept whole because the new collection is not complete

    def summary(self) -> str:
        return self._downloads() + self._replacement()

    def _replacement(self) -> str:
        if self.replacing_later is None:
            return ""
        return (f" {self.replacing_later} still holds its old collection: the new one replaces it once no poster "
                f"is left worth retrying; rerun the same command to go on.")

    def _downloads(self) -> str:
        tried = self.fetched + sum(self.failed.values())
        earlier = (f"{self.kept} posters were already there from an earlier run and {self.known_failures} "
                   f"earlier failures were not asked again")
        if not tried:
            return f"Nothing left to download: {earlier}. " + summary(self.collection, "Collection")
        rate = self.fetched / self.seconds if self.seconds > 0 else 0.0
        failures = ", ".join(f"{n} {reason}" for reason, n in self.failed.most_common()) or "none"
        retryable = sum(n for reason, n in self.failed.items() if is_retryable(reason))
        return (
            f"Downloaded {self.fetched} of {tried} posters tried ({self.bytes / 2**20:.1f} MiB from {self.hosts} "
            f"host(s)) in {self.seconds:.1f} s, {rate:.1f} posters/s on this machine; {earlier}. "
            f"Failures this run: {failures}"
            + (f" ({retryable} worth retrying: rerun the same command)" if retryable else "")
            + ". "
            + summary(self.collection, "Collection")
        )


def image_extension(data: bytes) -> str:
    for magic, ext in MAGIC:
        if data.startswith(magic):
            return ext
    return ".jpg"


class Downloader:
    """Fetches, validates and writes images; one instance per run."""

    def __init__(self, images_dir: Path, options: DownloadOptions, stop: threading.Event):
        self.images_dir = images_dir
        self.o = options
        self.stop = stop
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.max_redirects = 5
        adapter = HTTPAdapter(pool_connections=64, pool_maxsize=options.per_host, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._hosts_lock = threading.Lock()

    @property
    def hosts_seen(self) -> int:
        return len(self._hosts)

    def host_slots(self, host: str) -> threading.BoundedSemaphore:
        with self._hosts_lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(self.o.per_host)
            return self._hosts[host]

    def fetch(self, poster: Poster) -> tuple[str, int]:
        """Download, validate and write one poster: (file relative to the collection, bytes), or PosterError."""
        url = poster.url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PosterError("bad-url", f"{url!r}: only http and https URLs are fetched")
        slots = self.host_slots(parts.hostname)

        def once() -> bytes:
            with slots:
                return self._get(url)

        data = with_retries(once, self.o.retries, self.o.backoff_s, self.stop)
        try:
            open_poster(data)  # full decode: PosterError (not-an-image, truncated, too-small, too-large, ...)
        except PosterError:
            raise
        except Exception as e:  # a decoder bug on one odd file must not end a run of thousands
            raise PosterError("corrupt", f"{url}: {type(e).__name__}: {e}") from None
        name = poster.id + image_extension(data)
        tmp = self.images_dir / f".{poster.id}{TEMP_MARK}{os.getpid()}-{threading.get_ident()}"
        tmp.write_bytes(data)
        # No fsync: a killed process loses nothing that was renamed; only a power cut could.
        os.replace(tmp, self.images_dir / name)
        return f"{IMAGES_DIR}/{name}", len(data)

    def _get(self, url: str) -> bytes:
        if self.stop.is_set():
            raise Cancelled()
        started = time.monotonic()
        try:
            with self.session.get(url, stream=True, timeout=(self.o.connect_timeout_s, self.o.read_timeout_s)) as r:
                final = urlsplit(r.url)
                if final.scheme not in ("http", "https"):
                    raise NetFailure("bad-url", f"{url} redirected to a non-http URL")
                if r.status_code != 200:
                    raise status_failure(r, url)
                declared = r.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.o.max_bytes:
                    raise NetFailure("too-large", f"{url}: {int(declared):,} bytes declared, over the {self.o.max_bytes:,} byte cap")
                body = bytearray()
                for chunk in r.iter_content(64 * 1024):
                    if self.stop.is_set():
                        raise Cancelled()
                    body += chunk
                    if len(body) > self.o.max_bytes:
                        raise NetFailure("too-large", f"{url}: over the {self.o.max_bytes:,} byte cap")
                    if time.monotonic() - started > self.o.total_timeout_s:
                        raise NetFailure("timeout", f"{url}: not whole after {self.o.total_timeout_s:g} s")
                return bytes(body)
        except requests.RequestException as e:
            raise exception_failure(e, url) from None


def _plan(posters: list[Poster], raw_dir: Path, known: dict[str, Failure]) -> tuple[list[Poster], int, int, dict[str, Failure]]:
    """Decide, for each poster, whether an earlier run settled it; return those to fetch.

    Returns (to fetch, kept images, known failures, failures to carry over by id).
    """
    images = raw_dir / IMAGES_DIR
    on_disk: dict[str, str] = {}
    for entry in os.scandir(images):
        if entry.name.startswith("."):
            if TEMP_MARK in entry.name:
                os.unlink(entry.path)  # left by a killed run: never a finished image
            continue
        on_disk[os.path.splitext(entry.name)[0]] = entry.name
    earlier: dict[str, Poster] = {}
    earlier_failures: dict[str, Failure] = {}
    if (raw_dir / POSTERS_CSV).is_file():
        previous = read_raw(raw_dir)
        earlier = {p.id: p for p in previous.posters}
        earlier_failures = {f.id: f for f in previous.failures}
    todo: list[Poster] = []
    kept = repeated = 0
    carried = dict(known)
    for p in posters:
        if p.status != OK:
            continue  # failed before download (no URL found): its failure is in `known`
        before = earlier.get(p.id)
        same_url = before is not None and before.url == p.url
        if not p.url:
            p.status = "no-url"
            carried[p.id] = Failure(p.id, "no-url", "no poster URL")
        elif p.id in on_disk and (before is None or same_url):
            # Written atomically by an earlier run, so whole (posters.csv may predate it: a kill).
            p.file, p.status = f"{IMAGES_DIR}/{on_disk[p.id]}", OK
            kept += 1
        elif same_url and before.status not in (OK, PENDING) and not is_retryable(before.status):
            p.status = before.status
            carried[p.id] = earlier_failures.get(p.id) or Failure(p.id, before.status, "")
            repeated += 1
        else:
            p.status, p.file = PENDING, ""
            todo.append(p)
    return todo, kept, repeated, carried


def download_collection(
    posters: list[Poster],
    raw_dir: str | os.PathLike | DownloadFolder,
    options: DownloadOptions | None = None,
    known_failures: list[Failure] | tuple[Failure, ...] = (),
    overwrite: bool = False,
    skipped: list[Failure] | tuple[Failure, ...] = (),
    inputs: Inputs | None = None,
) -> DownloadReport:
    """Download every poster's `url` into the raw collection at `raw_dir` (resuming an earlier run).

    `posters` need an id, genres and a url; one whose status is already a failure reason (its
    URL could not be found) is written as is, with its record from `known_failures`. `skipped`:
    rows of the source table left out before download (duplicates), recorded in failures.csv.
    `overwrite` and `inputs` go to `check_folder`, unless `raw_dir` is what it returned already.
    Returns the report; its `summary()` is the paragraph to print. Ctrl-C saves the tables, then re-raises.
    """
    options = options or DownloadOptions()
    _check_unique_ids(posters)
    target = raw_dir if isinstance(raw_dir, DownloadFolder) else check_folder(Path(raw_dir), overwrite, inputs)
    prepare_folder(target)
    run = _plan_run(posters, target.folder, known_failures, skipped)
    run.save()  # from the start, posters.csv lists every title, those still to fetch as pending
    _fetch_all(run, options)  # on Ctrl-C, saves what is done and re-raises
    run.save()
    if target.staged:
        replace_when_complete(target, run.report)
    return run.report


def _check_unique_ids(posters: list[Poster]) -> None:
    seen: set[str] = set()
    for p in posters:
        if p.id in seen:
            raise BadInput(f"duplicate id {p.id} in the posters to download")
        seen.add(p.id)


@dataclass
class _Run:
    """One download in progress: every title, those left to fetch, and the tables saved as it goes."""

    folder: Path  # RAW, or the staging folder that will replace it
    posters: list[Poster]  # every title, in order; each one's status and file change as it is fetched
    todo: list[Poster]
    failures: dict[str, Failure]  # by id: this run's, and an earlier run's not worth asking again
    skipped: tuple[Failure, ...]
    report: DownloadReport

    def save(self) -> None:
        """Rewrite posters.csv and failures.csv (atomically) as they stand now."""
        ordered = [self.failures[p.id] for p in self.posters if p.id in self.failures] + list(self.skipped)
        write_tables(self.folder, self.posters, ordered)
        self.report.collection = RawCollection(self.folder, self.posters, ordered)

    def record(self, poster: Poster, fetched: Future) -> None:
        """A finished fetch: the poster's file, or its failure, counted in the report."""
        try:
            rel, size = fetched.result()
        except PosterError as e:
            poster.file, poster.status = "", e.reason
            self.failures[poster.id] = Failure(poster.id, e.reason, e.detail)
            self.report.failed[e.reason] += 1
            return
        poster.file, poster.status = rel, OK
        self.report.fetched += 1
        self.report.bytes += size


def _plan_run(posters: list[Poster], folder: Path, known_failures, skipped) -> _Run:
    """What an earlier run in `folder` settled is kept; the rest is left to fetch."""
    todo, kept, repeated, carried = _plan(posters, folder, {f.id: f for f in known_failures})
    report = DownloadReport(RawCollection(folder, posters), kept=kept, known_failures=repeated)
    return _Run(folder, posters, todo, carried, tuple(skipped), report)


def _fetch_all(run: _Run, o: DownloadOptions) -> None:
    """Fetch `run.todo` on `o.workers` threads, saving the tables every `o.checkpoint_s`."""
    stop = threading.Event()
    downloader = Downloader(run.folder / IMAGES_DIR, o, stop)
    running: dict[Future, Poster] = {}
    bar = tqdm(total=len(run.todo), desc="download", unit="poster", smoothing=0.1, disable=not run.todo)
    pool = ThreadPoolExecutor(o.workers, thread_name_prefix="download")
    started = last_save = time.monotonic()
    try:
        for done in finished_batches(pool, downloader.fetch, run.todo, running, o.workers * 2):
            for future in done:
                run.record(running.pop(future), future)
                bar.update()
            bar.set_postfix(ok=run.report.fetched, failed=sum(run.report.failed.values()), refresh=False)
            if time.monotonic() - last_save > o.checkpoint_s:
                run.save()
                last_save = time.monotonic()
    except BaseException:
        _save_on_interrupt(run, stop, pool, running, bar)
        raise
    pool.shutdown(wait=True)
    bar.close()
    run.report.seconds = time.monotonic() - started
    run.report.hosts = downloader.hosts_seen


def _save_on_interrupt(run: _Run, stop: threading.Event, pool: ThreadPoolExecutor,
                       running: dict[Future, Poster], bar: tqdm) -> None:
    """Ctrl-C (or anything else): let the requests in flight end, keep the posters they wrote, save."""
    stop.set()
    pool.shutdown(wait=True, cancel_futures=True)
    for future, p in running.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            p.file, p.status = future.result()[0], OK
    bar.close()
    run.save()
    done_now = sum(1 for p in run.posters if p.status == OK)
    print(f"download stopped: {done_now} usable posters saved in {run.folder}; rerun the same command to fetch the rest")


def replace_when_complete(target: DownloadFolder, report: DownloadReport) -> None:
    """Put a staged collection in place of the old one, unless posters are left worth retrying
    (a server that went down midway): then the old one stays whole and a rerun goes on."""
    if any(is_retryable(p.status) for p in report.collection.posters):
        report.replacing_later = target.raw_dir
        return
    replace_dir(target.folder, target.raw_dir, replacing=True)
    report.collection.root = target.raw_dir
