"""THE way the tools read a small file a user may have broken (a record, a sweep file): anything
wrong with it is one BadInput line naming the file, what was expected, and how to fix it.

The counterpart of atomic.py: what the tools write is whole, but a user can still hand-edit,
truncate, copy over or lose permission on it, and a traceback tells them none of that.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import BadInput


def read_bytes(path: Path) -> bytes:
    """The file's bytes; BadInput when it cannot be read (no permission, a folder, an I/O error)."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise BadInput(f"{path}: cannot read it ({e.strerror or e})") from None


def decode_utf8(data: bytes, path, remedy: str) -> str:
    """`data` as text; bytes that are not UTF-8 -> BadInput saying where the first one is."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line, column = before.count(b"\n") + 1, e.start - (before.rfind(b"\n") + 1) + 1
        raise BadInput(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at line {line} column {column}); {remedy}") from None


def read_text(path: Path, remedy: str) -> str:
    """The UTF-8 text of `path`; BadInput (naming the file and `remedy`) when it cannot be read or is not UTF-8."""
    return decode_utf8(read_bytes(path), path, remedy)


def read_json_object(path: Path, remedy: str, required: dict[str, type | tuple[type, ...]] | None = None) -> dict | None:
    """The JSON object in `path`, or None when there is no such file.

    One BadInput line naming the file, what is wrong and `remedy` (what the user can do about it)
    when it cannot be read, is not UTF-8, not JSON or not an object, or lacks one of the `required`
    keys (each with the type its value must have).
    """
    if not path.is_file():
        return None
    return parse_json_object(read_text(path, remedy), path, remedy, required)


def parse_json_object(text: str, where, remedy: str, required: dict[str, type | tuple[type, ...]] | None = None) -> dict:
    """The JSON object in `text`, read from `where` (a path or a URI, named in each message);
    BadInput as read_json_object says. For files that do not come from the local disk."""
    if not text.strip():
        raise BadInput(f"{where}: empty, expected a JSON object; {remedy}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"{where}: not valid JSON (line {e.lineno} column {e.colno}): {e.msg}; {remedy}") from None
    if not isinstance(value, dict):
        raise BadInput(f"{where}: expected a JSON object {{...}}, found {json_type(value)}; {remedy}")
    for key, kinds in (required or {}).items():
        if key not in value:
            raise BadInput(f"{where}: no key {key!r}; {remedy}")
        if not is_of(value[key], kinds):
            expected = " or ".join(dict.fromkeys(JSON_TYPES[kind] for kind in as_tuple(kinds)))
            raise BadInput(f"{where}: {key} should be {expected}, found {json_type(value[key])} "
                           f"{json.dumps(value[key])[:40]}; {remedy}")
    return value


# JSON's types as a user reads them (int and float are both a JSON number).
JSON_TYPES = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
              bool: "true or false", type(None): "null"}


def json_type(value) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def is_of(value, kinds: type | tuple[type, ...]) -> bool:
    """isinstance, except that true and false are not numbers (Python's bool is an int)."""
    if isinstance(value, bool):
        return bool in as_tuple(kinds)
    return isinstance(value, kinds)
