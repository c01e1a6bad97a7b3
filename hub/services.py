"""Writes of the hub: create repositories, commit uploaded files, count downloads."""

import hashlib
import os
import re
import secrets
import unicodedata
import uuid
from pathlib import Path

import yaml
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.selectors import storage_status
from core.errors import Conflict, Forbidden, InvalidInput, QuotaExceeded, TooLarge
from core.validators import validate_name_characters

from .models import (
    Blob,
    Commit,
    LfsObject,
    LfsPart,
    LfsUpload,
    Ref,
    RefKind,
    Repository,
    RepoType,
    Tag,
    TagCategory,
    TreeEntry,
)
from .selectors import EntryNotFound, RevisionNotFound, split_front_matter
from .storage import (
    STREAM_CHUNK,
    adopt_local_file,
    delete_blobs_if_unused,
    lfs_pointer_oid,
    local_root,
    open_blob,
    store_blob,
    splice_into,
    splice_source,
    store_bytes,
    store_stream,
)
from .vocabulary import canonical

REPO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\Z")
LICENSE_RE = re.compile(r"^[A-Za-z0-9._+-]{1,64}\Z")
TAG_MAX = 100
TAGS_PER_CATEGORY_MAX = 50
MESSAGE_MAX = 500
PATH_MAX_BYTES = 1000
SEGMENT_MAX_BYTES = 255
DESCRIPTION_MAX = 5000

# README front matter keys (Hugging Face model card metadata) -> tag categories.
CARD_KEYS = {
    "pipeline_tag": TagCategory.TASK,
    "task": TagCategory.TASK,
    "tasks": TagCategory.TASK,
    "task_categories": TagCategory.TASK,
    "library_name": TagCategory.LIBRARY,
    "library": TagCategory.LIBRARY,
    "datasets": TagCategory.DATASET,
    "language": TagCategory.LANGUAGE,
    "languages": TagCategory.LANGUAGE,
    "tags": TagCategory.OTHER,
}


# --- validation ---------------------------------------------------------------


def parse_repo_type(value, default=RepoType.MODEL):
    if value in (None, ""):
        return default
    value = str(value).lower()
    if value.endswith("s"):
        value = value[:-1]
    if value not in RepoType.values:
        raise InvalidInput("type must be model or dataset")
    return value


def validate_repo_name(name):
    if not isinstance(name, str) or not name:
        raise InvalidInput("name is required")
    validate_name_characters(name, "name")
    if not REPO_NAME_RE.fullmatch(name) or ".." in name or "--" in name or name.endswith((".git", ".")):
        raise InvalidInput(
            "name must be 1-96 characters: letters, digits, '-', '_' and '.', starting with a letter or digit, "
            "without '--' or '..'"
        )
    return name


def clean_tag_name(value):
    if not isinstance(value, str):
        raise InvalidInput("tags must be strings")
    value = value.strip()
    if not value or len(value) > TAG_MAX or any(unicodedata.category(c)[0] == "C" for c in value):
        raise InvalidInput(f"a tag must be 1-{TAG_MAX} printable characters")
    return value


def clean_tags(tags):
    """{"task": [...], "library": [...], ...} -> the same, validated (unknown categories refused)."""
    if tags in (None, ""):
        return {}
    if not isinstance(tags, dict):
        raise InvalidInput("tags must be an object of lists by category (task, library, dataset, language, other)")
    cleaned = {}
    for category, names in tags.items():
        if category not in TagCategory.values:
            raise InvalidInput(f"unknown tag category {category!r}")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or len(names) > TAGS_PER_CATEGORY_MAX:
            raise InvalidInput(f"tags.{category} must be a list of at most {TAGS_PER_CATEGORY_MAX} names")
        cleaned[category] = list(dict.fromkeys(clean_tag_name(n) for n in names))
    return cleaned


def normalize_path(raw, *, prefix=""):
    """A repository path from user input: relative, '/'-separated, no '..', no NUL."""
    if not isinstance(raw, str):
        raise InvalidInput("path must be a string")
    joined = f"{prefix.strip('/')}/{raw}" if prefix and prefix.strip("/") else raw
    validate_name_characters(joined, "path")
    joined = joined.replace("\\", "/")
    if joined.startswith("/") or re.match(r"^[A-Za-z]:", joined):
        raise InvalidInput(f"path {raw!r} must be relative")
    parts = [p for p in joined.split("/") if p not in ("", ".")]
    if not parts:
        raise InvalidInput("path is empty")
    for part in parts:
        if part == "..":
            raise InvalidInput(f"path {raw!r} must not contain '..'")
        if part == ".git":
            raise InvalidInput("paths inside .git are not allowed")
        if len(part.encode()) > SEGMENT_MAX_BYTES:
            raise InvalidInput(f"a path segment is longer than {SEGMENT_MAX_BYTES} bytes")
    path = "/".join(parts)
    if len(path.encode()) > PATH_MAX_BYTES:
        raise InvalidInput(f"path is longer than {PATH_MAX_BYTES} bytes")
    return path


def clean_message(message, default):
    message = (message or "").strip() or default
    if len(message) > MESSAGE_MAX:
        raise InvalidInput(f"commit message must be at most {MESSAGE_MAX} characters")
    return message


# --- tags and model cards ---------------------------------------------------------


def tag_objects(tags):
    """Tag rows for cleaned {category: [names or ids]}, created on first use; one row per tag of the
    vocabulary whatever the spelling ("English" and "en" are one tag, hub.vocabulary)."""
    objects = {}
    for category, names in tags.items():
        for name in names:
            slug, display = canonical(category, name)
            tag, _ = Tag.objects.get_or_create(category=category, slug=slug, defaults={"name": display})
            objects[tag.pk] = tag
    return list(objects.values())


def card_tags(metadata):
    """Tags of a model card header, by category; invalid values are skipped, not fatal."""
    tags = {}
    for key, category in CARD_KEYS.items():
        values = metadata.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            values = [values]
        for value in values:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                continue
            try:
                name = clean_tag_name(str(value))
            except InvalidInput:
                continue
            bucket = tags.setdefault(category, [])
            if name not in bucket and len(bucket) < TAGS_PER_CATEGORY_MAX:
                bucket.append(name)
    return tags


def apply_card(repo, readme_text):
    """Set a repository's tags (and license) from its README header."""
    metadata, _ = split_front_matter(readme_text)
    tags = card_tags(metadata)
    repo.tags.set(tag_objects(tags))
    license_name = metadata.get("license")
    if isinstance(license_name, str) and LICENSE_RE.match(license_name):
        repo.license = license_name
        repo.save(update_fields=["license"])


def card_text(*, name, description, tags, license_name):
    header = {}
    ids = {category: list(dict.fromkeys(canonical(category, n)[0] for n in names)) for category, names in tags.items()}
    for category, key in (("task", "pipeline_tag"), ("library", "library_name")):
        if ids.get(category):  # a card names them by Hugging Face's ids (text-generation, transformers, en)
            header[key] = ids[category][0] if len(ids[category]) == 1 else ids[category]
    if ids.get("dataset"):
        header["datasets"] = ids["dataset"]
    if ids.get("language"):
        header["language"] = ids["language"]
    if tags.get("other"):
        header["tags"] = tags["other"]
    if license_name:
        header["license"] = license_name
    front = yaml.safe_dump(header, allow_unicode=True, sort_keys=False) if header else ""
    text = f"---\n{front}---\n\n# {name}\n\n{description.strip()}\n" if front else f"# {name}\n\n{description}\n"
    return text


# --- repositories ---------------------------------------------------------------


def create_repository(*, owner, name, type=RepoType.MODEL, private=False, tags=None, license_name="", description=""):
    """Create `owner/name`. With tags, a license or a description, the first commit adds a README card."""
    validate_repo_name(name)
    type = parse_repo_type(type)
    if not isinstance(private, bool):
        raise InvalidInput("must be true or false", field="private")
    tags = clean_tags(tags)
    license_name = (license_name or "").strip()
    if license_name and not LICENSE_RE.match(license_name):
        raise InvalidInput("license must be an identifier such as mit or apache-2.0")
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise InvalidInput(f"description must be a string of at most {DESCRIPTION_MAX} characters")
    now = timezone.now()
    try:
        with transaction.atomic():
            repo = Repository.objects.create(
                owner=owner,
                name=name,
                full_name=f"{owner.username}/{name}",
                type=type,
                private=private,
                license=license_name,
                last_modified=now,
                last_message="Create repository",
            )
            repo.tags.set(tag_objects(tags))
            if tags or license_name or description:
                readme = card_text(name=repo.full_name, description=description, tags=tags, license_name=license_name)
                blob = store_bytes(readme.encode())
                commit_blobs(repo=repo, author=owner, files=[("README.md", blob)], message="Initial commit")
    except IntegrityError as exc:
        raise Conflict(f"{type} {owner.username}/{name} already exists") from exc
    return repo


# --- commits ----------------------------------------------------------------------


def commit_id(*, tree, parent, author, when, message):
    """A git-like commit id: sha1 over the snapshot (path and sha256 of every file), the
    parent id, author, time and message. Equal content at another time gives another id."""
    digest = hashlib.sha1()
    for path, sha256 in sorted(tree.items()):
        digest.update(f"{path}\0{sha256}\n".encode())
    header = f"tree {digest.hexdigest()}\nparent {parent or ''}\nauthor {author} {when.isoformat()}\n\n{message}"
    return hashlib.sha1(header.encode()).hexdigest()


def _check_file_folder_clash(paths):
    """No path may be both a file and a folder of the same snapshot."""
    folders = set()
    for path in paths:
        parts = path.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = folders.intersection(paths)
    if clash:
        raise Conflict(f"{sorted(clash)[0]!r} is both a file and a folder")


@transaction.atomic
def commit_blobs(
    *,
    repo,
    author,
    files,
    message,
    replace_tree=False,
    deletes=(),
    deleted_folders=(),
    branch="main",
    expected_parent=None,
    description="",
):
    """A new commit on `branch` (main, or a Ref branch): the parent's snapshot with `files`
    [(path, Blob)] added or replaced, `deletes` (paths) and `deleted_folders` removed.

    With replace_tree the commit holds exactly `files` (a registry version is its own files,
    nothing left over from earlier versions). With expected_parent (a commit id or prefix)
    the commit is refused (409) when the branch has moved on.
    """

    repo = Repository.objects.select_for_update().get(pk=repo.pk)
    ref = None
    if branch in (None, "", "main"):
        parent = repo.head
    else:
        ref = Ref.objects.select_for_update().filter(repo=repo, kind=RefKind.BRANCH, name=branch).first()
        if ref is None:
            raise RevisionNotFound(f"branch {branch!r} not found in {repo.full_name}")
        parent = ref.commit
    if expected_parent and (parent is None or not parent.oid.startswith(expected_parent)):
        raise Conflict(f"the branch has moved on: its head is {parent.oid if parent else 'empty'}")
    entries = {}
    if parent is not None:
        for entry in parent.entries.select_related("blob", "last_commit"):
            entries[entry.path] = (entry.blob, entry.last_commit)
    if replace_tree:
        snapshot = {}
    else:
        snapshot = {path: blob for path, (blob, _) in entries.items()}
    for path in deletes:
        if path not in snapshot:
            raise EntryNotFound(f"A file with this name doesn't exist: {path}")
        del snapshot[path]
    for folder in deleted_folders:
        inside = [p for p in snapshot if p.startswith(folder.rstrip("/") + "/")]
        if not inside:
            raise EntryNotFound(f"A folder with this name doesn't exist: {folder}")
        for path in inside:
            del snapshot[path]
    changed = {}
    for path, blob in files:
        previous = entries.get(path)
        if previous is None or previous[0].pk != blob.pk:
            changed[path] = blob
        snapshot[path] = blob
    _check_file_folder_clash(set(snapshot))
    if description:
        message = f"{message}\n\n{description}"[:MESSAGE_MAX]
    now = timezone.now()
    commit = Commit.objects.create(
        repo=repo,
        oid=commit_id(
            tree={p: b.sha256 for p, b in snapshot.items()},
            parent=parent.oid if parent else None,
            author=author.username if author else "",
            when=now,
            message=message,
        ),
        parent=parent,
        message=message,
        author=author,
        created_at=now,
    )
    rows = []
    for path, blob in snapshot.items():
        last = commit if (path in changed or path not in entries) else entries[path][1]
        rows.append(TreeEntry(commit=commit, path=path, blob=blob, last_commit=last))
    TreeEntry.objects.bulk_create(rows, batch_size=1000)
    if ref is not None:
        ref.commit = commit
        ref.save(update_fields=["commit"])
        return commit
    repo.head = commit
    repo.last_modified = now
    repo.last_message = message.split("\n", 1)[0]
    repo.save(update_fields=["head", "last_modified", "last_message"])
    if "README.md" in changed:
        with open_blob(changed["README.md"]) as handle:
            text = handle.read(settings.HUB_CARD_MAX_BYTES).decode("utf-8", errors="replace")
        apply_card(repo, text)
    elif "README.md" in entries and "README.md" not in snapshot:
        apply_card(repo, "")
    return commit


def check_can_write(repo, user):
    if not user.is_authenticated or (repo.owner_id != user.pk and not user.is_platform_admin):
        raise Forbidden("only the repository owner can upload to it")


def check_quota(user, add_bytes, add_inodes):
    """Refuse an upload that would exceed the owner's StorageQuota (if they have one)."""

    status = storage_status(user)
    if not status["initialized"]:
        return
    if not status["active"]:
        raise QuotaExceeded("your storage quota is not active now")
    if status["bytes_remain"] < add_bytes:
        raise QuotaExceeded(f"storage quota exceeded: {add_bytes} bytes needed, {status['bytes_remain']} remain")
    if status["inodes_remain"] < add_inodes:
        raise QuotaExceeded(f"storage quota exceeded: {add_inodes} files needed, {status['inodes_remain']} remain")


def upload_files(*, repo, user, uploads, message="", prefix=""):
    """Commit uploaded files [(relative path, file object with .size)] to `repo` on main.

    Sizes, count and quota are checked before anything is written (the quota check counts
    every uploaded byte, even content the owner already stores). Content is streamed into
    storage and hashed on the way.
    """
    check_can_write(repo, user)
    if not uploads:
        raise InvalidInput("no files to upload")
    if len(uploads) > settings.HUB_MAX_UPLOAD_FILES:
        raise TooLarge(f"at most {settings.HUB_MAX_UPLOAD_FILES} files per upload")
    if prefix:
        prefix = normalize_path(prefix)
    paths = [normalize_path(path, prefix=prefix) for path, _ in uploads]
    if len(set(paths)) != len(paths):
        raise InvalidInput("the same path appears twice in one upload")
    total = 0
    for path, (_, upload) in zip(paths, uploads):
        if upload.size > settings.HUB_MAX_FILE_BYTES:
            raise TooLarge(f"{path} is larger than {settings.HUB_MAX_FILE_BYTES} bytes")
        total += upload.size
    if total > settings.HUB_MAX_UPLOAD_BYTES:
        raise TooLarge(f"an upload may carry at most {settings.HUB_MAX_UPLOAD_BYTES} bytes")
    check_quota(repo.owner, total, len(uploads))
    default = f"Upload {paths[0]}" if len(paths) == 1 else f"Upload {len(paths)} files"
    message = clean_message(message, default)
    files = []
    try:
        for path, (_, upload) in zip(paths, uploads):
            files.append((path, store_blob(upload, upload.size)))
        return commit_blobs(repo=repo, author=user, files=files, message=message)
    except BaseException:
        # Nothing left behind: content this upload stored and no commit holds goes away.
        delete_blobs_if_unused([blob for _, blob in files if getattr(blob, "created", False)])
        raise


def commit_local_folder(*, repo, author, folder, message, exclude=(), replace_tree=False):
    """Commit every file under a local folder (seed data, tiny models built on disk)."""

    folder = Path(folder)
    files = []
    for file_path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file_path.relative_to(folder).as_posix()
        if relative in exclude or relative.startswith(".cache/"):
            continue
        with file_path.open("rb") as handle:
            files.append((normalize_path(relative), store_blob(handle, file_path.stat().st_size)))
    return commit_blobs(repo=repo, author=author, files=files, message=message, replace_tree=replace_tree)


# --- downloads --------------------------------------------------------------------


def counts_as_download(commit, path):
    """The download rule: a GET of config.json where the revision has one (what
    from_pretrained and snapshot_download fetch once per load); in a revision without
    config.json (datasets, card-only repositories), a GET of any file other than
    README.md and .gitattributes."""
    if path == "config.json":
        return True
    if path in ("README.md", ".gitattributes"):
        return False
    return not commit.entries.filter(path="config.json").exists()


def record_download(repo):
    Repository.objects.filter(pk=repo.pk).update(downloads=F("downloads") + 1)


# --- the Hugging Face write API: commits of operations, refs, LFS transfers ---------------------


def commit_operations(
    *, repo, user, branch, inline, lfs, deletes, deleted_folders, message, description="", expected_parent=None
):
    """One commit from the operations of a Hugging Face commit: `inline` [(path, file, size)]
    small files sent in the commit, `lfs` [(path, Blob)] content uploaded before through the
    LFS API, `deletes` and `deleted_folders` paths.

    Quota (every added byte and file) is checked before an inline file is stored. When the
    commit fails, content it stored and LFS content uploaded for it that no commit holds are
    removed (nothing is left behind).
    """
    check_can_write(repo, user)
    total = sum(size for _, _, size in inline) + sum(blob.size for _, blob in lfs)
    for path, blob in lfs:
        if blob.size > settings.HUB_MAX_FILE_BYTES:
            raise TooLarge(f"{path} is larger than {settings.HUB_MAX_FILE_BYTES} bytes")
    stored = []
    try:
        check_quota(repo.owner, total, len(inline) + len(lfs))
        files = list(lfs)
        for path, handle, size in inline:
            blob = store_blob(handle, size)
            if getattr(blob, "created", False):
                stored.append(blob)
            files.append((path, blob))
        return commit_blobs(
            repo=repo,
            author=user,
            files=files,
            message=message,
            deletes=deletes,
            deleted_folders=deleted_folders,
            branch=branch,
            expected_parent=expected_parent,
            description=description,
        )
    except BaseException:

        pending = [blob for _, blob in lfs if not LfsObject.objects.filter(blob=blob).exclude(repo=repo).exists()]
        delete_blobs_if_unused(stored + pending)
        raise


def delete_repository(*, repo, user):
    """Delete a repository with its commits and refs; content no other repository holds goes too."""

    check_can_write(repo, user)
    blob_ids = set(TreeEntry.objects.filter(commit__repo=repo).values_list("blob_id", flat=True))
    blob_ids |= set(repo.lfs_objects.values_list("blob_id", flat=True))
    root = local_root()
    for upload in LfsUpload.objects.filter(repo=repo):
        if root is not None:
            (root / upload.temp_name).unlink(missing_ok=True)
    with transaction.atomic():
        Repository.objects.filter(pk=repo.pk).update(head=None)
        Repository.objects.filter(pk=repo.pk).delete()
    delete_blobs_if_unused(Blob.objects.filter(pk__in=blob_ids))


def create_ref(*, repo, kind, name, commit):
    if kind == RefKind.BRANCH and name == "main":
        raise Conflict("branch main already exists")
    try:
        with transaction.atomic():
            return Ref.objects.create(repo=repo, kind=kind, name=name, commit=commit)
    except IntegrityError:
        raise Conflict(f"{kind} {name!r} already exists") from None


def delete_ref(*, repo, kind, name):

    if kind == RefKind.BRANCH and name == "main":
        raise Forbidden("branch main cannot be deleted")
    deleted, _ = Ref.objects.filter(repo=repo, kind=kind, name=name).delete()
    if not deleted:
        raise RevisionNotFound(f"{kind} {name!r} not found in {repo.full_name}")


def _record_lfs_object(repo, blob):

    LfsObject.objects.get_or_create(repo=repo, blob=blob)


def store_lfs_object(*, repo, read, size, sha256):
    """Basic LFS transfer: the body streamed into storage, its sha256 and size verified."""

    blob = store_stream(read, size, expected_sha256=sha256)
    try:
        _record_lfs_object(repo, blob)
    except BaseException:
        if getattr(blob, "created", False):
            delete_blobs_if_unused([blob])
        raise
    return blob


def open_lfs_upload(*, repo, user, sha256, size):
    """The multipart upload of (repo, sha256, size): resumed where it exists, else started."""


    upload = LfsUpload.objects.filter(repo=repo, sha256=sha256, size=size).first()
    if upload is not None:
        return upload
    try:
        with transaction.atomic():
            return LfsUpload.objects.create(
                repo=repo,
                user=user,
                sha256=sha256,
                size=size,
                part_size=settings.HUB_LFS_PART_BYTES,
                temp_name=f"hub/tmp/lfs-{uuid.uuid4().hex}",
            )
    except IntegrityError:
        return LfsUpload.objects.get(repo=repo, sha256=sha256, size=size)


def store_lfs_part(*, upload, number, read):
    """Write part `number` at its offset of the upload's temporary file. Its etag names this
    write (random): the completion must list the etag of the last write of every part, and
    the whole content is verified against its sha256 then, so parts are not hashed here (one
    hash pass per upload). A part sent again overwrites itself and gets a new etag."""


    path = local_root() / upload.temp_name
    path.parent.mkdir(parents=True, exist_ok=True)
    length = upload.part_length(number)
    offset = (number - 1) * upload.part_size
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        written = 0
        source = splice_source(read)
        if source is not None:  # straight from the socket into the file, by the kernel
            written = splice_into(source[0], source[1], fd, length, offset=offset)
        while source is None and written < length:
            data = read(min(STREAM_CHUNK, length - written))
            if not data:
                break
            done = 0
            while done < len(data):
                done += os.pwrite(fd, memoryview(data)[done:], offset + written + done)
            written += len(data)
        if written != length:
            raise InvalidInput(f"part {number} ended after {written} of {length} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)
    etag = secrets.token_hex(16)
    LfsPart.objects.update_or_create(upload=upload, number=number, defaults={"etag": etag})
    return etag


def complete_lfs_upload(*, repo, sha256, size, parts):
    """Check that every part is stored with the etag the client got, hash the whole file and
    verify its sha256 and size, then move it to its content-addressed name. A file that does
    not match is removed with its upload (nothing left behind)."""


    upload = LfsUpload.objects.filter(repo=repo, sha256=sha256, size=size).first()
    if upload is None:

        blob = Blob.objects.filter(sha256=sha256, size=size).first()
        if blob is not None and blob.lfs_objects.filter(repo=repo).exists():
            return blob  # completed already (a retried completion)
        raise InvalidInput("no upload in progress for this object")
    stored = {p.number: p.etag for p in upload.parts.all()}
    given = {}
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("partNumber"), int):
            raise InvalidInput("parts are [{partNumber, etag}]")
        given[part["partNumber"]] = str(part.get("etag", "")).strip('"')
    missing = [n for n in range(1, upload.part_count + 1) if n not in stored]
    if missing:
        raise InvalidInput(f"parts {missing[:20]} have not been uploaded")
    wrong = [n for n, etag in given.items() if stored.get(n) != etag]
    if wrong or set(given) != set(stored):
        raise InvalidInput(f"the etags of parts {sorted(wrong)[:20] or sorted(set(given) ^ set(stored))[:20]} do not match")
    path = local_root() / upload.temp_name
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(STREAM_CHUNK))
    actual_size = 0
    with path.open("rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(buffer[:count])
            actual_size += count
    if actual_size != size or digest.hexdigest() != sha256:
        path.unlink(missing_ok=True)
        upload.delete()
        raise InvalidInput(f"the uploaded content does not match sha256 {sha256} and size {size}")
    blob = adopt_local_file(path, sha256=sha256, size=size, git_oid=lfs_pointer_oid(sha256, size))
    _record_lfs_object(repo, blob)
    upload.delete()
    return blob
