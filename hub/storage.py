"""Content-addressed blob storage on top of Django's default storage.

Content is copied to storage in chunks and hashed on the way (sha256, and the git blob
id), so a file is never held whole in memory. Blobs are found by sha256 in the database;
the storage name is a random one, so that any storage backend works (no rename needed).
"""

import hashlib
import uuid

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from core.errors import InvalidInput

from .models import Blob

CHUNK_SIZE = 1024 * 1024
# Files at least this large are LFS files in Hugging Face terms: their ETag is the sha256,
# and their git id is the id of the LFS pointer file, not of the content.
LFS_THRESHOLD = 10 * 1024 * 1024


def lfs_pointer(sha256, size):
    """The git-lfs pointer file that stands for a large file in a git repository."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def lfs_pointer_oid(sha256, size):
    pointer = lfs_pointer(sha256, size)
    return hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()


class HashingFile(File):
    """A read-only File that hashes what is read from it, for storage.save().

    Storage backends read it with chunks() (FileSystemStorage) or read() (S3). A seek
    back to 0 (a retried upload) starts the hashes again.
    """

    def __init__(self, file, size, name="blob", git=True):
        super().__init__(file, name=name)
        self._declared_size = size
        self._with_git = git
        self._restart()

    def _restart(self):
        self.sha256 = hashlib.sha256()
        self.git = hashlib.sha1(f"blob {self._declared_size}\0".encode()) if self._with_git else None
        self.bytes_read = 0

    @property
    def size(self):
        return self._declared_size

    def read(self, *args):
        data = self.file.read(*args)
        self.sha256.update(data)
        if self.git is not None:
            self.git.update(data)
        self.bytes_read += len(data)
        return data

    def seek(self, offset, whence=0):
        result = self.file.seek(offset, whence)
        if offset == 0 and whence == 0:
            self._restart()
        return result

    def chunks(self, chunk_size=None):
        chunk_size = chunk_size or CHUNK_SIZE
        self.seek(0)
        while data := self.read(chunk_size):
            yield data

    def multiple_chunks(self, chunk_size=None):
        return True


def store_blob(fileobj, size):
    """Copy `fileobj` (readable, `size` bytes) into storage and return its Blob."""
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    lfs = size >= LFS_THRESHOLD
    hashing = HashingFile(fileobj, size, git=not lfs)
    name = default_storage.save(f"hub/blobs/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}", hashing)
    if hashing.bytes_read != size:
        default_storage.delete(name)
        raise InvalidInput(f"file ended after {hashing.bytes_read} of {size} bytes")
    sha256 = hashing.sha256.hexdigest()
    existing = Blob.objects.filter(sha256=sha256).first()
    if existing is not None:
        default_storage.delete(name)
        return existing
    try:
        with transaction.atomic():
            git_oid = lfs_pointer_oid(sha256, size) if lfs else hashing.git.hexdigest()
            return Blob.objects.create(sha256=sha256, git_oid=git_oid, size=size, storage_name=name)
    except IntegrityError:
        # The same content arrived at the same time through another request.
        default_storage.delete(name)
        return Blob.objects.get(sha256=sha256)


def store_bytes(data):
    import io

    return store_blob(io.BytesIO(data), len(data))


def open_blob(blob):
    return default_storage.open(blob.storage_name, "rb")
