"""Receiving file uploads, for the spec facade and the clean API.

A request carries one or several files. To upload a whole folder, a client also sends one
relative path per file, in the same order ("Data/train/a.jsonl", the browser's
webkitRelativePath): Django keeps only the last component of a multipart file name, so a
path cannot travel in the file name itself.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler

from core.errors import InvalidInput, TooLarge

from .services import Upload, human_bytes, max_upload_bytes, target_path


class SizeCapHandler(FileUploadHandler):
    """Stops receiving a file as soon as it passes the per-file limit, before it fills the disk."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = max_upload_bytes()
        self.received = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            raise TooLarge(f"{self.file_name} is larger than the limit of {human_bytes(self.limit)} per file")
        return raw_data

    def file_complete(self, file_size):
        return None


class StreamedUploadMixin:
    """For DRF views: uploads go to temporary files (never whole in memory), size-capped."""

    def initialize_request(self, request, *args, **kwargs):
        request.upload_handlers = [SizeCapHandler(request), TemporaryFileUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    def handle_exception(self, exc):
        # Django's own request limits, answered like every other error of the view.
        if isinstance(exc, TooManyFilesSent):
            exc = InvalidInput(
                f"Too many files in one request (at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES}); "
                "send them in several requests"
            )
        elif isinstance(exc, TooManyFieldsSent):
            exc = InvalidInput("Too many form fields in one request")
        elif isinstance(exc, RequestDataTooBig):
            exc = TooLarge("The form fields of the request are too large")
        return super().handle_exception(exc)


def placed_uploads(folder, files, relative_paths=None):
    """[Upload] of uploaded files under the normalised `folder`: each at its relative path (one per
    file, in the same order) or else at its own name."""
    if not files:
        raise InvalidInput("at least one file is required", field="files")
    if relative_paths and len(relative_paths) != len(files):
        raise InvalidInput(f"{len(relative_paths)} given for {len(files)} files; send one per file",
                           field="relative_paths")
    field = "relative_paths" if relative_paths else "files"
    return [Upload(target_path(folder, relative, field=field), content)
            for relative, content in zip(relative_paths or [f.name for f in files], files)]
