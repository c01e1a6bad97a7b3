"""Serving a stored file with HTTP Range support (video players seek with it)."""

import re

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, StreamingHttpResponse

RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)\Z")
CHUNK = 64 * 1024


def _parse_range(header, size):
    """(start, end) inclusive, None for no usable range, or "unsatisfiable"."""
    match = RANGE_PATTERN.match(header.strip())
    if not match or (not match[1] and not match[2]):
        return None  # malformed or multi-range: ignored, the whole file is sent (RFC 9110)
    if match[1]:
        start = int(match[1])
        end = int(match[2]) if match[2] else size - 1
        if start >= size or end < start:
            return "unsatisfiable"
        return start, min(end, size - 1)
    suffix = int(match[2])
    if suffix == 0:
        return "unsatisfiable"
    return max(0, size - suffix), size - 1


def _stream(handle, length):
    try:
        while length > 0:
            data = handle.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        handle.close()


def ranged_file_response(request, name, download_name, content_type="video/mp4"):
    size = default_storage.size(name)
    header = request.META.get("HTTP_RANGE", "")
    wanted = _parse_range(header, size) if header else None
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    handle = default_storage.open(name, "rb")
    if wanted is None:
        response = FileResponse(handle, content_type=content_type, filename=download_name)
        response["Content-Length"] = str(size)
    else:
        start, end = wanted
        handle.seek(start)
        response = StreamingHttpResponse(_stream(handle, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        response["Content-Disposition"] = f'inline; filename="{download_name}"'
    response["Accept-Ranges"] = "bytes"
    return response
