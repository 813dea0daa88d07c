"""Where an experiment lives: a local path, or a URI pyarrow opens (s3://, gs://), as one type.

    ExperimentLocation("~/tune-genres/experiments/paper")        a folder on this machine (file:// too)
    ExperimentLocation("s3://bucket/exps/paper")                  an object store, with each node's credentials
    ExperimentLocation("s3://bucket/exps?endpoint_override=127.0.0.1:9000&scheme=http")   an S3-compatible server

Every reader and writer of an experiment asks it (join, read, write whole, list, exists, delete);
no other code decides "local or remote" by looking at the string.

- Local: pathlib, and writes through dataset_builder/atomic.py (a temporary name, then a rename),
  so a reader never sees half a file. Its pyarrow filesystem (for Ray Tune's
  `storage_filesystem`) writes the same way (results/atomic_filesystem.py).
- Remote: pyarrow.fs. An object store replaces a whole object on each write, so a reader sees
  the old object or the new one, never half. pyarrow is imported only when a remote location is
  first used (a machine without Ray, the GPU one, reads local experiments without it).
- S3-compatible endpoints the AWS SDKs' way: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`
  (`http://HOST:PORT`), and `AWS_DEFAULT_REGION` (or `AWS_REGION`); an `?endpoint_override=`,
  `scheme=` or `region=` on the URI wins. pyarrow 26's `FileSystem.from_uri` reads the endpoint
  variables itself, but its `S3FileSystem(...)` does not (it went to s3.amazonaws.com): they are
  put on the URI before pyarrow sees it, so every way of opening reaches the same server.
- Credentials only from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
  `AWS_SESSION_TOKEN`) or the node's own profile or role. A URI that carries them (`s3://KEY:SECRET@...`,
  `?secret_key=`) is refused: the URI is printed, written into the experiment's records, and
  pickled with the filesystem into Tune's saved state (pyarrow pickles explicit keys). No string
  this type returns, prints or raises holds a secret; pyarrow's own messages are scrubbed of the
  environment's secrets too (`without_secrets`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path, PurePath
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from dataset_builder.atomic import AtomicFile, write_atomic
from dataset_builder.errors import BadInput
from dataset_builder.reading import decode_utf8, parse_json_object, read_bytes as read_local_bytes

# The AWS SDKs' standard variables for an S3-compatible server, the most specific first.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REGION_VARIABLES = ("AWS_DEFAULT_REGION", "AWS_REGION")
# Whose values never appear in anything shown (the access key id is no secret, but is kept out too).
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
# pyarrow's URI query keys that carry credentials.
SECRET_QUERY_KEYS = ("access_key", "secret_key", "session_token")
CREDENTIALS_HINT = ("put credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or the "
                    "node's profile or role, never in the URI: it is printed and written into the experiment")
# scheme://..., but not a Windows drive; `s3:/bucket` is what pathlib makes of `s3://bucket`.
URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
COLLAPSED_URI = re.compile(r"^(s3|gs|gcs):/(?!/)")


def without_secrets(text: str, environ=None) -> str:
    """`text` with the values of the environment's AWS credentials replaced by ***."""
    environ = os.environ if environ is None else environ
    for name in SECRET_VARIABLES:
        value = environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def endpoint_from_environment(environ=None) -> dict[str, str]:
    """pyarrow's endpoint_override and scheme for AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL ({} if unset)."""
    environ = os.environ if environ is None else environ
    for name in ENDPOINT_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            parts = urlsplit(value if "://" in value else f"https://{value}")
            return {"endpoint_override": parts.netloc + parts.path.rstrip("/"), "scheme": parts.scheme}
    return {}


def region_from_environment(environ=None) -> str | None:
    environ = os.environ if environ is None else environ
    return next((environ[name] for name in REGION_VARIABLES if environ.get(name)), None)


def first_line(error: BaseException) -> str:
    return without_secrets(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)


def absolute(path: Path) -> Path:
    """`path` made absolute, its symlinks kept (not resolved): messages name the folder the user
    gave, and /proc/PID/root/... (a folder in another mount namespace) still leads there."""
    return Path(os.path.abspath(path))


class _Opened:
    """The pyarrow filesystem a location and the locations joined from it share, opened once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fs = None
        self.base = ""  # what the URI's path is below in fs (s3://, gs://: the bucket)


class ExperimentLocation:
    """A folder or file of an experiment, local or in an object store; see the module's docstring.

    `rel` arguments are relative paths below this location, '/'-separated (no '..')."""

    def __init__(self, where: str | os.PathLike | ExperimentLocation):
        if isinstance(where, ExperimentLocation):
            self.__dict__.update(where.__dict__)
            return
        text = os.fspath(where)
        if isinstance(where, PurePath) and COLLAPSED_URI.match(text):
            text = COLLAPSED_URI.sub(r"\1://", text)  # a URI that went through pathlib: s3:/bucket/...
        self._local: Path | None = None
        if text.startswith("file://"):
            parts = urlsplit(text)
            if parts.netloc not in ("", "localhost"):
                raise BadInput(f"{text}: a file:// URI names a path on this machine (file:///path), not on {parts.netloc}")
            self._local = absolute(Path(unquote(parts.path)))
        elif URI.match(text):
            self._parse_remote(text)
        else:
            if not text:
                raise BadInput("an empty path: expected a folder or a URI such as s3://bucket/experiments")
            self._local = absolute(Path(text).expanduser())

    def _parse_remote(self, text: str) -> None:
        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if "@" in parts.netloc or any(key in SECRET_QUERY_KEYS for key, _ in query):
            shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
            raise BadInput(f"{shown}: the URI holds credentials; {CREDENTIALS_HINT}")
        if not parts.netloc:
            raise BadInput(f"{text}: no bucket; expected {parts.scheme}://BUCKET/PREFIX")
        self._scheme = parts.scheme.lower()
        self._netloc = parts.netloc
        self._path = "/".join(p for p in parts.path.split("/") if p)
        self._query = tuple(query)
        self._opened = _Opened()

    # -- what it is ------------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        return self._local is not None

    @property
    def uri(self) -> str:
        """The absolute path of a local location; the URI of a remote one (its query kept, no secret in it)."""
        if self._local is not None:
            return str(self._local)
        text = f"{self._scheme}://{self._netloc}" + (f"/{self._path}" if self._path else "")
        return text + (f"?{urlencode(self._query, safe=':/')}" if self._query else "")

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"ExperimentLocation({self.uri!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ExperimentLocation) and self.uri == other.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __reduce__(self):
        # The URI is all of it (never a secret); the opened filesystem is opened again where it lands.
        return ExperimentLocation, (self.uri,)

    @property
    def local_path(self) -> Path:
        """The folder on this machine; ValueError for a location in an object store."""
        if self._local is None:
            raise ValueError(f"{self}: not on a local disk")
        return self._local

    @property
    def name(self) -> str:
        """The last part of its path (a bucket's root: the bucket)."""
        if self._local is not None:
            return self._local.name
        return self._path.rpartition("/")[2] if self._path else self._netloc

    @property
    def parent(self) -> ExperimentLocation:
        if self._local is not None:
            return ExperimentLocation(self._local.parent)
        parent = self._copy(self._path.rpartition("/")[0])
        parent._opened = _Opened()  # above the origin: opened on its own
        return parent

    def join(self, *parts: str) -> ExperimentLocation:
        """The location `parts` below this one: join("trial", "trial.json") or join("trial/trial.json")."""
        segments = [s for part in parts for s in str(part).split("/") if s not in ("", ".")]
        if ".." in segments:
            raise ValueError(f"{self}: '..' in {'/'.join(map(str, parts))}: a location only goes down")
        if not segments:
            return self
        if self._local is not None:
            return ExperimentLocation(self._local.joinpath(*segments))
        return self._copy("/".join([self._path, *segments]) if self._path else "/".join(segments))

    def __truediv__(self, part: str) -> ExperimentLocation:
        return self.join(part)

    def _copy(self, path: str) -> ExperimentLocation:
        copy = object.__new__(ExperimentLocation)
        copy.__dict__.update(self.__dict__)
        copy._path = path
        return copy

    def _at(self, rel: str) -> ExperimentLocation:
        return self.join(rel) if rel else self

    # -- the filesystem --------------------------------------------------------------------------

    def filesystem(self):
        """(pyarrow filesystem, this location's path in it): what Ray Tune takes as
        `storage_filesystem` and `storage_path`. Local: atomic writes (results/atomic_filesystem.py)."""
        if self._local is not None:
            import pyarrow.fs as pafs

            from .atomic_filesystem import AtomicWrites

            return pafs.PyFileSystem(AtomicWrites()), str(self._local)
        opened = self._opened
        with opened.lock:
            if opened.fs is None:
                import pyarrow.fs as pafs

                try:
                    fs, path = pafs.FileSystem.from_uri(self.pyarrow_uri())
                except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
                    raise BadInput(f"{self}: pyarrow cannot open it ({first_line(e)})") from None
                # What the URI's path is below, in the filesystem (s3://, gs://: the bucket).
                if self._path and not path.rstrip("/").endswith(self._path):
                    raise BadInput(f"{self}: pyarrow opens it as {path!r}, which this tool cannot join paths in")
                opened.base = path.rstrip("/")[: len(path.rstrip("/")) - len(self._path)].rstrip("/")
                opened.fs = fs
        return opened.fs, "/".join(p for p in (opened.base, self._path) if p)

    def pyarrow_uri(self) -> str:
        """The URI as pyarrow is given it: for s3://, the environment's endpoint and region added
        where the URI names none. Not for showing: it is the URI plus what the environment says."""
        query = dict(self._query)
        if self._scheme == "s3":
            if "endpoint_override" not in query:
                for key, value in endpoint_from_environment().items():
                    query.setdefault(key, value)
            region = region_from_environment()
            if "region" not in query and region:
                query["region"] = region
        text = f"{self._scheme}://{self._netloc}" + (f"/{self._path}" if self._path else "")
        return text + (f"?{urlencode(query, safe=':/')}" if query else "")

    def _info(self):
        fs, path = self.filesystem()
        try:
            return fs.get_file_info(path)
        except OSError as e:
            raise OSError(f"{self}: cannot look there ({first_line(e)})") from None

    # -- what is there ---------------------------------------------------------------------------

    def exists(self, rel: str = "") -> bool:
        at = self._at(rel)
        if at._local is not None:
            return at._local.exists()
        return at._info().type.name != "NotFound"

    def is_dir(self, rel: str = "") -> bool:
        """A folder; in an object store, a prefix with objects under it (or a folder marker)."""
        at = self._at(rel)
        if at._local is not None:
            return at._local.is_dir()
        return at._info().type.name == "Directory"

    def is_file(self, rel: str = "") -> bool:
        at = self._at(rel)
        if at._local is not None:
            return at._local.is_file()
        return at._info().type.name == "File"

    def entries(self, rel: str = "") -> list[tuple[str, bool]]:
        """(name, is a folder) of everything directly below, in name order; [] where nothing is."""
        at = self._at(rel)
        if at._local is not None:
            try:
                with os.scandir(at._local) as found:
                    return sorted((e.name, e.is_dir()) for e in found)
            except (FileNotFoundError, NotADirectoryError):
                return []
        import pyarrow.fs as pafs

        fs, path = at.filesystem()
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
        except OSError as e:
            raise OSError(f"{at}: cannot list it ({first_line(e)})") from None
        found = {(info.base_name, info.type == pafs.FileType.Directory) for info in infos if info.base_name}
        return sorted(found)

    def list(self, rel: str = "") -> list[str]:
        """The names of the files and folders directly below, in name order; [] where nothing is."""
        return [name for name, _ in self.entries(rel)]

    def folders(self, pattern: str = "*", rel: str = "") -> list[ExperimentLocation]:
        """The folders directly below whose names match `pattern` (fnmatch), in name order."""
        at = self._at(rel)
        return [at.join(name) for name, folder in at.entries() if folder and fnmatch.fnmatchcase(name, pattern)]

    def glob(self, pattern: str) -> list[ExperimentLocation]:
        """What matches `pattern` below, one fnmatch pattern per level ("*/params.json",
        "checkpoint_*"; no "**"), in order of their URIs. A level without wildcards is looked up,
        not listed (one request per candidate on an object store)."""
        current = [self]
        segments = [s for s in pattern.split("/") if s not in ("", ".")]
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            if any(c in segment for c in "*?["):
                current = [loc.join(name) for loc in current for name, folder in loc.entries()
                           if (last or folder) and fnmatch.fnmatchcase(name, segment)]
            else:
                current = [loc.join(segment) for loc in current]
                current = [loc for loc, there in zip(current, exist_all(current)) if there]
        return sorted(current, key=str)

    # -- reading ---------------------------------------------------------------------------------

    def read_bytes(self, rel: str = "") -> bytes:
        """The file's bytes; BadInput naming it when it cannot be read (missing, a folder, no permission)."""
        at = self._at(rel)
        if at._local is not None:
            return read_local_bytes(at._local)
        fs, path = at.filesystem()
        try:
            with fs.open_input_stream(path) as f:
                return f.read()
        except FileNotFoundError:
            raise BadInput(f"{at}: cannot read it (no such object)") from None
        except OSError as e:
            raise BadInput(f"{at}: cannot read it ({first_line(e)})") from None

    def read_text(self, rel: str, remedy: str) -> str:
        """The UTF-8 text of the file; BadInput (naming it and `remedy`) when it cannot be read or is not UTF-8."""
        at = self._at(rel)
        return decode_utf8(at.read_bytes(), at, remedy)

    def read_json(self, rel: str, remedy: str, required: dict | None = None) -> dict | None:
        """The JSON object in the file, or None when there is none; one BadInput line naming it (the
        URI, no secret in it) and `remedy` when it is broken (dataset_builder/reading.py's rules)."""
        at = self._at(rel)
        if at._local is not None:
            if not at._local.is_file():
                return None
            data = at.read_bytes()
        else:
            fs, path = at.filesystem()
            try:
                with fs.open_input_stream(path) as f:
                    data = f.read()
            except FileNotFoundError:
                return None
            except OSError as e:
                raise BadInput(f"{at}: cannot read it ({first_line(e)})") from None
        return parse_json_object(decode_utf8(data, at, remedy), at, remedy, required)

    def download(self, rel: str, destination: Path) -> Path:
        """A copy of the file or folder on this machine, at `destination` (for what must be read
        from a local file: a checkpoint for torch.load)."""
        at = self._at(rel)
        destination = Path(destination)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if at._local is not None:
            if at._local.is_dir():
                shutil.copytree(at._local, destination, dirs_exist_ok=True)
            else:
                shutil.copy2(at._local, destination)
            return destination
        import pyarrow.fs as pafs

        fs, path = at.filesystem()
        try:
            if at.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
            pafs.copy_files(path, str(destination), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        except OSError as e:
            raise BadInput(f"{at}: cannot copy it to {destination} ({first_line(e)})") from None
        return destination

    # -- writing ---------------------------------------------------------------------------------

    def write_bytes(self, rel: str, data: bytes) -> None:
        """The file, whole: locally under a temporary name then renamed, in an object store one
        whole object. OSError (naming the location) when it cannot be written."""
        at = self._at(rel)
        if at._local is not None:
            at._local.parent.mkdir(parents=True, exist_ok=True)
            with AtomicFile(at._local) as f:
                f.write(data)
            return
        fs, path = at.filesystem()
        try:
            with fs.open_output_stream(path) as f:
                f.write(data)
        except OSError as e:
            raise OSError(f"{at}: cannot write it ({first_line(e)})") from None

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def write_json(self, rel: str, data) -> None:
        """`data` as indented JSON ending in a newline: the form of every JSON file the tools write."""
        self.write_text(rel, json.dumps(data, indent=2) + "\n")

    def write_file(self, rel: str, write: Callable[[Path], object]) -> None:
        """For writers that want a path (pandas' to_csv, matplotlib's savefig): write(temporary
        path), then put it in place whole (locally a rename; remotely one upload)."""
        at = self._at(rel)
        if at._local is not None:
            at._local.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(at._local, write)
            return
        with tempfile.TemporaryDirectory(prefix="tune-genres-") as folder:
            staged = Path(folder) / at.name
            write(staged)
            at.write_bytes("", staged.read_bytes())

    def delete(self, rel: str = "") -> None:
        """Remove the file, or the folder and everything in it; nothing there is no error."""
        at = self._at(rel)
        if at._local is not None:
            if at._local.is_dir() and not at._local.is_symlink():
                shutil.rmtree(at._local)
            else:
                at._local.unlink(missing_ok=True)
            return
        fs, path = at.filesystem()
        kind = at._info().type.name
        try:
            if kind == "Directory":
                fs.delete_dir(path)
            elif kind == "File":
                fs.delete_file(path)
        except FileNotFoundError:
            pass  # gone meanwhile
        except OSError as e:
            raise OSError(f"{at}: cannot delete it ({first_line(e)})") from None


def exist_all(locations: list[ExperimentLocation]) -> list[bool]:
    """Whether each location exists: on an object store one get_file_info call for those that share a filesystem."""
    if not locations:
        return []
    if any(loc.is_local for loc in locations) or len({id(loc._opened) for loc in locations}) > 1:
        return [loc.exists() for loc in locations]
    fs, _ = locations[0].filesystem()
    paths = [loc.filesystem()[1] for loc in locations]
    try:
        return [info.type.name != "NotFound" for info in fs.get_file_info(paths)]
    except OSError as e:
        raise OSError(f"{locations[0].parent}: cannot look there ({first_line(e)})") from None


# What the readers and writers of an experiment take: a path, a URI, or a location.
Where = str | os.PathLike | ExperimentLocation


def location(where: Where) -> ExperimentLocation:
    """`where` as an ExperimentLocation (one given is returned as it is)."""
    return where if isinstance(where, ExperimentLocation) else ExperimentLocation(where)
