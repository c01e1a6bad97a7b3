"""Reads: which services a user may see and call, and where a request should go."""

import random
import re

from django.db.models import Prefetch, Q

from core.errors import InvalidInput, NotFound
from registry.models import AiApplicationVersion
from registry.models import VersionStatus as RegistryStatus
from registry.selectors import visible_applications

from .models import (
    ACTIVE_VERSION_STATUSES,
    LIVE_REPLICA_STATUSES,
    ModelService,
    Replica,
    ReplicaStatus,
    ServiceQuerySet,
    ServiceVersion,
    VersionStatus,
)

UID_RE = re.compile(r"^[0-9a-f]{32}\Z")


def managed_services(user):
    """The services a user manages: their own (every service for platform admins)."""
    qs = ModelService.objects.filter(deleting=False).select_related("owner", "shared_team")
    return qs.visible_to(user) if getattr(user, "is_platform_admin", False) else qs.owned_by(user)


def callable_service_qs(user):
    """Services a user may send requests to: their own, and those shared with everyone or with their
    team (a platform admin too: calling is not managing, see managed_services)."""
    qs = ModelService.objects.filter(deleting=False).select_related("owner")
    if getattr(user, "is_platform_admin", False):
        return qs.owned_by(user) | qs.filter(ServiceQuerySet.shared(user))
    return qs.visible_to(user)


def call_name(service, user):
    """The `model` a user calls a service by: its name when it is theirs, `owner/name` when shared."""
    if service.owner_id == getattr(user, "pk", None):
        return service.name
    return f"{service.owner.username}/{service.name}"


def service_status(service):
    """running if any version runs; else deploying, failed, stopped or saved (in that order)."""
    statuses = {v.status for v in service.versions.all()}
    for status in (VersionStatus.RUNNING, VersionStatus.DEPLOYING, VersionStatus.STOPPING, VersionStatus.FAILED,
                   VersionStatus.STOPPED):
        if status in statuses:
            return str(status)
    return str(VersionStatus.SAVED)


def callable_services(user):
    """[{name, status, kind ("chat" or "embedding"), id, created, owner, own, sharing}] for the services
    the user may call: their own first (called by name), then those shared with them (`owner/name`)."""
    rows = []
    for service in callable_service_qs(user).prefetch_related("versions").order_by("name", "owner__username"):
        rows.append(
            {
                "name": call_name(service, user),
                "status": service_status(service),
                "kind": "embedding" if service.kind == "embedding" else "chat",
                "id": service.uid,
                "created": service.created_at,
                "owner": service.owner.username,
                "own": service.owner_id == user.pk,
                "sharing": service.sharing,
            }
        )
    rows.sort(key=lambda row: not row["own"])  # stable: by name within each group
    return rows


def get_callable_service(user, name):
    """The service `name` names for `user`: `owner/name`, or a plain name: their own service of
    that name, else the one service of that name shared with them (several: ask for owner/name)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("model: is required", status_code=400)
    name = name.strip()
    qs = callable_service_qs(user)
    owner, slash, short = name.rpartition("/")
    if slash:
        service = qs.filter(owner__username=owner, name=short).first()
    else:
        service = qs.filter(owner=user, name=name).first()
        if service is None:
            shared = list(qs.filter(name=name).exclude(owner=user)[:2])
            if len(shared) > 1:
                raise NotFound(f"Several models named `{name}` are shared with you; call one as owner/{name} "
                               "(GET /v1/models lists them).")
            service = shared[0] if shared else None
    if service is None:
        raise NotFound(f"The model `{name}` does not exist or you do not have access to it.")
    return service


def context_windows(service_uids):
    """{service uid: the smallest context (tokens) of its running versions} for those that report one."""
    windows = {}
    rows = ServiceVersion.objects.filter(service__uid__in=list(service_uids), status=VersionStatus.RUNNING,
                                         max_context__isnull=False).values_list("service__uid", "max_context")
    for uid, window in rows:
        windows[uid] = min(windows.get(uid, window), window)
    return windows


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


def with_details(qs):
    replicas = Replica.objects.order_by("id")
    versions = ServiceVersion.objects.select_related("application_version__application").prefetch_related(
        Prefetch("replicas", queryset=replicas)
    )
    return qs.prefetch_related(Prefetch("versions", queryset=versions))


def get_service_for_user(user, service_id, field="id"):
    """A service the user manages, by its public id (or database number), with its versions."""
    service = _lookup(with_details(managed_services(user)), service_id, field)
    if service is None:
        raise NotFound(f"model service {service_id} not found")
    return service


def get_version_for_user(user, version_id, field="id"):
    qs = ServiceVersion.objects.select_related("service__owner", "application_version__application").filter(
        service__in=managed_services(user)
    ).prefetch_related(Prefetch("replicas", queryset=Replica.objects.order_by("id")))
    version = _lookup(qs, version_id, field)
    if version is None:
        raise NotFound(f"model service version {version_id} not found")
    return version


def deployable_versions(user, limit=500):
    """The registry versions a user may deploy (imported, of the applications they see), newest first,
    for the pages' version picker."""
    return list(AiApplicationVersion.objects.select_related("application").filter(
        application__in=visible_applications(user), status=RegistryStatus.IMPORTED,
    ).order_by("-created_at")[:limit])


def search_services(user, *, name="", owner=""):
    """The services a user manages, newest first, with versions and replicas: `name` a substring,
    `owner` a username or user id."""
    qs = with_details(managed_services(user))
    if name:
        qs = qs.filter(name__icontains=name)
    if owner:
        by_id = Q(owner__pk=int(owner)) if owner.isdigit() and len(owner) < 19 else Q()
        qs = qs.filter(Q(owner__username=owner) | by_id)
    return qs.order_by("-created_at", "-id")


def routable_versions(service):
    """Running versions with a positive weight and at least one running replica, with those replicas."""
    live = Replica.objects.filter(status=ReplicaStatus.RUNNING).order_by("id")
    versions = (
        service.versions.filter(status=VersionStatus.RUNNING, rate__gt=0)
        .prefetch_related(Prefetch("replicas", queryset=live, to_attr="live_replicas"))
        .order_by("number")
    )
    return [v for v in versions if v.live_replicas]


def pick_version(versions, rng=random):
    """One of the routable versions, by weighted random choice on `rate`."""
    return rng.choices(versions, weights=[v.rate for v in versions], k=1)[0]


def pick_replicas(replicas, rng=random):
    """The replicas in the order to try them: one at random first, then the others."""
    first = rng.choice(replicas)
    return [first, *[r for r in replicas if r.pk != first.pk]]


def pick_route(service, rng=random):
    """(version, replica) for one request: a version by weighted random choice on `rate`,
    then one of its running replicas at random. None if nothing is running."""
    versions = routable_versions(service)
    if not versions:
        return None
    version = pick_version(versions, rng)
    return version, pick_replicas(version.live_replicas, rng)[0]


def active_versions():
    return ServiceVersion.objects.filter(status__in=ACTIVE_VERSION_STATUSES).select_related("service")


def live_replicas_on(host):
    return Replica.objects.filter(host=host, status__in=LIVE_REPLICA_STATUSES).select_related("version__service")
