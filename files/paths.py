"""Path rules of the file spaces.

A path names a place inside one space, relative to its root: "Data/train/a.jsonl".
Clients may write it with a leading "/" (a folder of the upload spec is "/upload/folder"),
doubled or trailing slashes and "." segments; all are normalised away. Refused with a
400: "..", backslashes, Windows drive letters, NUL and other control characters,
bidirectional formatting characters (core.validators),
names over 255 bytes, paths over 1024 characters (or 2048 bytes in UTF-8).
"""

import re

from core.errors import InvalidInput
from core.validators import validate_name_characters

MAX_PATH_CHARS = 1024
MAX_PATH_BYTES = 2048
MAX_NAME_BYTES = 255

DRIVE = re.compile(r"^[A-Za-z]:")


def normalize_path(raw, *, field="path", relative=False):
    """The normalised form of `raw` ("" is the root). `relative`: a leading "/" is refused."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise InvalidInput("must be a string", field=field)
    if len(raw) > MAX_PATH_CHARS:
        raise InvalidInput(f"longer than {MAX_PATH_CHARS} characters", field=field)
    validate_name_characters(raw, field)
    if "\\" in raw:
        raise InvalidInput("backslashes are not allowed; separate folders with /", field=field)
    if DRIVE.match(raw):
        raise InvalidInput("absolute Windows paths are not allowed", field=field)
    if relative and raw.startswith("/"):
        raise InvalidInput("must be relative (no leading /)", field=field)
    parts = []
    for part in raw.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise InvalidInput("'..' is not allowed", field=field)
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise InvalidInput(f"the name {part[:40]!r}... is longer than {MAX_NAME_BYTES} bytes", field=field)
        parts.append(part)
    path = "/".join(parts)
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidInput(f"longer than {MAX_PATH_BYTES} bytes", field=field)
    return path


def join(folder, name):
    """Join two normalised paths."""
    if not folder:
        return name
    if not name:
        return folder
    return f"{folder}/{name}"


def parent_of(path):
    return path.rpartition("/")[0]


def name_of(path):
    return path.rpartition("/")[2]


def ancestors(path):
    """The folders above `path`, outermost first: "a/b/c" -> ["a", "a/b"]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def display(path):
    return "/" + path
