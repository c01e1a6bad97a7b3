"""Writes to the file spaces: upload, make folder, delete, move.

Every write runs in one transaction that locks the owner's user row, so concurrent
writes to one user's spaces see each other's usage. A file's bytes are first written
to storage under a fresh name; its node is created only if the quota allows it, and
the bytes are removed again if anything fails: nothing half-written is kept.
"""

import hashlib
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.selectors import storage_status
from core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, TooLarge

from . import selectors
from .models import FileNode
from .paths import MAX_PATH_BYTES, MAX_PATH_CHARS, ancestors, join, name_of, normalize_path, parent_of

HASH_CHUNK = 1024 * 1024


def max_upload_bytes():
    return settings.FILES_MAX_UPLOAD_BYTES


def human_bytes(count):
    size = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


def target_path(folder, relative, field="file"):
    """The normalised path of an upload: its folder joined with its (relative) name."""
    relative = normalize_path(relative, field=field, relative=True)
    if not relative:
        raise InvalidInput(f"{field}: a file name is required")
    path = join(folder, relative)
    if len(path) > MAX_PATH_CHARS or len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidInput(f"{field}: the path /{path[:40]}... is too long")
    return path


# --- quota -------------------------------------------------------------------


def _storage_status(owner):

    return storage_status(owner)


def _check_quota(owner, before):
    """Refuse a write that grew the owner's use past a quota (only when it grew).

    Without a StorageQuota record storage is unlimited; outside the record's time window
    (start_time, end_time) nothing may grow.
    """
    status = _storage_status(owner)
    quota = status["quota"]
    if quota is None:
        return
    used_bytes, used_inodes = status["used_bytes"], status["used_inodes"]
    grew = used_bytes > before["used_bytes"] or used_inodes > before["used_inodes"]
    if grew and not status.get("active", True):
        raise QuotaExceeded("Storage quota is outside its time window: nothing can be added now")
    if used_bytes > quota.bytes_quota and used_bytes > before["used_bytes"]:
        raise QuotaExceeded(
            f"Storage quota exceeded: this needs {human_bytes(used_bytes)} of {human_bytes(quota.bytes_quota)}"
        )
    if used_inodes > quota.inodes_quota and used_inodes > before["used_inodes"]:
        raise QuotaExceeded(
            f"File count quota exceeded: this needs {used_inodes} files and folders of {quota.inodes_quota}"
        )


def _precheck_quota(owner, space, uploads):
    """A cheap early refusal before any byte is stored (the exact check runs at commit)."""
    paths = [upload.path for upload in uploads]
    replaced = FileNode.objects.filter(owner=owner, space=space, path__in=paths, is_dir=False)
    new_bytes = sum(upload.content.size for upload in uploads) - sum(node.size for node in replaced)
    status = _storage_status(owner)
    quota = status["quota"]
    if quota is not None and new_bytes > 0 and status["used_bytes"] + new_bytes > quota.bytes_quota:
        raise QuotaExceeded(
            f"Storage quota exceeded: {human_bytes(status['used_bytes'])} used, {human_bytes(new_bytes)} more "
            f"would pass the quota of {human_bytes(quota.bytes_quota)}"
        )


def _lock_owner(owner):
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()


# --- tree --------------------------------------------------------------------


def _ensure_folder(owner, space, path, now):
    """The folder node at `path` (None for the root), creating missing folders (mkdir -p)."""
    if not path:
        return None
    parent = None
    for folder_path in [*ancestors(path), path]:
        node = FileNode.objects.filter(owner=owner, space=space, path=folder_path).first()
        if node is None:
            node = FileNode.objects.create(
                owner=owner, space=space, path=folder_path, name=name_of(folder_path),
                parent=parent, is_dir=True, modified_at=now,
            )
        elif not node.is_dir:
            raise Conflict(f"/{folder_path} is a file, not a folder")
        parent = node
    return parent


def _delete_blobs_later(names):
    names = [name for name in names if name]
    if names:
        transaction.on_commit(lambda: _delete_blobs(names))


def _delete_blobs(names):
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            pass


# --- upload ------------------------------------------------------------------


@dataclass
class Upload:
    path: str  # normalised target path
    content: object  # a django File (an UploadedFile from a request)


@dataclass
class _Staged:
    path: str
    storage_name: str
    size: int
    sha256: str


def _sha256(content):
    digest = hashlib.sha256()
    for chunk in content.chunks(HASH_CHUNK):
        digest.update(chunk)
    content.seek(0)
    return digest.hexdigest()


def _stage(owner, upload):
    """Write the bytes to storage under a fresh name (chunked; a temporary upload is moved)."""
    sha256 = _sha256(upload.content)
    token = uuid.uuid4().hex
    name = default_storage.save(f"files/{owner.pk}/{token[:2]}/{token}", upload.content)
    return _Staged(upload.path, name, upload.content.size, sha256)


def _place(owner, space, staged, now):
    """Create or replace the file node; returns the storage name it replaced, if any."""
    folder = _ensure_folder(owner, space, parent_of(staged.path), now)
    node = FileNode.objects.filter(owner=owner, space=space, path=staged.path).first()
    if node is not None and node.is_dir:
        raise Conflict(f"/{staged.path} is a folder; a file cannot replace it")
    replaced = ""
    if node is None:
        node = FileNode(owner=owner, space=space, path=staged.path, name=name_of(staged.path), parent=folder)
    else:
        replaced = node.storage_name
    node.size = staged.size
    node.sha256 = staged.sha256
    node.storage_name = staged.storage_name
    node.modified_at = now
    node.save()
    return replaced


def upload_files(*, actor, owner, space, folder, uploads):
    """Store a batch of files under `folder`, all or nothing. `uploads`: [Upload]."""
    selectors.check_write(actor, owner, space)
    if not uploads:
        raise InvalidInput("at least one file is required", field="files")
    folder = normalize_path(folder, field="folder")
    paths = [upload.path for upload in uploads]
    if len(set(paths)) != len(paths):
        raise InvalidInput("two files of the batch have the same path", field="files")
    limit = max_upload_bytes()
    for upload in uploads:
        if upload.content.size > limit:
            raise TooLarge(
                f"/{upload.path} is {human_bytes(upload.content.size)}; the limit is {human_bytes(limit)} per file"
            )
    _precheck_quota(owner, space, uploads)
    staged = []
    try:
        for upload in uploads:
            staged.append(_stage(owner, upload))
        with transaction.atomic():
            _lock_owner(owner)
            before = _storage_status(owner)
            now = timezone.now()
            _ensure_folder(owner, space, folder, now)
            replaced = [_place(owner, space, item, now) for item in staged]
            _check_quota(owner, before)
            _delete_blobs_later(replaced)
    except BaseException:
        _delete_blobs([item.storage_name for item in staged])
        raise
    return [item.path for item in staged]


def save_file(*, owner, space, path, content):
    """Store one file for the owner (used by jobs writing their outputs). Returns the node."""
    selectors.check_space(space)
    path = target_path("", path, field="path")
    upload_files(actor=owner, owner=owner, space=space, folder="", uploads=[Upload(path, content)])
    return FileNode.objects.get(owner=owner, space=space, path=path)


# --- folders, delete, move ----------------------------------------------------


def make_folder(*, actor, owner, space, path):
    """Create a folder and any missing parents; 409 if something is already there."""
    selectors.check_write(actor, owner, space)
    path = normalize_path(path)
    if not path:
        raise Conflict("The root folder already exists")
    with transaction.atomic():
        _lock_owner(owner)
        before = _storage_status(owner)
        existing = selectors.get_node(owner, space, path)
        if existing is not None:
            kind = "folder" if existing.is_dir else "file"
            raise Conflict(f"A {kind} named /{path} already exists")
        node = _ensure_folder(owner, space, path, timezone.now())
        _check_quota(owner, before)
    return node


def delete_path(*, actor, owner, space, path):
    """Delete a file, or a folder with everything in it. Returns the number of nodes removed."""
    selectors.check_write(actor, owner, space)
    path = normalize_path(path)
    if not path:
        raise InvalidInput("path: the root folder cannot be deleted")
    with transaction.atomic():
        _lock_owner(owner)
        node = selectors.get_node(owner, space, path)
        if node is None:
            raise NotFound(f"No file or folder /{path}")
        doomed = [node]
        if node.is_dir:
            doomed += list(selectors.descendants(owner, space, path))
        names = [item.storage_name for item in doomed if not item.is_dir]
        FileNode.objects.filter(pk__in=[item.pk for item in doomed]).delete()
        _delete_blobs_later(names)
    return len(doomed)


def move_path(*, actor, owner, space, source, destination):
    """Move or rename a file or folder inside one space. The destination must be free."""
    selectors.check_write(actor, owner, space)
    source = normalize_path(source, field="from")
    destination = normalize_path(destination, field="to")
    if not source or not destination:
        raise InvalidInput("The root folder cannot be moved or replaced")
    if destination == source:
        raise InvalidInput("from and to are the same path")
    if destination.startswith(source + "/"):
        raise InvalidInput("A folder cannot be moved into itself")
    with transaction.atomic():
        _lock_owner(owner)
        before = _storage_status(owner)
        node = selectors.get_node(owner, space, source)
        if node is None:
            raise NotFound(f"No file or folder /{source}")
        if selectors.get_node(owner, space, destination) is not None:
            raise Conflict(f"/{destination} already exists")
        now = timezone.now()
        moved = list(selectors.descendants(owner, space, source)) if node.is_dir else []
        node.parent = _ensure_folder(owner, space, parent_of(destination), now)
        node.path = destination
        node.name = name_of(destination)
        node.modified_at = now
        for child in moved:
            child.path = destination + child.path[len(source):]
            if len(child.path) > MAX_PATH_CHARS or len(child.path.encode("utf-8")) > MAX_PATH_BYTES:
                raise InvalidInput(f"to: /{child.path[:40]}... would be too long")
        node.save()
        FileNode.objects.bulk_update(moved, ["path"], batch_size=500)
        _check_quota(owner, before)
    return node


def resolve_owner(actor, username):
    """The owner a request names (default: the actor)."""
    if not username or username == actor.username:
        return actor
    owner = get_user_model().objects.filter(username=username).first()
    if owner is None:
        raise NotFound(f"No user {username}")
    return owner
