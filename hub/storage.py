"""Content-addressed blob storage on top of Django's default storage.

Content is copied to storage in chunks and hashed on the way (sha256, and the git blob
id), so a file is never held whole in memory. Blobs are found by sha256 in the database.

On local storage (FileSystemStorage) a body is written once: into a temporary file under
MEDIA_ROOT/hub/tmp (the same filesystem as the blobs) while it is hashed, fsynced, then
renamed to its content-addressed name hub/blobs/sha256/<2>/<sha256>. On other backends (S3)
it goes through storage.save() under a random name, hashed on the way.
"""

import fcntl
import hashlib
import io
import os
import queue
import threading
import uuid
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from core.errors import InvalidInput

from .models import Blob, TreeEntry

CHUNK_SIZE = 1024 * 1024
# Bodies streamed from a request or a temporary file are copied in chunks of this size.
STREAM_CHUNK = 4 * 1024 * 1024
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


def local_root():
    """The directory of default_storage when it is a local filesystem, else None (S3)."""
    try:
        return Path(default_storage.path(""))
    except NotImplementedError:
        return None


def content_name(sha256):
    return f"hub/blobs/sha256/{sha256[:2]}/{sha256}"


def temp_path(root, prefix="up"):
    folder = root / "hub" / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{prefix}-{uuid.uuid4().hex}"


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_blob(sha256, size, git_oid, storage_name):
    """The Blob row for freshly stored content, or the existing one (whose file then wins:
    the fresh copy is removed unless it is that very file). `blob.created` says which."""
    existing = Blob.objects.filter(sha256=sha256).first()
    if existing is None:
        try:
            with transaction.atomic():
                blob = Blob.objects.create(sha256=sha256, git_oid=git_oid, size=size, storage_name=storage_name)
            blob.created = True
            return blob
        except IntegrityError:
            # The same content arrived at the same time through another request.
            existing = Blob.objects.get(sha256=sha256)
    if existing.storage_name != storage_name:
        default_storage.delete(storage_name)
    existing.created = False
    return existing


def adopt_local_file(path, *, sha256, size, git_oid):
    """Move a verified, fsynced temporary file under MEDIA_ROOT to its content-addressed name."""
    existing = Blob.objects.filter(sha256=sha256).first()
    if existing is not None:
        path.unlink(missing_ok=True)
        existing.created = False
        return existing
    name = content_name(sha256)
    final = local_root() / name
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, final)
    _fsync_dir(final.parent)
    return _new_blob(sha256, size, git_oid, name)


def store_stream(read, size, *, expected_sha256=None):
    """Store exactly `size` bytes from `read(n)` and return the Blob (`blob.created` is True
    when this call stored new content). One pass: hashed while written, memory flat.

    With `expected_sha256`, content that does not match is refused (InvalidInput) and nothing
    is kept; so is a stream that ends early.
    """
    lfs = size >= LFS_THRESHOLD
    root = local_root()
    if root is None:
        reader = _Reader(read, size)
        blob = _store_with_storage_save(reader, size, lfs, expected_sha256)
        return blob
    tmp = temp_path(root)
    source = splice_source(read)
    if source is not None:
        return _store_spliced(source, tmp, size, lfs, expected_sha256)
    hasher = _HashThread(size, git=not lfs)
    written = 0
    try:
        with tmp.open("wb") as out:
            try:
                while written < size:
                    data = read(min(STREAM_CHUNK, size - written))
                    if not data:
                        break
                    hasher.put(data)
                    out.write(data)
                    written += len(data)
            finally:
                hasher.finish()
            if written != size:
                raise InvalidInput(f"the body ended after {written} of {size} bytes")
            os.fsync(out.fileno())
        return _adopt_verified(tmp, hasher, size, lfs, expected_sha256)
    finally:
        tmp.unlink(missing_ok=True)


def _adopt_verified(tmp, hasher, size, lfs, expected_sha256):
    """The fsynced temporary file as a blob, once its sha256 (from `hasher`) is the one expected."""
    digest = hasher.sha256.hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise InvalidInput(f"content sha256 is {digest}, not {expected_sha256}")
    git_oid = lfs_pointer_oid(digest, size) if lfs else hasher.git.hexdigest()
    return adopt_local_file(tmp, sha256=digest, size=size, git_oid=git_oid)


def _store_spliced(source, tmp, size, lfs, expected_sha256):
    """store_stream for a body that arrives on a socket (`source`: (socket, bytes of the body
    already read)): the bytes move from the socket into the temporary file inside the kernel
    (splice through a pipe), never through Python's memory, while a second thread reads back
    what has landed (from the page cache) and hashes it. Then fsync, verify, rename."""
    sock, head = source
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    hasher = _FileHashThread(tmp, size, git=not lfs)
    try:
        try:
            written = splice_into(sock, head, fd, size, hasher.advance)
        finally:
            hasher.finish()
        if written != size:
            raise InvalidInput(f"the body ended after {written} of {size} bytes")
        os.fsync(fd)
        os.close(fd)
        fd = None
        return _adopt_verified(tmp, hasher, size, lfs, expected_sha256)
    finally:
        if fd is not None:
            os.close(fd)
        tmp.unlink(missing_ok=True)


SPLICE_PIPE_BYTES = 1024 * 1024
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, named in Python 3.10+ on Linux only


def splice_source(read):
    """(socket, bytes already read) when `read` (hub.hf_write.raw_body_reader) can hand its
    socket to splice(2), else None."""
    return getattr(read, "socket_source", None) if hasattr(os, "splice") else None


def splice_into(sock, head, fd, size, progress=None, offset=None):
    """Write `head`, then move the rest of `size` bytes from `sock` to `fd` with splice(2)
    through a pipe: inside the kernel, never through Python's memory. At the file's position,
    or at `offset`. Returns the bytes written (fewer when the client stopped sending)."""
    progress = progress or (lambda written: None)
    written = 0
    view = memoryview(head)[:size]
    while view:
        count = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset + written)
        view = view[count:]
        written += count
    progress(written)
    pipe_out, pipe_in = os.pipe()
    try:
        try:
            fcntl.fcntl(pipe_in, F_SETPIPE_SZ, SPLICE_PIPE_BYTES)
        except OSError:  # a smaller pipe only means more calls
            pass
        while written < size:
            try:
                moved = os.splice(sock.fileno(), pipe_in, min(SPLICE_PIPE_BYTES, size - written),
                                  flags=os.SPLICE_F_MOVE | os.SPLICE_F_MORE)
            except (ConnectionError, TimeoutError) as exc:
                raise InvalidInput(f"the connection broke after {written} of {size} bytes: {exc}") from None
            if moved == 0:
                break
            left = moved
            while left:
                if offset is None:
                    left -= os.splice(pipe_out, fd, left, flags=os.SPLICE_F_MOVE)
                else:
                    left -= os.splice(pipe_out, fd, left, offset_dst=offset + written + moved - left,
                                      flags=os.SPLICE_F_MOVE)
            written += moved
            progress(written)
    finally:
        os.close(pipe_out)
        os.close(pipe_in)
    return written


class _FileHashThread:
    """sha256 (and the git blob id) of a file being written by someone else: `advance(n)` says
    the first n bytes are there; a second thread reads them back (from the page cache, in
    STREAM_CHUNK reads into one buffer) and hashes them. Memory stays flat."""

    def __init__(self, path, size, git):
        self.sha256 = hashlib.sha256()
        self.git = hashlib.sha1(f"blob {size}\0".encode()) if git else None
        self._fd = os.open(path, os.O_RDONLY)
        self._available = 0
        self._done = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def advance(self, available):
        with self._ready:
            self._available = available
            self._ready.notify()

    def _run(self):
        buffer = bytearray(STREAM_CHUNK)
        view = memoryview(buffer)
        hashed = 0
        while True:
            with self._ready:
                while self._available <= hashed and not self._done:
                    self._ready.wait()
                available, done = self._available, self._done
            while hashed < available:
                count = os.preadv(self._fd, [view[: min(STREAM_CHUNK, available - hashed)]], hashed)
                if count <= 0:
                    break
                self.sha256.update(view[:count])
                if self.git is not None:
                    self.git.update(view[:count])
                hashed += count
            if done and hashed >= available:
                return

    def finish(self):
        with self._ready:
            self._done = True
            self._ready.notify()
        self._thread.join()
        os.close(self._fd)


class _HashThread:
    """sha256 (and the git blob id) of chunks, computed on a second thread while the caller
    receives and writes the next ones (hashlib and file writes release the GIL), with at most
    four chunks in flight: memory stays flat."""

    def __init__(self, size, git):
        self.sha256 = hashlib.sha256()
        self.git = hashlib.sha1(f"blob {size}\0".encode()) if git else None
        self._queue = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while (data := self._queue.get()) is not None:
            self.sha256.update(data)
            if self.git is not None:
                self.git.update(data)

    def put(self, data):
        self._queue.put(data)

    def finish(self):
        self._queue.put(None)
        self._thread.join()


class _Reader:
    """A file-like view of read(n) for storage.save() (S3 reads it with read())."""

    def __init__(self, read, size):
        self._read = read
        self.size = size

    def read(self, n=-1):
        return self._read(STREAM_CHUNK if n is None or n < 0 else n)


def _store_with_storage_save(fileobj, size, lfs, expected_sha256=None):
    hashing = HashingFile(fileobj, size, git=not lfs)
    name = default_storage.save(f"hub/blobs/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}", hashing)
    if hashing.bytes_read != size:
        default_storage.delete(name)
        raise InvalidInput(f"file ended after {hashing.bytes_read} of {size} bytes")
    sha256 = hashing.sha256.hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256:
        default_storage.delete(name)
        raise InvalidInput(f"content sha256 is {sha256}, not {expected_sha256}")
    git_oid = lfs_pointer_oid(sha256, size) if lfs else hashing.git.hexdigest()
    return _new_blob(sha256, size, git_oid, name)


def store_blob(fileobj, size):
    """Copy `fileobj` (readable, `size` bytes) into storage and return its Blob
    (`blob.created`: whether this call stored new content)."""
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    if local_root() is not None:
        if hasattr(fileobj, "temporary_file_path"):
            blob = _adopt_spooled_upload(fileobj, size)
            if blob is not None:
                return blob
        return store_stream(fileobj.read, size)
    return _store_with_storage_save(fileobj, size, size >= LFS_THRESHOLD)


def _adopt_spooled_upload(upload, size):
    """A file Django's upload handler already spooled to disk (TemporaryUploadedFile): hashed
    where it lies, fsynced, and renamed into the blob store, instead of copied a second time.
    None when it lies on another filesystem (the caller copies it then)."""
    source = Path(upload.temporary_file_path())
    if source.stat().st_size != size:
        raise InvalidInput(f"file is {source.stat().st_size} bytes, not {size}")
    lfs = size >= LFS_THRESHOLD
    hasher = _HashThread(size, git=not lfs)
    try:
        with source.open("rb") as handle:
            while data := handle.read(STREAM_CHUNK):
                hasher.put(data)
            os.fsync(handle.fileno())
    finally:
        hasher.finish()
    tmp = temp_path(local_root())
    try:
        os.replace(source, tmp)
    except OSError:
        return None  # another filesystem: copy instead
    try:
        os.chmod(tmp, 0o644)
        digest = hasher.sha256.hexdigest()
        git_oid = lfs_pointer_oid(digest, size) if lfs else hasher.git.hexdigest()
        return adopt_local_file(tmp, sha256=digest, size=size, git_oid=git_oid)
    finally:
        tmp.unlink(missing_ok=True)


def delete_blobs_if_unused(blobs):
    """Remove blobs (rows and files) that no commit holds: the content of an upload whose
    commit failed."""
    for blob in blobs:
        if blob is None or blob.pk is None:
            continue
        if TreeEntry.objects.filter(blob=blob).exists():
            continue
        name = blob.storage_name
        if Blob.objects.filter(pk=blob.pk).delete()[0]:
            default_storage.delete(name)


def store_bytes(data):

    return store_blob(io.BytesIO(data), len(data))


def open_blob(blob):
    return default_storage.open(blob.storage_name, "rb")
