"""The first rows of a stored file, for the hub's and the file spaces' file pages (as the Hugging
Face Hub's dataset viewer shows them).

`preview(name=..., size=..., open_file=...)` reads at most a bounded prefix of the file (Parquet: the
first rows of its first row group) and answers a dict the template `partials/preview.html` shows:
- kind "table": `columns` and `rows` (strings, each cut to CELL_CHARS) of CSV/TSV, JSON Lines, a
  JSON array of objects, or Parquet; `more` when the file has rows past the ones shown;
- kind "markdown": `html`, rendered and sanitised (core.markdown: no script, no event handlers);
- kind "text": `text` (JSON pretty-printed when it parses), `truncated` when only a prefix is shown;
- kind "image": a PNG, JPEG, GIF or WebP shown by its download URL (never SVG, which can hold script);
- kind "none": `reason` (binary, empty, or a format without a preview), lazily translated (shown in the page's language).
Nothing here trusts the file: every cell is text the template escapes, sizes are capped, and a file
that does not parse as its extension says is shown as text or not at all, never as a 500.
"""

import csv
import io
import json

from django.utils.translation import gettext_lazy as _

from core.markdown import render_markdown

PREVIEW_ROWS = 50
TEXT_BYTES = 64 * 1024
TABLE_BYTES = 1024 * 1024
JSON_BYTES = 1024 * 1024
CELL_CHARS = 200
MAX_COLUMNS = 50
PARQUET_MAX_BYTES = 4 * 1024**3
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
TEXT_TYPES = {".txt", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", ".log", ".gitattributes", ".md",
              ".json", ".jsonl", ".csv", ".tsv", ".html", ".xml", ".js", ".css", ".rst", ".tex", ".r", ".sql"}


def _extension(name):
    name = name.lower()
    if "." not in name.rsplit("/", 1)[-1]:
        return "." + name.rsplit("/", 1)[-1] if name.rsplit("/", 1)[-1] in {"license", "readme", "makefile"} else ""
    return "." + name.rsplit(".", 1)[-1]


def _cell(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            value = str(value)
    return value if len(value) <= CELL_CHARS else value[: CELL_CHARS - 1] + "…"


def _decode(raw):
    """Text of a prefix, or None for binary data (a NUL, or not UTF-8 apart from a cut last character)."""
    if b"\0" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3:
            return raw[: exc.start].decode("utf-8")
        return None


def _read(open_file, limit):
    with open_file() as handle:
        return handle.read(limit + 1)


def _table(columns, rows, more):
    columns = [_cell(c) for c in columns[:MAX_COLUMNS]]
    return {"kind": "table", "columns": columns, "rows": [[_cell(v) for v in row[:MAX_COLUMNS]] for row in rows],
            "more": more}


def _csv(text, cut, delimiter):
    lines = text.splitlines()
    if cut and lines:
        lines = lines[:-1]  # the last line may be cut in the middle
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, [])
        rows = []
        for row in reader:
            if len(rows) == PREVIEW_ROWS:
                return _table(header, rows, True)
            rows.append(row)
    except csv.Error:
        return None
    return _table(header, rows, cut)


def _records(objects, more):
    columns = []
    for obj in objects:
        for key in obj:
            if key not in columns:
                columns.append(key)
    return _table(columns, [[obj.get(c) for c in columns] for obj in objects], more)


def _jsonl(text, cut):
    lines = [line for line in text.splitlines() if line.strip()]
    if cut and lines:
        lines = lines[:-1]
    objects = []
    for line in lines:
        if len(objects) == PREVIEW_ROWS:
            return _records(objects, True)
        try:
            value = json.loads(line)
        except ValueError:
            return None
        objects.append(value if isinstance(value, dict) else {"value": value})
    return _records(objects, cut)


def _parquet(open_file, size):
    import pyarrow.parquet as pq  # only when a Parquet file is shown: pyarrow is large to import

    if size > PARQUET_MAX_BYTES:
        return {"kind": "none", "reason": _("too large to preview")}
    with open_file() as handle:
        try:
            parquet = pq.ParquetFile(handle)
            total = parquet.metadata.num_rows
            batch = next(parquet.iter_batches(batch_size=PREVIEW_ROWS), None)
        except Exception:  # pyarrow raises several kinds on a damaged or non-Parquet file
            return {"kind": "none", "reason": _("not a readable Parquet file")}
        if batch is None:
            return _table(parquet.schema_arrow.names, [], False)
        rows = batch.to_pylist()
    columns = list(rows[0].keys()) if rows else []
    table = _table(columns, [[row.get(c) for c in columns] for row in rows], total > len(rows))
    table["total"] = total
    return table


def preview(*, name, size, open_file):
    """The preview dict of a file `name` of `size` bytes; `open_file()` opens it for reading (binary)."""
    extension = _extension(name)
    if size == 0:
        return {"kind": "none", "reason": _("empty file")}
    if extension in IMAGE_TYPES:
        return {"kind": "image"}
    if extension == ".parquet":
        return _parquet(open_file, size)
    limit = TABLE_BYTES if extension in {".csv", ".tsv", ".jsonl", ".json"} else TEXT_BYTES
    raw = _read(open_file, limit)
    cut = len(raw) > limit or size > limit
    text = _decode(raw[:limit])
    if text is None:
        return {"kind": "none", "reason": _("binary file")}
    table = None
    if extension in {".csv", ".tsv"}:
        table = _csv(text, cut, "\t" if extension == ".tsv" else ",")
    elif extension == ".jsonl":
        table = _jsonl(text, cut)
    elif extension == ".json" and not cut:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value[:PREVIEW_ROWS]):
            table = _records(value[:PREVIEW_ROWS], len(value) > PREVIEW_ROWS)
        elif value is not None:
            text = json.dumps(value, indent=2, ensure_ascii=False)[:TEXT_BYTES]
    if table is not None:
        return table
    if extension == ".md":
        return {"kind": "markdown", "html": render_markdown(text[:TEXT_BYTES]), "truncated": cut}
    return {"kind": "text", "text": text[:TEXT_BYTES], "truncated": cut or len(text) > TEXT_BYTES}
