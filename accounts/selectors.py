from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from core.errors import Forbidden, NotFound, QuotaExceeded
from core.models import ACTIVE_STATUSES
from core.selectors import job_models

from .models import ApiKey, ResourceQuota, StorageQuota, TeamInvitation

User = get_user_model()


def quota_subject(requester, user_ref):
    """The user whose quota `requester` asks about, named by `user_ref` (an id or a username).

    The reference is a check, never an identity: it must name the requester. Platform admins
    may name anyone.
    """
    user_ref = str(user_ref).strip()
    if user_ref in (str(requester.pk), requester.get_username()):
        return requester
    if not requester.is_platform_admin:
        raise Forbidden("does not match the authenticated user", field="user")
    query = User.objects.filter(username=user_ref)
    if user_ref.isdigit():
        query = User.objects.filter(pk=int(user_ref)) | query
    subject = query.first()
    if subject is None:
        raise NotFound("no such user", field="user")
    return subject


def window_is_open(start_time, end_time, now=None):
    now = now or timezone.now()
    return (start_time is None or start_time <= now) and (end_time is None or now < end_time)


def resource_usage(user):
    """Resources held by the user's queued and running jobs, over every job model."""
    used = {"cpu": 0, "gpu": 0, "memory_gb": 0.0, "mig": 0, "vgpu": 0, "job_slots": 0}
    for model in job_models():
        totals = model.objects.filter(owner=user, status__in=ACTIVE_STATUSES).aggregate(
            cpu=Sum("cpu"), gpu=Sum("gpu"), memory_gb=Sum("memory_gb"), mig=Sum("mig"), vgpu=Sum("vgpu"), n=Count("pk")
        )
        for field in ("cpu", "gpu", "memory_gb", "mig", "vgpu"):
            used[field] += totals[field] or 0
        used["job_slots"] += totals["n"]
    return used


def resource_quota(user):
    """(limits dict, quota record or None). Users without a record get settings.DEFAULT_QUOTA."""
    quota = ResourceQuota.objects.filter(user=user).first()
    if quota is None:
        return dict(settings.DEFAULT_QUOTA), None
    limits = {f: getattr(quota, f) for f in ("cpu", "gpu", "memory_gb", "job_slots", "mig", "vgpu")}
    return limits, quota


def remaining_resources(user):
    """Quota minus what the user's queued and running jobs hold.

    Outside the quota's start_time..end_time window nothing remains.
    """
    limits, quota = resource_quota(user)
    used = resource_usage(user)
    start_time = quota.start_time if quota else None
    end_time = quota.end_time if quota else None
    active = window_is_open(start_time, end_time)
    remain = {field: max(0, limits[field] - used[field]) if active else 0 for field in limits}
    remain["memory_gb"] = float(remain["memory_gb"])
    return {
        "limits": limits,
        "used": used,
        "remain": remain,
        "quota": quota,
        "initialized": quota is not None,
        "active": active,
        "start_time": start_time,
        "end_time": end_time,
    }


def refuse_over_quota(user, *, cpu, memory_gb, gpu):
    """Refuse a job that can never fit the user's resource quota (one that only waits is accepted)."""
    status = remaining_resources(user)
    if not status["active"]:
        raise QuotaExceeded("your resource quota is not active now (outside its time window)")
    limits = status["limits"]
    for key, asked, label in (("cpu", cpu, "CPU"), ("memory_gb", memory_gb, "GB of memory"), ("gpu", gpu, "GPU")):
        if asked > limits[key]:
            raise QuotaExceeded(f"over quota: the task asks for {asked:g} {label} but your quota allows {limits[key]:g}")
    if limits["job_slots"] < 1:
        raise QuotaExceeded("over quota: your quota allows no running jobs")


def storage_usage(user):
    """(bytes, inodes) summed over settings.STORAGE_USAGE_PROVIDERS."""
    total_bytes = total_inodes = 0
    for path in settings.STORAGE_USAGE_PROVIDERS:
        used_bytes, used_inodes = import_string(path)(user)
        total_bytes += used_bytes
        total_inodes += used_inodes
    return total_bytes, total_inodes


def storage_status(user):
    """Storage quota and use. Without a StorageQuota record storage is unlimited
    (limits and remains are None); outside the record's time window nothing remains."""
    quota = StorageQuota.objects.filter(user=user).first()
    used_bytes, used_inodes = storage_usage(user)
    status = {
        "quota": quota,
        "used_bytes": used_bytes,
        "used_inodes": used_inodes,
        "initialized": quota is not None,
        "active": True,
        "bytes_quota": None,
        "inodes_quota": None,
        "bytes_remain": None,
        "inodes_remain": None,
        "start_time": None,
        "end_time": None,
    }
    if quota is not None:
        active = window_is_open(quota.start_time, quota.end_time)
        status.update(
            active=active,
            bytes_quota=quota.bytes_quota,
            inodes_quota=quota.inodes_quota,
            bytes_remain=max(0, quota.bytes_quota - used_bytes) if active else 0,
            inodes_remain=max(0, quota.inodes_quota - used_inodes) if active else 0,
            start_time=quota.start_time,
            end_time=quota.end_time,
        )
    return status


def storage_left(user):
    """Bytes the user may still store, or None when storage is unlimited for them."""
    return storage_status(user)["bytes_remain"]


def api_keys_of(user):
    return ApiKey.objects.filter(user=user)


def team_invitations_of(user):
    """Invitations sent to `user`, and those sent by the teams `user` administers."""
    return (
        TeamInvitation.objects.filter(models.Q(user=user) | models.Q(team__admins=user))
        .select_related("team", "user", "invited_by")
        .distinct()
    )
