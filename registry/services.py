"""Writes of the model registry: applications, versions and their imports into the hub.

An application is a hub model repository of its owner (private); a version is one hub
commit of it, made with hub.services.commit_blobs / commit_local_folder, so it downloads
through the hub's Hugging Face compatible routes. Versions are numbered 1, 2, 3... per
application and never change once imported.
"""

import json
import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import slugify

from core.errors import Conflict, InvalidInput, NotFound, TooLarge
from core.services import enqueue_job
from core.validators import validate_name_characters
from files.paths import normalize_path as files_path
from files.selectors import walk_files
from hub.models import Repository, RepoType
from hub.selectors import entry_at
from hub.services import (check_quota, commit_blobs, commit_local_folder, create_repository, normalize_path,
                          validate_repo_name)
from hub.storage import open_blob, store_blob, store_bytes
from images.selectors import find_tag

from .inspection import inspect_model
from .models import (AiApplication, AiApplicationVersion, SaveType, VersionImportJob, VersionSource, VersionStatus,
                     hyper_parameter)

NAME_MAX = 96
TEXT_MAX = 5000
SHORT_MAX = 100
VERSION_RE = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}\Z")
HYPER_PARAMETERS_MAX = 200
IMAGE_MANIFEST_PATH = "crucible-image.json"


# --- validation -----------------------------------------------------------------------


def clean_text(value, field, max_length=TEXT_MAX, required=False):
    """A string (a number is taken as its text), stripped, of at most `max_length` characters."""
    if value is None:
        value = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=field)
    value = value.strip()
    if required and not value:
        raise InvalidInput("is required", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"at most {max_length} characters", field=field)
    if "\x00" in value:
        raise InvalidInput("must not contain NUL", field=field)
    return value


def clean_application_name(value, field="name"):
    name = clean_text(value, field, NAME_MAX, required=True)
    if "/" in name:
        raise InvalidInput("must not contain '/'", field=field)
    validate_name_characters(name, field)
    return name


def parse_version(text):
    return tuple(int(part) for part in text.split("."))


def clean_version_text(value, field="version"):
    text = clean_text(value, field, 32)
    if text and not VERSION_RE.match(text):
        raise InvalidInput('must be a dotted version such as "0.0.1"', field=field)
    return text


def _value_text(value, field):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return clean_text(value, field, 500)


def clean_hyper_parameters(raw, field="hyper_parameters"):
    """A version's hyper-parameters from [{name, value, type, value_range, editable, description}] or
    a plain {name: value} mapping (what a training run has), in the stored format (hyper_parameter)."""
    if raw in (None, ""):
        return []
    if isinstance(raw, dict):
        raw = [{"name": k, "value": v, "editable": False} for k, v in raw.items()]
    if not isinstance(raw, (list, tuple)) or len(raw) > HYPER_PARAMETERS_MAX:
        raise InvalidInput(f"a list of at most {HYPER_PARAMETERS_MAX} hyper-parameters", field=field)
    cleaned, seen = [], set()
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput("must be an object", field=where)
        name = clean_text(item.get("name"), f"{where}.name", SHORT_MAX, required=True)
        if name in seen:
            raise InvalidInput(f"{name!r} appears twice", field=f"{where}.name")
        seen.add(name)
        value = item.get("value")
        kind = clean_text(item.get("type"), f"{where}.type", 32) or (
            "int" if isinstance(value, int) and not isinstance(value, bool) else
            "float" if isinstance(value, float) else "string")
        value_range = list(item.get("value_range") or [])
        if len(value_range) > 50 or not all(not isinstance(b, bool) and isinstance(b, (int, float, str))
                                            and len(str(b)) <= 100 for b in value_range):
            raise InvalidInput("at most 50 values, numbers or short strings", field=f"{where}.value_range")
        editable = item.get("editable", True)
        if not isinstance(editable, bool):
            raise InvalidInput("must be true or false", field=f"{where}.editable")
        cleaned.append(hyper_parameter(
            name=name, type=kind, value=_value_text(value, f"{where}.value"), value_range=value_range,
            editable=editable, description=clean_text(item.get("description"), f"{where}.description", 500)))
    return cleaned


# --- applications ---------------------------------------------------------------------


def _repo_name_for(name):
    try:
        return validate_repo_name(name)
    except InvalidInput:
        slug = slugify(name)[:80].strip("-_.") or "model"
        return f"{slug}-{uuid.uuid4().hex[:8]}"


def _repository_for(owner, name):
    """The hub model repository behind a new application: the owner's repository of that
    name if it exists and backs no other application, else a new private one."""
    repo_name = _repo_name_for(name)
    existing = Repository.objects.filter(owner=owner, type=RepoType.MODEL, name=repo_name).first()
    if existing is not None:
        if not AiApplication.objects.filter(repository=existing).exists():
            return existing
        repo_name = f"{repo_name[:86]}-{uuid.uuid4().hex[:8]}"
    return create_repository(owner=owner, name=repo_name, type=RepoType.MODEL, private=True)


def ensure_application(*, owner, name, type="", description="", developer=""):
    """(application, created): the owner's application of that name, created if missing."""
    name = clean_application_name(name)
    app = AiApplication.objects.filter(owner=owner, name=name).first()
    if app is not None:
        return app, False
    with transaction.atomic():
        repository = _repository_for(owner, name)
        app = AiApplication.objects.create(
            owner=owner, name=name, type=clean_text(type, "type", 32), description=clean_text(description, "description"),
            developer=clean_text(developer, "developer", SHORT_MAX), repository=repository)
    return app, True


# --- versions -----------------------------------------------------------------------


def _next_version(app, requested):
    """(number, version text) for a new version of a locked application."""
    last = app.versions.order_by("-number").first()
    number = last.number + 1 if last else 1
    if not requested:
        if last is None:
            return number, "0.0.1"
        parts = list(parse_version(last.version))
        parts[-1] += 1
        return number, ".".join(str(p) for p in parts)
    if app.versions.filter(version=requested).exists():
        raise Conflict(f"version {requested} of {app.name} already exists; versions are immutable")
    if last is not None and parse_version(requested) <= parse_version(last.version):
        raise InvalidInput(f"version must be greater than the latest version {last.version}")
    return number, requested


def _new_version(app, *, created_by, source, version="", **fields):
    locked = AiApplication.objects.select_for_update().get(pk=app.pk)
    number, text = _next_version(locked, version)
    locked.save(update_fields=["modified_at"])
    return AiApplicationVersion.objects.create(
        application=locked, number=number, version=text, source=source, created_by=created_by, **fields
    )


def _check_limits(files):
    """files: [(path, size)]. The hub's upload limits apply to a version too."""
    if len(files) > settings.HUB_MAX_UPLOAD_FILES:
        raise TooLarge(f"a version may hold at most {settings.HUB_MAX_UPLOAD_FILES} files")
    total = 0
    for path, size in files:
        if size > settings.HUB_MAX_FILE_BYTES:
            raise TooLarge(f"{path} is larger than {settings.HUB_MAX_FILE_BYTES} bytes")
        total += size
    if total > settings.HUB_MAX_UPLOAD_BYTES:
        raise TooLarge(f"a version may hold at most {settings.HUB_MAX_UPLOAD_BYTES} bytes")
    return total


def _finish_version(version, commit, paths):
    """Record what the commit holds for this version: files, size, structure, parameters."""
    entries = {path: entry_at(commit, path) for path in paths}
    info = inspect_model(list(entries), lambda path: open_blob(entries[path].blob))
    files = [{"path": p, "size": e.blob.size, "sha256": e.blob.sha256} for p, e in sorted(entries.items())]
    updated = AiApplicationVersion.objects.filter(pk=version.pk, status=VersionStatus.IMPORTING).update(
        commit=commit, files=files, size_bytes=sum(f["size"] for f in files), parameter_count=info["parameter_count"],
        scale=info["scale"] or version.scale, model_structure=info["model_structure"] or version.model_structure,
        model_type=info["model_type"], status=VersionStatus.IMPORTED, error="; ".join(info["notes"])[:2000])
    if not updated:
        raise Conflict(f"version {version.version} is not importing any more")
    version.refresh_from_db()
    return version


def mark_failed(version, reason):
    AiApplicationVersion.objects.filter(pk=version.pk, status=VersionStatus.IMPORTING).update(
        status=VersionStatus.FAILED, error=str(reason)[:2000])


def _commit_message(version):
    text = f"Version {version.version}"
    if version.description:
        text += f": {version.description.splitlines()[0]}"
    return text[:500]


def register_training_result(*, owner, application_name, folder, description="", hyper_parameters=None,
                             training_task_id=None, save_path=""):
    """Snapshot a training run's output folder as a new imported version (source 1) of the owner's
    application `application_name` (created if missing), committed to its hub repository before this
    returns."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    local = sorted(p for p in folder.rglob("*") if p.is_file() and not p.relative_to(folder).as_posix().startswith(".cache/"))
    if not local:
        raise InvalidInput(f"{folder} holds no files")
    sizes = [(p.relative_to(folder).as_posix(), p.stat().st_size) for p in local]
    total = _check_limits(sizes)
    check_quota(owner, total, len(sizes))
    task_id = clean_text(training_task_id, "training_task_id", 64)
    with transaction.atomic():
        app, _ = ensure_application(owner=owner, name=application_name, type="LLM")
        # save_path: where the owner keeps a copy in their files (the run's output folder), never the worker's.
        version = _new_version(
            app, created_by=owner, source=VersionSource.TRAINING, description=clean_text(description, "description"),
            hyper_parameters=clean_hyper_parameters(hyper_parameters), train_task_version_id=task_id,
            llm_fine_tune_task_id=task_id, save_path=str(save_path or "")[:1024])
        commit = commit_local_folder(repo=app.repository, author=owner, folder=folder,
                                     message=_commit_message(version), replace_tree=True)
        return _finish_version(version, commit, [normalize_path(path) for path, _ in sizes])


# --- applications with versions from the file space or images ---------------------------


def _files_folder(owner, value, field, required=True):
    """A file or folder of the owner's private file space that holds files (normalised)."""
    path = files_path(value, field=field)
    if not path:
        if required:
            raise InvalidInput("is required: a folder of your private file space", field=field)
        return path
    try:
        has_files = any(not node.is_dir for _, node in walk_files(owner, "private", path))
    except NotFound:
        raise InvalidInput(f"no folder /{path} (or file) in your private file space", field=field) from None
    if not has_files:
        raise InvalidInput(f"/{path} holds no files", field=field)
    return path


def _version_fields(owner, index, *, source, save_path="", save_type=SaveType.LOCAL, config_save_type=SaveType.LOCAL,
                    config_path="", image="", image_type=None, version="", description="", label="", scale="",
                    model_structure="", framework=None, framework_style=None, train_task_version_id="",
                    llm_fine_tune_task_id=""):
    """One requested version as model fields (checked; its files are imported later by a job)."""
    where = f"versions[{index}]"
    if source not in VersionSource.values:
        raise InvalidInput("1 training result, 2 custom image or 3 local files", field=f"{where}.source")
    if save_type == SaveType.OBJECT_STORAGE:
        raise InvalidInput("object storage is not available here; use local storage", field=f"{where}.save_type")
    save_path = _files_folder(owner, save_path, f"{where}.save_path",
                              required=source in (VersionSource.TRAINING, VersionSource.LOCAL))
    fields = {
        "source": source, "version": clean_version_text(version, f"{where}.version"), "save_type": save_type,
        "save_path": save_path, "config_save_type": config_save_type, "image_type": image_type,
        "config_path": files_path(config_path, field=f"{where}.config_path"), "framework": framework,
        "framework_style": framework_style, "description": clean_text(description, f"{where}.description"),
        "label": clean_text(label, f"{where}.label", SHORT_MAX), "scale": clean_text(scale, f"{where}.scale", 32),
        "model_structure": clean_text(model_structure, f"{where}.model_structure", 200),
        "train_task_version_id": clean_text(train_task_version_id, f"{where}.train_task_version_id", 64),
        "llm_fine_tune_task_id": clean_text(llm_fine_tune_task_id, f"{where}.llm_fine_tune_task_id", 64),
        "image_ref": clean_text(image, f"{where}.image", 300),
    }
    if source == VersionSource.IMAGE:
        if not fields["image_ref"]:
            raise InvalidInput("is required for source 2 (an imported image, name:tag)", field=f"{where}.image")
        try:
            image_tag = find_tag(owner, fields["image_ref"])
        except InvalidInput as exc:
            raise InvalidInput(exc.message.removeprefix("image: "), field=f"{where}.image") from None
        fields.update(image=image_tag.image, image_tag=image_tag, image_type=1 if image_type is None else image_type)
    return fields


def create_application(*, owner, name, type="", description="", developer="", versions=(), hyper_parameters=()):
    """The owner's application `name` (created if missing) and its new `versions` (dicts of
    _version_fields' arguments), each imported by a job; every version gets `hyper_parameters`.
    Returns (application, [versions], the hyper-parameters as stored)."""
    versions = list(versions or [])
    if len(versions) > 20 or not all(isinstance(item, dict) for item in versions):
        raise InvalidInput("a list of at most 20 objects", field="versions")
    hyper = clean_hyper_parameters(hyper_parameters)
    name = clean_application_name(name)
    if not versions and AiApplication.objects.filter(owner=owner, name=name).exists():
        raise Conflict(f"you already have an application named {name}; send versions to add to it")
    cleaned = [_version_fields(owner, i, **item) for i, item in enumerate(versions)]
    requested = [c["version"] for c in cleaned if c["version"]]
    if len(set(requested)) != len(requested):
        raise InvalidInput("the same version appears twice", field="versions")
    created = []
    with transaction.atomic():
        app, _ = ensure_application(owner=owner, name=name, type=type, description=description, developer=developer)
        for fields in cleaned:
            version = _new_version(app, created_by=owner, hyper_parameters=hyper, **fields)
            enqueue_job(VersionImportJob.objects.create(owner=owner, version=version))
            created.append(version)
    return app, created, hyper


def register_files_folder(*, owner, application_name, folder, description=""):
    """A new version (source 3, local files) of the owner's application `application_name`
    (created if missing) from a folder of their private file space, imported by a job."""
    path = _files_folder(owner, folder, "folder")
    with transaction.atomic():
        app, _ = ensure_application(owner=owner, name=application_name)
        version = _new_version(app, created_by=owner, source=VersionSource.LOCAL, save_path=path,
                               description=clean_text(description, "description"))
        enqueue_job(VersionImportJob.objects.create(owner=owner, version=version))
    return version


# --- the import job ---------------------------------------------------------------------


def image_manifest(image_tag):
    """What a source-2 version records about its image (committed as crucible-image.json)."""
    return {"image": image_tag.image.name, "tag": image_tag.tag, "id": image_tag.config_digest,
            "format": image_tag.archive_format, "architecture": image_tag.architecture, "os": image_tag.os,
            "entrypoint": image_tag.entrypoint, "cmd": image_tag.cmd, "env": image_tag.env,
            "exposedPorts": image_tag.exposed_ports,
            "layers": [{"digest": layer.digest, "size": layer.size} for layer in image_tag.layers.all()]}


def import_version(job, handle):
    """The body of registry.import_version: commit the version's files to its hub repository."""
    version = AiApplicationVersion.objects.select_related("application__repository", "application__owner").get(
        pk=job.version_id)
    try:
        return _import_version(version, handle)
    except Exception as exc:
        mark_failed(version, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        raise


def _import_version(version, handle):
    app = version.application
    owner = app.owner
    nodes = []
    if version.save_path:
        nodes = [(normalize_path(rel), node) for rel, node in walk_files(owner, "private", version.save_path) if not node.is_dir]
    extra = []
    if version.source == VersionSource.IMAGE:
        if version.image_tag is None:
            raise InvalidInput("the version's image was deleted")
        manifest = json.dumps(image_manifest(version.image_tag), indent=2).encode()
        extra.append((IMAGE_MANIFEST_PATH, manifest))
    paths = [path for path, _ in nodes] + [path for path, _ in extra]
    if not paths:
        raise InvalidInput(f"nothing to import: /{version.save_path} holds no files")
    if len(set(paths)) != len(paths):
        raise Conflict(f"{IMAGE_MANIFEST_PATH} is reserved for the image description")
    total = _check_limits([(p, n.size) for p, n in nodes] + [(p, len(d)) for p, d in extra])
    check_quota(owner, total, len(paths))
    handle.log(f"importing {len(paths)} files ({total} bytes) into {app.repository.full_name}")
    files = []
    for index, (path, node) in enumerate(nodes, 1):
        try:
            with default_storage.open(node.storage_name, "rb") as source:
                files.append((path, store_blob(source, node.size)))
        except FileNotFoundError as exc:  # deleted from the file space while the import ran
            raise InvalidInput(f"{version.save_path.rstrip('/')}/{path} vanished during the import") from exc
        handle.progress(0.9 * index / len(nodes))
    files += [(path, store_bytes(data)) for path, data in extra]
    commit = commit_blobs(repo=app.repository, author=owner, files=files, message=_commit_message(version),
                          replace_tree=True)
    version = _finish_version(version, commit, paths)
    handle.log(f"version {version.version}: commit {commit.oid[:12]}, {version.size_bytes} bytes, scale {version.scale or '?'}")
    return commit.oid


def register_hub_snapshot(*, owner, application_name, source_repo, description="", type="LLM", developer=""):
    """A new imported version (source 3) holding the files of another hub model's head: the blobs are
    shared (content addressed), the application's repository gets a commit with the same files."""
    if source_repo.head is None:
        raise InvalidInput(f"{source_repo.full_name} has no commits")
    entries = list(source_repo.head.entries.select_related("blob"))
    _check_limits([(e.path, e.blob.size) for e in entries])
    with transaction.atomic():
        app, _ = ensure_application(owner=owner, name=application_name, type=type, developer=developer)
        version = _new_version(app, created_by=owner, source=VersionSource.LOCAL, description=clean_text(
            description, "description") or f"From the hub: {source_repo.full_name}@{source_repo.head.oid[:12]}")
        commit = commit_blobs(repo=app.repository, author=owner, files=[(e.path, e.blob) for e in entries],
                              message=_commit_message(version), replace_tree=True)
        return _finish_version(version, commit, [e.path for e in entries])
