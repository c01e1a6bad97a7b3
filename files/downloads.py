"""Streaming a stored file over HTTP, with single byte ranges (RFC 9110) and validators.

Range parsing, streaming and the hand-off to a reverse proxy (DOWNLOAD_ACCEL) are
core.ranges.serve_stored_file, shared with the hub's resolve route."""

import mimetypes

from django.http import HttpResponse
from django.utils.http import content_disposition_header, http_date

from core.ranges import serve_stored_file


def file_response(request, node):
    content_type = mimetypes.guess_type(node.name)[0] or "application/octet-stream"
    etag = f'"{node.sha256}"'
    last_modified = http_date(node.modified_at.timestamp())
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
        response["Accept-Ranges"] = "bytes"
        response["ETag"] = etag
        response["Last-Modified"] = last_modified
        response["Content-Disposition"] = content_disposition_header(True, node.name)
        return response
    response, _ = serve_stored_file(
        request,
        storage_name=node.storage_name,
        size=node.size,
        etag=etag,
        content_type=content_type,
        filename=node.name,
        headers={"Last-Modified": last_modified},
        inline=False,
    )
    return response
