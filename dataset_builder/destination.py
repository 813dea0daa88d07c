"""The folder a command writes: whether it may be written, and how it is put in place whole.

Every command that writes a folder (synthetic, import, imdb, build, eda) checks it before any
work with `prepare_destination`:

- missing or empty: written;
- a folder dataset-builder wrote (a built dataset, a raw collection, an EDA report: known by a
  manifest.json, posters.csv or report.md it wrote) and nothing else: replaced with
  --overwrite, refused without;
- anything else: refused, --overwrite or not. --overwrite replaces only what dataset-builder
  wrote; it never deletes a file of someone else's, nor a folder holding the command's own
  inputs (the RAW of build, the --csv and --images of import, ...).

The new folder is written in a hidden sibling, .NAME.<label>-<pid>-<random>, and renamed into
place when whole (`replace_dir`); an old one is moved aside to .NAME.old-<pid>-<random> and
removed only after. A killed run leaves such siblings behind: the next run on that destination
removes those whose process is gone.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .atomic import TEMPORARY_GLOB
from .errors import BadInput

# Labels of the hidden siblings (.NAME.<label>-<pid>-<random>) a run removes when it is done.
LEFTOVER_LABELS = ("building", "writing", "eda", "old")

# The command's inputs, by how the command line names them ("RAW", "--csv"): None when not given.
Inputs = Mapping[str, "str | os.PathLike | None"]


@dataclass(frozen=True)
class FolderKind:
    """A folder dataset-builder writes: how to recognise one, and every name it may hold."""

    what: str  # how messages name it: "a built dataset"
    holds_marker: Callable[[Path], bool]  # whether a folder holds this kind's marker file, written by dataset-builder
    entries: tuple[str, ...]  # glob patterns of the names such a folder holds

    def foreign(self, names: Iterable[str]) -> list[str]:
        """The names this kind never writes (an atomic write's temporary file is one it does)."""
        patterns = self.entries + (TEMPORARY_GLOB,)
        return [n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def known_kinds() -> tuple[FolderKind, ...]:
    # Each format names its own folder's contents, and writes through this module: read lazily.
    from .eda import EDA_REPORT
    from .raw import RAW_COLLECTION
    from .store import DATASET

    return DATASET, RAW_COLLECTION, EDA_REPORT


@dataclass(frozen=True)
class Contents:
    """What a non-empty folder holds: the kind whose marker it has (None: none), and the rest."""

    kind: FolderKind | None
    foreign: list[str]  # names that kind does not write; every name when kind is None


def contents_of(folder: Path) -> Contents | None:
    """What `folder` holds; None when it is missing or empty."""
    names = sorted(os.listdir(folder)) if folder.is_dir() else []
    if not names:
        return None
    matches = [(kind.foreign(names), kind) for kind in known_kinds() if kind.holds_marker(folder)]
    if not matches:
        return Contents(None, names)
    foreign, kind = min(matches, key=lambda match: len(match[0]))
    return Contents(kind, foreign)


def holds_only(folder: Path, kind: FolderKind) -> bool:
    """Whether `folder` is a `kind` holding nothing else."""
    contents = contents_of(folder)
    return contents is not None and contents.kind == kind and not contents.foreign


def check_destination(dest: Path, overwrite: bool, inputs: Inputs | None = None) -> FolderKind | None:
    """Refuse, before any work and touching nothing, a destination this command may not write.

    Returns the kind of folder that --overwrite will replace, None when `dest` is missing or
    empty (nothing is replaced).
    """
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest}: exists and is not a folder")
    contents = contents_of(dest)
    if contents is None:
        return None
    check_inputs_outside(dest, inputs)
    if contents.foreign:
        held = f"{contents.kind.what} and " if contents.kind else ""
        raise BadInput(
            f"{dest}: holds {held}{count_names(dest, contents.foreign)} not written by dataset-builder "
            f"({list_names(dest, contents.foreign)}); --overwrite replaces only what dataset-builder wrote: "
            f"choose another folder, or empty this one yourself"
        )
    if not overwrite:
        raise BadInput(f"{dest}: already holds {contents.kind.what}; pass --overwrite to replace it")
    return contents.kind


def check_inputs_outside(dest: Path, inputs: Inputs | None) -> None:
    """Refuse a destination that is, or is above, one of the command's inputs: replacing it would delete them."""
    folder = dest.resolve()
    for flag, path in (inputs or {}).items():
        if path is not None and is_inside(Path(path).resolve(), folder):
            raise BadInput(
                f"{dest}: holds this command's input {flag} ({path}), which replacing {dest} would delete; "
                f"choose another folder"
            )


def is_inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it (both resolved)."""
    return path == folder or folder in path.parents


def count_names(folder: Path, names: list[str]) -> str:
    """'2 files and 1 folder'."""
    folders = sum((folder / n).is_dir() for n in names)
    counts = [plural(len(names) - folders, "file")] if len(names) > folders else []
    return " and ".join(counts + ([plural(folders, "folder")] if folders else []))


def list_names(folder: Path, names: list[str], shown: int = 3) -> str:
    """'a.txt, b.md, data/, ...': at most `shown` of them, a folder's name ending in /."""
    listed = [n + "/" * (folder / n).is_dir() for n in names[:shown]]
    return ", ".join(listed + (["..."] if len(names) > shown else []))


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def prepare_destination(dest: Path, overwrite: bool, inputs: Inputs | None = None) -> bool:
    """check_destination, then remove what killed runs left beside `dest`; True when it will be replaced."""
    replacing = check_destination(dest, overwrite, inputs) is not None
    remove_leftovers(dest)
    return replacing


def temp_sibling(dest: Path, label: str) -> Path:
    """A fresh hidden folder beside `dest` (the same filesystem, so the final rename is atomic),
    named with this process's id so that a later run can tell whether its writer still runs."""
    dest = dest.absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{dest.name}.{label}-{os.getpid()}-", dir=dest.parent))


def replace_dir(tmp: Path, dest: Path, replacing: bool) -> None:
    """Move the finished folder `tmp` into place as `dest`.

    `replacing` (the check found a folder to replace): the old one is moved aside first and
    removed once `tmp` is in place. Otherwise `dest` must still be missing or empty: when
    another run put its own there meanwhile, that one stands and this raises BadInput.
    """
    aside = move_aside(dest) if replacing else None
    try:
        os.replace(tmp, dest)
    except OSError as e:
        if aside is not None:
            put_back(aside, dest)
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise BadInput(f"{dest}: another run finished writing it first; its result stands") from None
        raise
    if aside is not None:
        remove_tree(aside)


def move_aside(dest: Path) -> Path | None:
    """Rename `dest` to a hidden sibling; None when it is gone (another run is replacing it too)."""
    aside = dest.absolute().with_name(f".{dest.absolute().name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(dest, aside)
    except FileNotFoundError:
        return None
    return aside


def put_back(aside: Path, dest: Path) -> None:
    """Undo move_aside after a failed swap; when another run's folder took the place, the old one goes."""
    try:
        os.replace(aside, dest)
    except OSError:
        remove_tree(aside)


def remove_leftovers(dest: Path) -> None:
    """Remove the hidden siblings of `dest` left by runs that were killed, saying so in one line.

    A sibling whose writer still runs on this host (its pid is alive) is left alone.
    """
    dest = dest.absolute()
    if not dest.parent.is_dir():
        return
    removed = []
    for entry in sorted(dest.parent.iterdir()):
        pid = writer_pid(entry.name, dest.name)
        if pid is not None and not pid_alive(pid):
            size = size_of(entry)
            remove_tree(entry)
            removed.append(f"{entry.name} ({size / 2**20:.1f} MiB)")
    if removed:
        print(f"dataset-builder: removed {', '.join(removed)} beside {dest.name}: left by a run that was killed",
              file=sys.stderr)


def writer_pid(name: str, dest_name: str) -> int | None:
    """The pid in a leftover's name .DEST.<label>-<pid>-<random>; None for any other name."""
    for label in LEFTOVER_LABELS:
        prefix = f".{dest_name}.{label}-"
        if name.startswith(prefix):
            pid, dash, _ = name[len(prefix):].partition("-")
            if dash and pid.isdigit() and int(pid) > 0:
                return int(pid)
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def remove_tree(path: Path) -> None:
    """Remove a folder and everything in it; a link (dest was one) goes alone, never what it points to."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def size_of(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    return sum((Path(root) / name).lstat().st_size for root, _, files in os.walk(path) for name in files)
