"""Hub test data built through the real services (storage, commits, tags)."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile

from hub import services


def make_repo(owner, name="repo", *, type="model", private=False, tags=None, files=None, message="Add files"):
    repo = services.create_repository(owner=owner, name=name, type=type, private=private, tags=tags or {})
    if files:
        upload(repo, owner, files, message=message)
        repo.refresh_from_db()
    return repo


def upload(repo, user, files, message=""):
    """files: {path: bytes}"""
    uploads = [(path, SimpleUploadedFile(path.rsplit("/", 1)[-1], data)) for path, data in files.items()]
    return services.upload_files(repo=repo, user=user, uploads=uploads, message=message)


def vocabulary(spec):
    """Create Tag rows {category: [names]} in order."""
    for category, names in spec.items():
        for name in names:
            services.tag_objects({category: [name]})


def multipart_files(files):
    """(files list, paths list) for the upload endpoint from {path: bytes}."""
    handles = []
    for path, data in files.items():
        handle = io.BytesIO(data)
        handle.name = path.rsplit("/", 1)[-1]
        handles.append(handle)
    return handles, list(files)
