"""Reads of the model registry: visibility, lookups, and a version's files on local disk."""

import re
from pathlib import Path

from django.db.models import Count, OuterRef, Subquery, Sum

from core.errors import InvalidInput, NotFound
from core.models import JobStatus
from hub.selectors import entry_at
from hub.selectors import materialize as hub_materialize
from hub.storage import open_blob

from .models import AiApplication, AiApplicationVersion, VersionStatus

UID_RE = re.compile(r"^[0-9a-f]{32}\Z")
CONFIG_FILES = ("config.json", "adapter_config.json")
CONFIG_TEXT_MAX = 64 * 1024


def visible_applications(user):
    """The applications `user` may read (core.scoping: their own; all of them for platform admins)."""
    return AiApplication.objects.visible_to(user).select_related("owner", "repository")


def with_version_stats(qs):
    latest = AiApplicationVersion.objects.filter(application=OuterRef("pk")).order_by("-number")
    return qs.annotate(
        version_count=Count("versions", distinct=True),
        versions_size=Sum("versions__size_bytes"),
        latest_version=Subquery(latest.values("version")[:1]),
        latest_status=Subquery(latest.values("status")[:1]),
    )


def _lookup(qs, value, field):
    if isinstance(value, int) and not isinstance(value, bool):
        return qs.filter(pk=value).first()
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("is required", field=field)
    value = value.strip()
    if UID_RE.match(value):
        return qs.filter(uid=value).first()
    if value.isdigit() and len(value) < 19:
        return qs.filter(pk=int(value)).first()
    raise InvalidInput("not an id", field=field)


def get_application_for_user(user, application_id, field="application_id"):
    app = _lookup(with_version_stats(visible_applications(user)), application_id, field)
    if app is None:
        raise NotFound(f"application {application_id} not found")
    return app


def version_choices(user, limit=300):
    """(public id, "application version") of the user's imported versions, newest first: the choices
    of a version picker."""
    versions = (AiApplicationVersion.objects.visible_to(user).filter(status=VersionStatus.IMPORTED)
                .select_related("application").order_by("-created_at")[:limit])
    return [(v.uid, f"{v.application.name} {v.version}") for v in versions]


def versions_of(application):
    return list(
        application.versions.select_related("application__owner", "application__repository", "commit", "created_by")
        .order_by("-number")
    )


def resolve_version(user, ref, field="version_id"):
    """The one place a version id from a client becomes a version.

    `ref` is the public id every answer gives (32 hex, the `id` of section 3's versions) or,
    for older clients, the database number. The version is returned only if `user` may read
    it (core.scoping, as for its application); someone else's private version is NotFound, like
    a missing one.
    """
    qs = AiApplicationVersion.objects.visible_to(user).select_related(
        "application__owner", "application__repository", "commit", "created_by")
    version = _lookup(qs, ref, field)
    if version is None:
        raise NotFound(f"version {ref} not found")
    return version


def require_imported(version, field):
    """`version`, whose files are in (an import may still run: then it is refused, naming `field`)."""
    if version.status != VersionStatus.IMPORTED:
        raise InvalidInput(f"version {version.version} is {version.get_status_display().lower()}, not imported",
                           field=field)
    return version


def looks_like_id(value):
    """True for a public registry id (32 hex), the shape of application and version ids."""
    return isinstance(value, str) and bool(UID_RE.match(value.strip()))


def resolve_application_version(user, application_ref, version="", field="application"):
    """A version named by its application's id: the one numbered `version` ("0.0.1"), else the
    latest imported one. Same scoping as resolve_version."""
    app = _lookup(visible_applications(user), application_ref, field)
    if app is None:
        raise NotFound(f"application {application_ref} not found")
    versions = app.versions.select_related("application__owner", "application__repository", "commit", "created_by")
    if version:
        found = versions.filter(version=version).first()
        if found is None:
            raise NotFound(f"application {app.name} has no version {version}")
        return found
    found = versions.filter(status=VersionStatus.IMPORTED).order_by("-number").first()
    if found is None:
        raise InvalidInput(f"application {app.name} has no imported version yet", field=field)
    return found


def public_version_id(ref):
    """The public id of the version a stored reference names (a public id already, or the
    database number older rows keep); None when there is none."""
    if ref in (None, ""):
        return None
    ref = str(ref)
    if UID_RE.match(ref):
        return ref
    if ref.isdigit() and len(ref) < 19:
        return AiApplicationVersion.objects.filter(pk=int(ref)).values_list("uid", flat=True).first()
    return None


def latest_evaluation_results(version):
    """{metric: value} of the version's latest succeeded evaluation, or None when it has none."""
    task = (
        version.evaluations.filter(status=JobStatus.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .only("results", "finished_at")
        .first()
    )
    return dict(task.results) if task is not None else None


def version_config_text(version):
    """The version's config.json (or adapter_config.json) as stored, unparsed; None without one."""
    if version.status != VersionStatus.IMPORTED or version.commit_id is None:
        return None
    paths = {item.get("path") for item in version.files or []}
    for name in CONFIG_FILES:
        if name in paths:
            entry = entry_at(version.commit, name)
            with open_blob(entry.blob) as handle:
                raw = handle.read(CONFIG_TEXT_MAX + 1)
            if len(raw) > CONFIG_TEXT_MAX:
                return None
            return raw.decode("utf-8", "replace")
    return None


def search_applications(user, *, name="", type="", developer="", source=None, status=None, owner=""):
    """The applications `user` may read, newest first, with their version statistics: by name and
    developer (substrings), type, a version's source, the latest version's status, and owner (a
    username or user id)."""
    qs = with_version_stats(visible_applications(user))
    if name:
        qs = qs.filter(name__icontains=name)
    if type:
        qs = qs.filter(type__iexact=type)
    if developer:
        qs = qs.filter(developer__icontains=developer)
    if source is not None:
        qs = qs.filter(versions__source=source).distinct()
    if owner:
        qs = qs.filter(owner__pk=int(owner)) if owner.isdigit() and len(owner) < 19 else qs.filter(owner__username=owner)
    if status is not None:
        qs = qs.filter(latest_status=status)
    return qs.order_by("-created_at", "-id")


def materialize_version(version, dest_dir):
    """Write the version's files into `dest_dir` (created if needed) and return it as a Path.

    The folder then loads with from_pretrained. Only imported versions have files.
    """
    if version.status != VersionStatus.IMPORTED or version.commit_id is None:
        raise InvalidInput(f"version {version.version} is {version.get_status_display().lower()}, not imported")
    hub_materialize(version.application.repository, dest_dir, commit=version.commit)
    return Path(dest_dir)


def hub_revision_url(version):
    if version.commit_id is None:
        return None
    return f"/api/models/{version.application.repository.full_name}/revision/{version.commit.oid}"



def hub_page_url(application):
    repo = application.repository
    return f"/hub/{repo.type}/{repo.full_name}/"
