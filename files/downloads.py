"""Streaming a stored file over HTTP, with single byte ranges (RFC 9110) and validators."""

import mimetypes
import re

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date

CHUNK = 512 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse_range(header, size):
    """(start, end) inclusive for a single byte range, or None to send the whole file.

    Multiple ranges and malformed headers are ignored (the whole file is an allowed answer).
    """
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


def _read_range(handle, start, length):
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _common_headers(response, node):
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = f'"{node.sha256}"'
    response["Last-Modified"] = http_date(node.modified_at.timestamp())
    response["Content-Disposition"] = content_disposition_header(True, node.name)
    return response


def file_response(request, node):
    content_type = mimetypes.guess_type(node.name)[0] or "application/octet-stream"
    etag = f'"{node.sha256}"'
    if request.headers.get("If-None-Match") == etag:
        return _common_headers(HttpResponse(status=304), node)
    byte_range = None
    if_range = request.headers.get("If-Range")
    if "Range" in request.headers and (if_range is None or if_range == etag):
        try:
            byte_range = parse_range(request.headers["Range"], node.size)
        except Unsatisfiable:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{node.size}"
            return _common_headers(response, node)
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type)
        response["Content-Length"] = str(node.size)
        return _common_headers(response, node)
    handle = default_storage.open(node.storage_name, "rb")
    if byte_range is None:
        response = FileResponse(handle, content_type=content_type)
        response["Content-Length"] = str(node.size)
        return _common_headers(response, node)
    start, end = byte_range
    length = end - start + 1
    response = StreamingHttpResponse(_read_range(handle, start, length), status=206, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{node.size}"
    return _common_headers(response, node)
