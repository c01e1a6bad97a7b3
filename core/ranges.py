"""Serving stored files over HTTP: single byte ranges (RFC 9110), HEAD, If-Range, and the
hand-off to a reverse proxy (X-Accel-Redirect for nginx, X-Sendfile for Apache) when
DOWNLOAD_ACCEL says one is in front.

- parse_range(header, size): (start, end) inclusive, None to send the whole file (no header,
  a malformed one, another unit, several ranges: all ignored, as RFC 9110 allows), or
  Unsatisfiable (416) when the range starts past the end or asks for the last 0 bytes.
- serve_stored_file(request, ...): the response for a file in default_storage.
"""

import re
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

RANGE = re.compile(r"^bytes=(\d*)-(\d*)\Z")
CHUNK = 1024 * 1024


class Unsatisfiable(Exception):
    pass


def parse_range(header, size):
    match = RANGE.match((header or "").strip())
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size - 1)


def requested_range(request, size, etag=None):
    """The range to send for this request: None (whole file) or (start, end); honours If-Range."""
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and etag is not None and if_range != etag:
        return None
    return parse_range(header, size)


def stream_range(handle, start, length, chunk=CHUNK):
    """Yield `length` bytes of an open file from `start`, then close it."""
    try:
        if start:
            handle.seek(start)
        remaining = length
        while remaining > 0:
            data = handle.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        handle.close()


def accel_headers(storage_name):
    """The proxy hand-off headers for a file of default_storage, or None to stream it here
    (DOWNLOAD_ACCEL=none, or storage that is not a local filesystem)."""
    mode = settings.DOWNLOAD_ACCEL
    if mode == "none":
        return None
    try:
        local = Path(default_storage.path(storage_name))
    except NotImplementedError:
        return None
    if mode == "nginx":
        prefix = settings.DOWNLOAD_ACCEL_PREFIX.rstrip("/")
        return {"X-Accel-Redirect": f"{prefix}/{quote(storage_name)}", "X-Accel-Buffering": "no"}
    if mode == "apache":
        return {"X-Sendfile": str(local)}
    return None


def serve_stored_file(request, *, storage_name, size, etag, content_type, filename, headers=None, inline=True):
    """A file of default_storage: 200 or 206 with Content-Range, 416 when unsatisfiable,
    HEAD without a body; behind a proxy (DOWNLOAD_ACCEL) the proxy sends the bytes and
    answers the Range itself. Returns (response, range) so callers can count downloads."""
    common = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Type": content_type,
        "Content-Disposition": content_disposition_header(not inline, filename) if filename else None,
        **(headers or {}),
    }
    common = {k: v for k, v in common.items() if v is not None}
    try:
        byte_range = requested_range(request, size, etag)
    except Unsatisfiable:
        return HttpResponse(status=416, headers={**common, "Content-Range": f"bytes */{size}"}), None
    start, end = byte_range if byte_range else (0, size - 1)
    length = max(0, end - start + 1)
    status = 206 if byte_range else 200
    ranged = {"Content-Range": f"bytes {start}-{end}/{size}"} if byte_range else {}
    if request.method == "HEAD":
        return HttpResponse(status=status, headers={**common, **ranged, "Content-Length": str(length)}), byte_range
    accel = accel_headers(storage_name)
    if accel is not None:
        # The proxy serves the file (and the Range, from the request it keeps) at disk speed.
        return HttpResponse(status=200, headers={**common, **accel}), byte_range
    handle = default_storage.open(storage_name, "rb")
    if byte_range is None:
        # FileResponse hands the open file to the server's wsgi.file_wrapper (sendfile under gunicorn).
        response = FileResponse(handle, as_attachment=not inline, filename=filename or "", headers=common)
        response["Content-Length"] = str(size)
        return response, None
    response = StreamingHttpResponse(
        stream_range(handle, start, length), status=status, headers={**common, **ranged, "Content-Length": str(length)}
    )
    return response, byte_range
