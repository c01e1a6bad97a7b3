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

from core.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from core.services import enqueue_job
from core.validators import validate_name_characters
from files.paths import normalize_path as files_path
from files.selectors import walk_files
from hub.models import Repository, RepoType
from hub.selectors import entry_at
from hub.services import (
    check_quota,
    commit_blobs,
    commit_local_folder,
    create_repository,
    normalize_path,
    validate_repo_name,
)
from hub.storage import open_blob, store_blob, store_bytes
from images.selectors import find_tag

from .inspection import inspect_model
from .models import (
    AiApplication,
    AiApplicationVersion,
    SaveType,
    VersionImportJob,
    VersionSource,
    VersionStatus,
)

NAME_MAX = 96
TEXT_MAX = 5000
SHORT_MAX = 100
VERSION_RE = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}\Z")
HYPER_PARAMETERS_MAX = 200
IMAGE_MANIFEST_PATH = "crucible-image.json"


# --- validation -----------------------------------------------------------------------


def clean_text(value, field, max_length=TEXT_MAX, required=False):
    if value is None:
        value = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a string")
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field}: is required")
    if len(value) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters")
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL")
    return value


def clean_int(value, field, choices=None, default=None):
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{field}: must be an integer")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{field}: must be an integer") from None
    if abs(number) > 2**31 - 1:
        raise InvalidInput(f"{field}: out of range")
    if choices is not None and number not in choices:
        raise InvalidInput(f"{field}: must be one of {', '.join(str(c) for c in choices)}")
    return number


def clean_application_name(value):
    name = clean_text(value, "application.name", NAME_MAX, required=True)
    if "/" in name:
        raise InvalidInput("application.name: must not contain '/'")
    validate_name_characters(name, "application.name")
    return name


def parse_version(text):
    return tuple(int(part) for part in text.split("."))


def clean_version_text(value, field="version"):
    text = clean_text(value, field, 32)
    if text and not VERSION_RE.match(text):
        raise InvalidInput(f'{field}: must be a dotted version such as "0.0.1"')
    return text


def _value_text(value, field):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return clean_text(value, field, 500)


def clean_hyper_parameters(raw, field="hyperParameterList"):
    """The spec's HyperParameterDTO list [{paramName, type, value, valueRange, edit}]; a
    plain {name: value} dict (what a training job has) is accepted too."""
    if raw in (None, ""):
        return []
    if isinstance(raw, dict):
        raw = [{"paramName": k, "value": v, "edit": False} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise InvalidInput(f"{field}: must be a list of {{paramName, type, value, valueRange, edit}}")
    if len(raw) > HYPER_PARAMETERS_MAX:
        raise InvalidInput(f"{field}: at most {HYPER_PARAMETERS_MAX} entries")
    cleaned, seen = [], set()
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where}: must be an object")
        name = clean_text(item.get("paramName", item.get("name")), f"{where}.paramName", SHORT_MAX, required=True)
        if name in seen:
            raise InvalidInput(f"{where}.paramName: {name!r} appears twice")
        seen.add(name)
        value = item.get("value")
        kind = clean_text(item.get("type"), f"{where}.type", 32)
        if not kind:
            kind = "int" if isinstance(value, int) and not isinstance(value, bool) else (
                "float" if isinstance(value, float) else "string"
            )
        value_range = item.get("valueRange")
        if value_range in (None, ""):
            value_range = []
        if not isinstance(value_range, list) or len(value_range) > 50:
            raise InvalidInput(f"{where}.valueRange: must be a list of at most 50 values")
        for bound in value_range:
            if isinstance(bound, bool) or not isinstance(bound, (int, float, str)) or len(str(bound)) > 100:
                raise InvalidInput(f"{where}.valueRange: values must be numbers or short strings")
        edit = item.get("edit", True)
        if not isinstance(edit, bool):
            raise InvalidInput(f"{where}.edit: must be true or false")
        cleaned.append(
            {
                "paramName": name,
                "type": kind,
                "value": _value_text(value, f"{where}.value"),
                "valueRange": value_range,
                "edit": edit,
                "description": clean_text(item.get("description"), f"{where}.description", 500),
            }
        )
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
            owner=owner,
            name=name,
            type=clean_text(type, "application.type", 32),
            description=clean_text(description, "application.description"),
            developer=clean_text(developer, "application.developer", SHORT_MAX),
            repository=repository,
        )
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
        commit=commit,
        files=files,
        size_bytes=sum(f["size"] for f in files),
        parameter_count=info["parameter_count"],
        scale=info["scale"] or version.scale,
        model_structure=info["model_structure"] or version.model_structure,
        model_type=info["model_type"],
        status=VersionStatus.IMPORTED,
        error="; ".join(info["notes"])[:2000],
    )
    if not updated:
        raise Conflict(f"version {version.version} is not importing any more")
    version.refresh_from_db()
    return version


def mark_failed(version, reason):
    AiApplicationVersion.objects.filter(pk=version.pk, status=VersionStatus.IMPORTING).update(
        status=VersionStatus.FAILED, error=str(reason)[:2000]
    )


def _commit_message(version):
    text = f"Version {version.version}"
    if version.description:
        text += f": {version.description.splitlines()[0]}"
    return text[:500]


def register_training_result(
    *, owner, application_name, folder, description="", hyper_parameters=None, training_task_id=None, save_path=""
):
    """Snapshot a training run's output folder as a new imported version (source 1).

    Creates the owner's application `application_name` if missing. Synchronous: the
    files are committed to the application's hub repository before this returns.
    """
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
        version = _new_version(
            app,
            created_by=owner,
            source=VersionSource.TRAINING,
            description=clean_text(description, "description"),
            hyper_parameters=clean_hyper_parameters(hyper_parameters),
            train_task_version_id=task_id,
            llm_fine_tune_task_id=task_id,
            # Where the owner keeps a copy in their files (outputDir), never the worker's folder.
            save_path=str(save_path or "")[:1024],
        )
        commit = commit_local_folder(
            repo=app.repository, author=owner, folder=folder, message=_commit_message(version), replace_tree=True
        )
        return _finish_version(version, commit, [normalize_path(path) for path, _ in sizes])


# --- the spec's createAiApplication -----------------------------------------------------


def _check_identity(actor, data, where):
    """createUser / userName in a body are checks against the signed-in user, never identity."""
    create_user = data.get("createUser")
    if create_user not in (None, "") and str(create_user) not in (str(actor.pk), actor.username):
        raise Forbidden(f"{where}.createUser does not match the signed-in user")
    user_name = data.get("userName")
    if user_name not in (None, "") and str(user_name) != actor.username:
        raise Forbidden(f"{where}.userName does not match the signed-in user")


def clean_version_request(owner, data, index, application_name):
    """One entry of aiApplicationVersionList as model fields (plus the files it will import)."""
    where = f"aiApplicationVersionList[{index}]"
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: must be an object")
    _check_identity(owner, data, where)
    named = data.get("applicationName")
    if named not in (None, "") and str(named).strip() != application_name:
        raise InvalidInput(f"{where}.applicationName: must be the application's name {application_name!r}")
    source = clean_int(data.get("source"), f"{where}.source", choices=VersionSource.values)
    if source is None:
        raise InvalidInput(f"{where}.source: is required (1 training result, 2 custom image, 3 local files)")
    save_type = clean_int(data.get("saveType"), f"{where}.saveType", choices=SaveType.values, default=SaveType.LOCAL)
    if save_type == SaveType.OBJECT_STORAGE:
        raise InvalidInput(f"{where}.saveType: 1 (object storage) is not available here; use 2 (local storage)")
    config_save_type = clean_int(
        data.get("configSaveType"), f"{where}.configSaveType", choices=SaveType.values, default=SaveType.LOCAL
    )
    save_path = files_path(data.get("savePath"), field=f"{where}.savePath")
    file_count = 0
    if save_path:
        try:
            file_count = sum(1 for _, node in walk_files(owner, "private", save_path) if not node.is_dir)
        except NotFound:
            raise InvalidInput(f"{where}.savePath: no file or folder /{save_path} in your private file space") from None
        if not file_count:
            raise InvalidInput(f"{where}.savePath: /{save_path} holds no files")
    elif source in (VersionSource.TRAINING, VersionSource.LOCAL):
        raise InvalidInput(f"{where}.savePath: is required for source {source} (a folder in your private file space)")
    fields = {
        "source": source,
        "version": clean_version_text(data.get("version"), f"{where}.version"),
        "description": clean_text(data.get("description"), f"{where}.description"),
        "save_type": save_type,
        "save_path": save_path,
        "config_save_type": config_save_type,
        "config_path": files_path(data.get("configPath"), field=f"{where}.configPath"),
        "framework": clean_int(data.get("framework"), f"{where}.framework"),
        "framework_style": clean_int(data.get("frameworkStyle"), f"{where}.frameworkStyle"),
        "image_type": clean_int(data.get("imageType"), f"{where}.imageType", choices=[0, 1]),
        "label": clean_text(data.get("label"), f"{where}.label", SHORT_MAX),
        "scale": clean_text(data.get("scale"), f"{where}.scale", 32),
        "model_structure": clean_text(data.get("modelStructure"), f"{where}.modelStructure", 200),
        "train_task_version_id": clean_text(data.get("trainTaskVersionId"), f"{where}.trainTaskVersionId", 64),
        "llm_fine_tune_task_id": clean_text(data.get("llmFineTuneTaskId"), f"{where}.llmFineTuneTaskId", 64),
    }
    image_ref = clean_text(data.get("image"), f"{where}.image", 300)
    if source == VersionSource.IMAGE:
        if not image_ref:
            raise InvalidInput(f"{where}.image: is required for source 2 (an imported image, name:tag)")
        try:
            image_tag = find_tag(owner, image_ref)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}.{exc.message}") from None
        fields.update(image=image_tag.image, image_tag=image_tag, image_ref=image_ref)
        if fields["image_type"] is None:
            fields["image_type"] = 1
    elif image_ref:
        fields["image_ref"] = image_ref
    return fields


def create_applications_from_request(*, actor, application, versions, hyper_parameters):
    """createAiApplication: the application (or the caller's existing one of that name) and
    its new versions, each with an import job. Returns (application, [versions], hyper list)."""
    if not isinstance(application, dict):
        raise InvalidInput("application: must be an object with at least a name")
    _check_identity(actor, application, "application")
    if versions in (None, ""):
        versions = []
    if not isinstance(versions, list) or len(versions) > 20:
        raise InvalidInput("aiApplicationVersionList: a list of at most 20 versions")
    hyper = clean_hyper_parameters(hyper_parameters)
    name = clean_application_name(application.get("name"))
    existing = AiApplication.objects.filter(owner=actor, name=name).first()
    if existing is not None and not versions:
        raise Conflict(f"you already have an application named {name}; send versions to add to it")
    cleaned = [clean_version_request(actor, item, i, name) for i, item in enumerate(versions)]
    requested = [c["version"] for c in cleaned if c["version"]]
    if len(set(requested)) != len(requested):
        raise InvalidInput("aiApplicationVersionList: the same version appears twice")
    created = []
    with transaction.atomic():
        app, _ = ensure_application(
            owner=actor,
            name=name,
            type=application.get("type"),
            description=application.get("description"),
            developer=application.get("developer"),
        )
        for fields in cleaned:
            version = _new_version(app, created_by=actor, hyper_parameters=hyper, **fields)
            job = VersionImportJob.objects.create(owner=actor, version=version)
            enqueue_job(job)
            created.append(version)
    return app, created, hyper


def register_files_folder(*, owner, application_name, folder, description=""):
    """A new version (source 3, local files) of the owner's application `application_name`
    (created if missing) from a folder of their private file space, imported by a job."""
    path = files_path(folder, field="folder")
    if not path:
        raise InvalidInput("folder: choose a folder of your files")
    try:
        has_files = any(not node.is_dir for _, node in walk_files(owner, "private", path))
    except NotFound:
        raise InvalidInput(f"folder: no folder /{path} in your files") from None
    if not has_files:
        raise InvalidInput(f"folder: /{path} holds no files")
    with transaction.atomic():
        app, _ = ensure_application(owner=owner, name=application_name)
        version = _new_version(app, created_by=owner, source=VersionSource.LOCAL, save_path=path,
                               description=clean_text(description, "description"))
        enqueue_job(VersionImportJob.objects.create(owner=owner, version=version))
    return version


# --- the import job ---------------------------------------------------------------------


def image_manifest(image_tag):
    """What a source-2 version records about its image (committed as crucible-image.json)."""
    return {
        "image": image_tag.image.name,
        "tag": image_tag.tag,
        "id": image_tag.config_digest,
        "format": image_tag.archive_format,
        "architecture": image_tag.architecture,
        "os": image_tag.os,
        "entrypoint": image_tag.entrypoint,
        "cmd": image_tag.cmd,
        "env": image_tag.env,
        "exposedPorts": image_tag.exposed_ports,
        "layers": [{"digest": layer.digest, "size": layer.size} for layer in image_tag.layers.all()],
    }


def import_version(job, handle):
    """The body of registry.import_version: commit the version's files to its hub repository."""
    version = AiApplicationVersion.objects.select_related("application__repository", "application__owner").get(
        pk=job.version_id
    )
    try:
        return _import_version(version, handle)
    except Exception as exc:
        mark_failed(version, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
        raise


def _import_version(version, handle):
    from hub.services import check_quota, commit_blobs, normalize_path

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
        raise InvalidInput(f"nothing to import: savePath {version.save_path or '(none)'} holds no files")
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
    commit = commit_blobs(
        repo=app.repository, author=owner, files=files, message=_commit_message(version), replace_tree=True
    )
    version = _finish_version(version, commit, paths)
    handle.log(f"version {version.version}: commit {commit.oid[:12]}, {version.size_bytes} bytes, scale {version.scale or '?'}")
    return commit.oid


def register_hub_snapshot(*, owner, application_name, source_repo, description="", type="LLM", developer=""):
    """A new imported version (source 3) holding the files of another hub model's head.

    The blobs are shared (content addressed), so nothing is copied; the application's own
    repository gets a commit with the same files. Used by the demo seed.
    """
    if source_repo.head is None:
        raise InvalidInput(f"{source_repo.full_name} has no commits")
    entries = list(source_repo.head.entries.select_related("blob"))
    _check_limits([(e.path, e.blob.size) for e in entries])
    with transaction.atomic():
        app, _ = ensure_application(owner=owner, name=application_name, type=type, developer=developer)
        version = _new_version(
            app,
            created_by=owner,
            source=VersionSource.LOCAL,
            description=clean_text(description, "description")
            or f"From the hub: {source_repo.full_name}@{source_repo.head.oid[:12]}",
        )
        commit = commit_blobs(
            repo=app.repository,
            author=owner,
            files=[(e.path, e.blob) for e in entries],
            message=_commit_message(version),
            replace_tree=True,
        )
        return _finish_version(version, commit, [e.path for e in entries])
