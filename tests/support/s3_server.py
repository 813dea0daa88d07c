"""A real S3-compatible server on 127.0.0.1 for the tests: moto's standalone server, in a process
of its own, at a free port, with one bucket.

    def test_something(s3):                   # s3: an S3Prefix; the environment points at the server
        where = ExperimentLocation(s3.uri("exp"))       # s3://tune-genres-test/<this test's prefix>/exp

- `s3_server` (session): starts `python -m moto.server` once per test run, creates the bucket, and
  stops the server at the end (and if pytest dies first: the server gets SIGTERM with its parent).
- `s3` (each test): the AWS SDKs' variables set as a user sets them (AWS_ENDPOINT_URL_S3,
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), anything of the user's own that
  would lead elsewhere removed, and a prefix of the bucket that no other test uses.

moto 5.2.6 or newer (`moto[server]` in the test extra): older servers fail pyarrow 26's multipart
uploads (CompleteMultipartUpload, INTERNAL_FAILURE). moto checks no signature, so a wrong key is
not refused here; the secret is made up per run so that a test can look for it where it must not be.
Keep tests on it small: Ray's own CI dropped a moto test for its timeouts.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BUCKET = "tune-genres-test"
REGION = "us-east-1"
START_TIMEOUT_S = 30.0
# Variables of the user's own that would send pyarrow elsewhere (a profile, a config, EC2's
# metadata service, whose lookups time out off EC2): removed while a test talks to the server.
UNSET = ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
         "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
         "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """Popen's preexec_fn: SIGTERM when the test process ends, however it ends (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class S3Server:
    """A running moto server: `endpoint` (http://127.0.0.1:PORT), its `bucket`, and `env`, the
    variables that point the AWS SDKs (and pyarrow) at it."""

    process: subprocess.Popen
    port: int
    log: Path
    bucket: str = BUCKET
    secret: str = field(default_factory=lambda: f"test-secret-{uuid.uuid4().hex}")
    access_key: str = field(default_factory=lambda: f"TESTKEY{uuid.uuid4().hex[:12].upper()}")

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host_port}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_DEFAULT_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true"}

    def filesystem(self):
        """pyarrow's S3FileSystem on the server, told everything explicitly (for checks of what a test wrote)."""
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(endpoint_override=self.host_port, scheme="http", region=REGION,
                                 access_key=self.access_key, secret_key=self.secret)

    def objects(self, prefix: str = "", suffix: str = "") -> dict[str, bytes]:
        """Every object under `prefix` of the bucket whose key ends in `suffix` (key below the bucket
        -> content). One deleted between the listing and its read (an old checkpoint Tune drops
        while a sweep runs) is left out."""
        import pyarrow.fs as pafs

        fs = self.filesystem()
        base = f"{self.bucket}/{prefix}".rstrip("/")
        found = {}
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
            if info.type == pafs.FileType.File and info.path.endswith(suffix):
                try:
                    with fs.open_input_stream(info.path) as f:
                        found[info.path[len(self.bucket) + 1:]] = f.read()
                except FileNotFoundError:
                    continue
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_s3_server(folder: Path) -> S3Server:
    """moto's server on a free port of 127.0.0.1, answering, with the bucket made."""
    try:
        import moto  # noqa: F401 (only to say what is missing; the server runs in its own process)
    except ImportError:
        pytest.fail("moto is not installed: the tests need `moto[server]>=5.2.6` (pip install -e '.[test]')")
    last = ""
    for _ in range(3):  # a free port can be taken between finding it and the server binding it
        port = free_port()
        log = folder / f"moto-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                       stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        server = S3Server(process, port, log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        if process.poll() is None and time.monotonic() < deadline:
            # moto checks no signature: a plain PUT makes the bucket.
            urllib.request.urlopen(urllib.request.Request(f"{server.endpoint}/{server.bucket}", method="PUT"), timeout=10)
            return server
        last = log.read_text(errors="replace")[-2000:]
        server.stop()
    pytest.fail(f"moto's server did not start on 127.0.0.1:\n{last}")


@dataclass
class S3Prefix:
    """One test's part of the bucket: `uri(*parts)` is s3://BUCKET/PREFIX/parts; `server` the server."""

    server: S3Server
    prefix: str

    def uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.server.bucket}/{self.prefix}", *parts])

    def objects(self) -> dict[str, bytes]:
        """Every object this test wrote (key below its prefix -> content)."""
        return {key[len(self.prefix) + 1:]: data for key, data in self.server.objects(self.prefix).items()}


@pytest.fixture(scope="session")
def s3_server():
    with tempfile.TemporaryDirectory(prefix="tg-moto-") as folder:
        server = start_s3_server(Path(folder))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch, request):
    """The environment pointed at the server as a user points it; a prefix of the bucket of this test's own."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return S3Prefix(s3_server, f"{name}-{uuid.uuid4().hex[:8]}")
