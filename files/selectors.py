"""Reads of the file spaces, for the views and for jobs (training, evaluation, imports).

Jobs read a user's folder by owner, space and path:

    with open_file(user, "private", "Config/LoRA/config.json") as handle:
        config = json.load(handle)
    materialize(user, "private", "Data", workdir / "data")   # Data/train, Data/validate, Data/test

The access rules (`can_read`, `can_write`) are for requests made by another user.
"""

import os
import shutil
from pathlib import Path

from django.core.files.storage import default_storage
from django.db.models import Count, Q, Sum

from core.errors import Forbidden, InvalidInput, NotFound

from .models import FileNode, Space
from .paths import join, normalize_path

COPY_CHUNK = 1024 * 1024


def check_space(space):
    if space not in Space.values:
        raise InvalidInput(f"space: must be one of {', '.join(Space.values)}")
    return space


def can_read(viewer, owner, space):
    return space == Space.PUBLIC or viewer.pk == owner.pk


def can_write(viewer, owner, space):
    return viewer.pk == owner.pk or (space == Space.PUBLIC and viewer.is_platform_admin)


def check_read(viewer, owner, space):
    """Another user's private space does not exist for the viewer (404)."""
    check_space(space)
    if not can_read(viewer, owner, space):
        raise NotFound("No such folder")


def check_write(viewer, owner, space):
    check_read(viewer, owner, space)
    if not can_write(viewer, owner, space):
        raise Forbidden(f"Only {owner.username} or a platform admin may write to this public space")


def get_node(owner, space, path):
    """The node at a normalised path, or None (the root has no node)."""
    if not path:
        return None
    return FileNode.objects.filter(owner=owner, space=space, path=path).first()


def get_folder(owner, space, path):
    """The folder at `path` (None for the root); NotFound if it is missing or a file."""
    path = normalize_path(path)
    node = get_node(owner, space, path)
    if path and (node is None or not node.is_dir):
        raise NotFound(f"No folder /{path}")
    return node


def get_file(owner, space, path):
    path = normalize_path(path)
    node = get_node(owner, space, path)
    if node is None or node.is_dir:
        raise NotFound(f"No file /{path}")
    return node


def list_folder(owner, space, path=""):
    """The entries of a folder: folders first, then files, each by name."""
    folder = get_folder(owner, space, path)
    return list(FileNode.objects.filter(owner=owner, space=space, parent=folder).order_by("-is_dir", "name"))


def open_file(owner, space, path):
    """A binary file object on the stored bytes of a file (close it, or use `with`)."""
    node = get_file(owner, space, path)
    return default_storage.open(node.storage_name, "rb")


def descendants(owner, space, path):
    """Every node below the folder `path` (the whole space for the root)."""
    nodes = FileNode.objects.filter(owner=owner, space=space)
    if path:
        nodes = nodes.filter(path__startswith=path + "/")
    return nodes


def walk_files(owner, space, path=""):
    """(relative path, node) of every file under a folder, or of the file itself."""
    path = normalize_path(path)
    node = get_node(owner, space, path)
    if path and node is None:
        raise NotFound(f"No file or folder /{path}")
    if node is not None and not node.is_dir:
        return [(node.name, node)]
    cut = len(path) + 1 if path else 0
    return [(child.path[cut:], child) for child in descendants(owner, space, path).order_by("path")]


def folder_paths(owner, space="private", limit=500):
    """Paths of the owner's folders ("Model", "Data/train"), in path order: the choices of a folder picker."""
    return list(FileNode.objects.filter(owner=owner, space=space, is_dir=True)
                .order_by("path").values_list("path", flat=True)[:limit])


def materialize(owner, space, path, dest_dir):
    """Copy the file or folder tree at `path` into the local directory `dest_dir`.

    A folder's contents land directly in dest_dir (Data/train/a.jsonl -> dest/train/a.jsonl
    for path "Data"); a file lands as dest_dir/<name>. Empty folders are created too.
    Bytes are copied in chunks. Returns the list of local files written.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written = []
    for relative, node in walk_files(owner, space, path):
        target = (dest / relative).resolve()
        if root != target and root not in target.parents:  # paths are validated on write; belt and braces
            raise InvalidInput(f"refusing to write outside {root}: {relative}")
        if node.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(node.storage_name, "rb") as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        os.utime(target, (node.modified_at.timestamp(), node.modified_at.timestamp()))
        written.append(target)
    return written


def storage_usage(user):
    """(bytes, inodes) used by the user's two file spaces; a folder counts as one inode."""
    totals = FileNode.objects.filter(owner=user).aggregate(size=Sum("size", filter=Q(is_dir=False)), n=Count("pk"))
    return totals["size"] or 0, totals["n"]


def breadcrumbs(path):
    """[(name, normalised path)] from the root to `path`."""
    crumbs = []
    current = ""
    for part in path.split("/") if path else []:
        current = join(current, part)
        crumbs.append((part, current))
    return crumbs
