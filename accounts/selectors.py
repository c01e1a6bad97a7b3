from django.conf import settings
from django.db.models import Count, Sum
from django.utils.module_loading import import_string

from core.models import ACTIVE_STATUSES
from core.selectors import job_models

from .models import ApiKey, ResourceQuota, StorageQuota


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
    limits, quota = resource_quota(user)
    used = resource_usage(user)
    remain = {field: max(0, limits[field] - used[field]) for field in limits}
    return {"limits": limits, "used": used, "remain": remain, "quota": quota}


def storage_usage(user):
    """(bytes, inodes) summed over settings.STORAGE_USAGE_PROVIDERS."""
    total_bytes = total_inodes = 0
    for path in settings.STORAGE_USAGE_PROVIDERS:
        used_bytes, used_inodes = import_string(path)(user)
        total_bytes += used_bytes
        total_inodes += used_inodes
    return total_bytes, total_inodes


def storage_status(user):
    quota = StorageQuota.objects.filter(user=user).first()
    used_bytes, used_inodes = storage_usage(user)
    return {"quota": quota, "used_bytes": used_bytes, "used_inodes": used_inodes}


def api_keys_of(user):
    return ApiKey.objects.filter(user=user)
