"""Reads of the model registry: visibility, lookups, and a version's files on local disk."""

import re
import shutil
from pathlib import Path

from django.db.models import Count, OuterRef, Subquery, Sum

from core.errors import InvalidInput, NotFound

from .models import AiApplication, AiApplicationVersion, VersionStatus

UID_RE = re.compile(r"^[0-9a-f]{32}\Z")
COPY_CHUNK = 1024 * 1024


def visible_applications(user):
    """A user's own applications (all of them for platform admins)."""
    qs = AiApplication.objects.select_related("owner", "repository")
    if user is None or not user.is_authenticated:
        return qs.none()
    if user.is_platform_admin:
        return qs
    return qs.filter(owner=user)


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
        raise InvalidInput(f"{field}: is required")
    value = value.strip()
    if UID_RE.match(value):
        return qs.filter(uid=value).first()
    if value.isdigit() and len(value) < 19:
        return qs.filter(pk=int(value)).first()
    raise InvalidInput(f"{field}: not an id")


def get_application_for_user(user, application_id, field="aiApplicationId"):
    app = _lookup(with_version_stats(visible_applications(user)), application_id, field)
    if app is None:
        raise NotFound(f"application {application_id} not found")
    return app


def versions_of(application):
    return list(
        application.versions.select_related("application__owner", "application__repository", "commit", "created_by")
        .order_by("-number")
    )


def get_version_for_user(user, version_id, field="aiApplicationVersionId"):
    """The version (by its uid or primary key) if the user may see it; NotFound otherwise."""
    qs = AiApplicationVersion.objects.select_related(
        "application__owner", "application__repository", "commit", "created_by"
    ).filter(application__in=visible_applications(user))
    version = _lookup(qs, version_id, field)
    if version is None:
        raise NotFound(f"version {version_id} not found")
    return version


def filtered_applications(user, query):
    """Applications matching the cleaned list filters (see compat.clean_query_info)."""
    qs = with_version_stats(visible_applications(user))
    if query.get("name"):
        qs = qs.filter(name__icontains=query["name"])
    if query.get("type"):
        qs = qs.filter(type__iexact=query["type"])
    if query.get("developer"):
        qs = qs.filter(developer__icontains=query["developer"])
    if query.get("source") is not None:
        qs = qs.filter(versions__source=query["source"]).distinct()
    if query.get("userName"):
        qs = qs.filter(owner__username=query["userName"])
    if query.get("createUser"):
        value = query["createUser"]
        qs = qs.filter(owner__pk=int(value)) if value.isdigit() and len(value) < 19 else qs.filter(owner__username=value)
    if query.get("status") is not None:
        qs = qs.filter(latest_status=query["status"])
    return qs.order_by("-created_at", "-id")


def materialize_version(version, dest_dir):
    """Write the version's files into `dest_dir` (created if needed) and return it as a Path.

    The folder then loads with from_pretrained. Only imported versions have files.
    """
    from hub.selectors import entry_at
    from hub.storage import open_blob

    if version.status != VersionStatus.IMPORTED or version.commit_id is None:
        raise InvalidInput(f"version {version.version} is {version.get_status_display().lower()}, not imported")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for item in version.files:
        target = (dest / item["path"]).resolve()
        if root not in target.parents:  # hub paths are normalised on write; belt and braces
            raise InvalidInput(f"refusing to write outside {root}: {item['path']}")
        entry = entry_at(version.commit, item["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_blob(entry.blob) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
    return dest


def hub_revision_url(version):
    if version.commit_id is None:
        return None
    return f"/api/models/{version.application.repository.full_name}/revision/{version.commit.oid}"



def hub_page_url(application):
    repo = application.repository
    return f"/hub/{repo.type}/{repo.full_name}/"
