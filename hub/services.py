"""Writes of the hub: create repositories, commit uploaded files, count downloads."""

import hashlib
import re
import unicodedata

import yaml
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput, QuotaExceeded, TooLarge
from core.validators import validate_name_characters

from .models import Commit, Repository, RepoType, Tag, TagCategory, TreeEntry
from .storage import store_blob, store_bytes

REPO_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
LICENSE_RE = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
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
    """Tag rows for cleaned {category: [names]}, created on first use."""
    objects = []
    for category, names in tags.items():
        for name in names:
            tag, _ = Tag.objects.get_or_create(category=category, name=name)
            objects.append(tag)
    return objects


def split_front_matter(text):
    """(metadata dict, body) of a README with an optional YAML header between '---' lines."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            header = "".join(lines[1:index])
            try:
                data = yaml.safe_load(header) or {}
            except yaml.YAMLError:
                return {}, text
            return (data if isinstance(data, dict) else {}), "".join(lines[index + 1 :])
    return {}, text


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
    for category, key in (("task", "pipeline_tag"), ("library", "library_name")):
        if tags.get(category):
            header[key] = tags[category][0] if len(tags[category]) == 1 else tags[category]
    if tags.get("dataset"):
        header["datasets"] = tags["dataset"]
    if tags.get("language"):
        header["language"] = tags["language"]
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
        raise InvalidInput("isPrivate must be true or false")
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
def commit_blobs(*, repo, author, files, message, replace_tree=False):
    """A new commit on main: the parent's snapshot with `files` [(path, Blob)] added or replaced.

    With replace_tree the commit holds exactly `files` (a registry version is its own files,
    nothing left over from earlier versions).
    """
    repo = Repository.objects.select_for_update().get(pk=repo.pk)
    parent = repo.head
    entries = {}
    if parent is not None:
        for entry in parent.entries.select_related("blob", "last_commit"):
            entries[entry.path] = (entry.blob, entry.last_commit)
    changed = {}
    for path, blob in files:
        previous = entries.get(path)
        if previous is None or previous[0].pk != blob.pk:
            changed[path] = blob
    if replace_tree:
        snapshot = dict(files)
    else:
        snapshot = {path: blob for path, (blob, _) in entries.items()}
        snapshot.update(changed)
    _check_file_folder_clash(set(snapshot))
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
        last = commit if path in changed else entries[path][1]
        rows.append(TreeEntry(commit=commit, path=path, blob=blob, last_commit=last))
    TreeEntry.objects.bulk_create(rows, batch_size=1000)
    repo.head = commit
    repo.last_modified = now
    repo.last_message = message
    repo.save(update_fields=["head", "last_modified", "last_message"])
    if "README.md" in changed:
        from .storage import open_blob

        with open_blob(changed["README.md"]) as handle:
            text = handle.read(settings.HUB_CARD_MAX_BYTES).decode("utf-8", errors="replace")
        apply_card(repo, text)
    return commit


def check_can_write(repo, user):
    if not user.is_authenticated or (repo.owner_id != user.pk and not user.is_platform_admin):
        raise Forbidden("only the repository owner can upload to it")


def check_quota(user, add_bytes, add_inodes):
    """Refuse an upload that would exceed the owner's StorageQuota (if they have one)."""
    from accounts.selectors import storage_status

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
    files = [(path, store_blob(upload, upload.size)) for path, (_, upload) in zip(paths, uploads)]
    return commit_blobs(repo=repo, author=user, files=files, message=message)


def commit_local_folder(*, repo, author, folder, message, exclude=(), replace_tree=False):
    """Commit every file under a local folder (seed data, tiny models built on disk)."""
    from pathlib import Path

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
