"""platform-api.md 4.5, 9.1, 9.2: remaining resources and storage quota."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.models import ResourceQuota, StorageQuota
from core.models import DiagnosticJob, JobStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REMAIN_PATHS = ["/api/system/config/getRemainResource", "/system/config/getRemainResource"]
STORAGE = "/resource/configRemake/getQuotaRemainResource"
UNLIMITED = "存储配额未开启-无限制"

# Storage use as reported by a provider (settings.STORAGE_USAGE_PROVIDERS); tests set it.
REPORTED_USE = {}


def reported_use(user):
    return REPORTED_USE.get(user.username, (0, 0))


def plat_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["errorCode"] == status and body["result"] is None
    assert body["message"]
    return body


def plat_result(response):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["errorCode"] == 200
    return body


@pytest.mark.parametrize("path", REMAIN_PATHS)
def test_remain_resource_defaults_without_a_quota_record(auth_client, user, path):
    body = plat_result(auth_client.post(path, {"userId": str(user.pk)}, format="json"))
    default = settings.DEFAULT_QUOTA
    assert body["message"] == "获取剩余资源成功"
    assert body["result"] == {
        "remainCpu": default["cpu"],
        "remainGpu": default["gpu"],
        "remainJobNum": default["job_slots"],
        "remainMemory": default["memory_gb"],
        "remainMerory": default["memory_gb"],
        "remainMig": default["mig"],
        "remainVgpu": default["vgpu"],
        "isInitConfig": False,
        "startTime": None,
        "endTime": None,
    }


@override_settings(TIME_ZONE="Asia/Shanghai")
@pytest.mark.parametrize("path", REMAIN_PATHS)
def test_remain_resource_is_quota_minus_active_jobs(auth_client, user, other_user, path):
    shanghai = ZoneInfo("Asia/Shanghai")
    ResourceQuota.objects.create(
        user=user, cpu=100, gpu=10, memory_gb=110.0, job_slots=3, mig=10, vgpu=10,
        start_time=datetime(2023, 10, 23, 0, 0, tzinfo=shanghai),
        end_time=datetime(2099, 11, 30, 23, 59, 59, tzinfo=shanghai),
    )
    DiagnosticJob.objects.create(owner=user, status=JobStatus.RUNNING, cpu=4, gpu=2, memory_gb=16.5, mig=1, vgpu=3)
    DiagnosticJob.objects.create(owner=user, status=JobStatus.QUEUED, cpu=2)
    # Finished jobs and other people's jobs hold nothing of alice's quota.
    DiagnosticJob.objects.create(owner=user, status=JobStatus.SUCCEEDED, cpu=50, gpu=5)
    DiagnosticJob.objects.create(owner=other_user, status=JobStatus.RUNNING, cpu=50, gpu=5)

    result = plat_result(auth_client.post(path, {"userId": user.pk}, format="json"))["result"]

    assert result == {
        "remainCpu": 94,
        "remainGpu": 8,
        "remainJobNum": 1,
        "remainMemory": 93.5,
        "remainMerory": 93.5,
        "remainMig": 9,
        "remainVgpu": 7,
        "isInitConfig": True,
        "startTime": "2023-10-23 00:00:00",
        "endTime": "2099-11-30 23:59:59",
    }


def test_remain_resource_never_negative_and_zero_outside_the_window(auth_client, user):
    quota = ResourceQuota.objects.create(user=user, cpu=2, gpu=0, memory_gb=4, job_slots=1)
    DiagnosticJob.objects.create(owner=user, status=JobStatus.RUNNING, cpu=3, memory_gb=8)
    result = plat_result(auth_client.post(REMAIN_PATHS[0], {"userId": "alice"}, format="json"))["result"]
    assert (result["remainCpu"], result["remainMemory"], result["remainJobNum"]) == (0, 0.0, 0)

    DiagnosticJob.objects.all().delete()
    quota.end_time = timezone.now() - timedelta(days=1)
    quota.save()
    result = plat_result(auth_client.post(REMAIN_PATHS[0], {"userId": "alice"}, format="json"))["result"]
    assert [result[k] for k in ("remainCpu", "remainGpu", "remainJobNum", "remainMemory", "remainMig", "remainVgpu")] == [
        0, 0, 0, 0.0, 0, 0
    ]


@pytest.mark.parametrize("path", REMAIN_PATHS + [STORAGE])
def test_another_users_quota_is_forbidden(auth_client, other_user, path):
    ResourceQuota.objects.create(user=other_user, cpu=64)
    for ref in (other_user.pk, str(other_user.pk), "bob", "99999"):
        plat_error(auth_client.post(path, {"userId": ref, "uId": "2004"}, format="json"), 403)


@pytest.mark.parametrize("path", REMAIN_PATHS + [STORAGE])
def test_platform_admin_may_query_any_user(api_client, other_user, path):
    admin = UserFactory(username="root", role="admin")
    api_client.force_authenticate(admin)
    ResourceQuota.objects.create(user=other_user, cpu=64)
    StorageQuota.objects.create(user=other_user, inodes_quota=500)

    result = plat_result(api_client.post(path, {"userId": str(other_user.pk)}, format="json"))["result"]
    if path == STORAGE:
        assert result["inodeQuota"] == 500
    else:
        assert result["remainCpu"] == 64
    plat_error(api_client.post(path, {"userId": "no-such-user"}, format="json"), 404)


@pytest.mark.parametrize("path", REMAIN_PATHS + [STORAGE])
@pytest.mark.parametrize("payload", [{}, {"userId": ""}, {"userId": ["1"]}, {"userId": True}, {"userId": {"id": 1}}])
def test_bad_user_id_is_400(auth_client, path, payload):
    plat_error(auth_client.post(path, payload, format="json"), 400)


@pytest.mark.parametrize("path", REMAIN_PATHS + [STORAGE])
def test_quota_needs_authentication_and_json(api_client, auth_client, user, path):
    plat_error(api_client.post(path, {"userId": str(user.pk)}, format="json"), 401)
    plat_error(auth_client.post(path, data="{userId: 1", content_type="application/json"), 400)
    plat_error(auth_client.get(path), 405)


def test_storage_without_quota_is_unlimited_as_the_spec_shows(auth_client, user):
    body = plat_result(auth_client.post(STORAGE, {"userId": str(user.pk), "uid": 2004}, format="json"))
    assert body["message"] == "查询成功"
    assert body["result"] == {
        "inodeQuota": UNLIMITED,
        "inodeUsed": UNLIMITED,
        "inodeRemain": UNLIMITED,
        "blockQuota": UNLIMITED,
        "blockUsed": UNLIMITED,
        "blockRemain": UNLIMITED,
        "startTime": UNLIMITED,
        "endTime": "无限制",
        "initConfig": False,
    }


@override_settings(STORAGE_USAGE_PROVIDERS=["tests.accounts.test_quotas.reported_use"])
def test_storage_quota_minus_use_in_kib_blocks_and_inodes(auth_client, user, monkeypatch):
    monkeypatch.setitem(REPORTED_USE, "alice", (3 * 1024 * 1024 + 1, 120))
    StorageQuota.objects.create(user=user, bytes_quota=10 * 1024 * 1024, inodes_quota=1000)

    result = plat_result(auth_client.post(STORAGE, {"userId": "alice", "uId": "2004"}, format="json"))["result"]

    assert result == {
        "inodeQuota": 1000,
        "inodeUsed": 120,
        "inodeRemain": 880,
        "blockQuota": 10240,
        "blockUsed": 3073,
        "blockRemain": 7167,
        "startTime": None,
        "endTime": "无限制",
        "initConfig": True,
    }


@override_settings(STORAGE_USAGE_PROVIDERS=["tests.accounts.test_quotas.reported_use"])
def test_storage_over_quota_or_expired_leaves_nothing(auth_client, user, monkeypatch):
    monkeypatch.setitem(REPORTED_USE, "alice", (5 * 1024, 50))
    quota = StorageQuota.objects.create(user=user, bytes_quota=4 * 1024, inodes_quota=10)
    result = plat_result(auth_client.post(STORAGE, {"userId": "alice"}, format="json"))["result"]
    assert (result["blockRemain"], result["inodeRemain"]) == (0, 0)

    quota.bytes_quota = quota.inodes_quota = 10**9
    quota.end_time = timezone.now() - timedelta(minutes=1)
    quota.save()
    result = plat_result(auth_client.post(STORAGE, {"userId": "alice"}, format="json"))["result"]
    assert (result["blockRemain"], result["inodeRemain"]) == (0, 0)
    assert result["endTime"] == timezone.localtime(quota.end_time).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("changes", [{"uId": "abc"}, {"uid": "-1"}, {"uId": [1]}])
def test_storage_bad_uid_is_400(auth_client, user, changes):
    plat_error(auth_client.post(STORAGE, {"userId": str(user.pk), **changes}, format="json"), 400)
