"""Image test data: tarballs in a user's private file space, through the files services."""

from django.core.files.base import ContentFile

from files.services import save_file


def put_file(user, path, data):
    """Store `data` at `path` in the user's private space; return the path."""
    save_file(owner=user, space="private", path=path, content=ContentFile(data, name=path.rsplit("/", 1)[-1]))
    return path
