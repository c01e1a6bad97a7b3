"""The clean accounts API under /api/v1/: tokens, me, api-keys, quota."""

import io
import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import ApiKey, ResourceQuota
from accounts.services import create_api_key
from core.models import DiagnosticJob, JobStatus
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def image_upload(size=(300, 500), fmt="JPEG", noise=False):
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, "orange")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return SimpleUploadedFile(f"me.{fmt.lower()}", buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def key_client(secret_id, secret_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_id}:{secret_key}")
    return client


# --- tokens ---------------------------------------------------------------------------


def test_token_pair_and_refresh(api_client, user):
    response = api_client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    tokens = response.json()

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get("/api/v1/me/").json()["username"] == "alice"

    refreshed = api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert client.get("/api/v1/me/").status_code == 200


def test_token_wrong_password_and_bad_refresh(api_client, user):
    response = api_client.post("/api/v1/auth/token/", {"username": "alice", "password": "nope-nope"}, format="json")
    assert response.status_code == 401
    assert "access" not in response.json()
    assert api_client.post("/api/v1/auth/token/", {"username": "alice"}, format="json").status_code == 400
    assert api_client.post("/api/v1/auth/token/refresh/", {"refresh": "x.y.z"}, format="json").status_code == 401


def test_token_endpoint_is_throttled(api_client, user):
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "2/min"}}
    with override_settings(REST_FRAMEWORK=rest):
        for _ in range(2):
            api_client.post("/api/v1/auth/token/", {"username": "alice", "password": "guess-1"}, format="json")
        response = api_client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 429
    assert "Retry-After" in response


# --- me --------------------------------------------------------------------------------


def test_me_shows_the_caller(auth_client, user):
    body = auth_client.get("/api/v1/me/").json()
    assert body["id"] == user.pk
    assert body["username"] == "alice"
    assert body["role"] == "researcher"
    assert body["team"] == user.team.name
    assert body["has_custom_avatar"] is False
    assert body["avatar"].startswith(settings.STATIC_URL)


def test_me_needs_authentication(api_client):
    assert api_client.get("/api/v1/me/").status_code == 401
    assert api_client.patch("/api/v1/me/", {"team": "x"}, format="json").status_code == 401


def test_patch_avatar_multipart_replaces_the_old_file(auth_client, user):
    first = auth_client.patch("/api/v1/me/", {"avatar": image_upload()}, format="multipart")
    assert first.status_code == 200, first.content
    user.refresh_from_db()
    old_path = user.avatar.path
    with Image.open(old_path) as stored:
        assert stored.size == (settings.AVATAR_SIZE, settings.AVATAR_SIZE)
    assert first.json()["has_custom_avatar"] is True
    assert first.json()["avatar"] == user.avatar.url

    second = auth_client.patch("/api/v1/me/", {"avatar": image_upload((40, 40), fmt="GIF")}, format="multipart")
    assert second.status_code == 200
    user.refresh_from_db()
    assert not os.path.exists(old_path)
    with Image.open(user.avatar.path) as stored:
        assert stored.size == (40, 40)


@override_settings(AVATAR_MAX_BYTES=5_000)
def test_patch_oversized_avatar_is_413(auth_client, user):
    response = auth_client.patch("/api/v1/me/", {"avatar": image_upload((100, 100), "PNG", noise=True)}, format="multipart")
    assert response.status_code == 413
    user.refresh_from_db()
    assert not user.avatar


@pytest.mark.parametrize(
    "payload,fmt",
    [
        ({"avatar": SimpleUploadedFile("x.png", b"GIF89a-not-really", content_type="image/png")}, "multipart"),
        ({"avatar": "not-a-file"}, "multipart"),
    ],
)
def test_patch_bad_input_is_400(auth_client, user, payload, fmt):
    response = auth_client.patch("/api/v1/me/", payload, format=fmt)
    assert response.status_code == 400, response.content
    user.refresh_from_db()
    assert not user.avatar


# --- api keys -----------------------------------------------------------------------------


def test_create_key_shows_the_secret_once_and_stores_a_hash(auth_client, user):
    end = timezone.now() + timedelta(days=7)
    response = auth_client.post("/api/v1/api-keys/", {"description": "notebook", "end_time": end.isoformat()}, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["secret_id"].startswith("ck_")
    assert len(created["secret_key"]) >= 32
    assert created["description"] == "notebook" and created["is_active"] is True and created["is_expired"] is False
    assert created["scope"] == "all"  # made by the owner: works on every API

    stored = ApiKey.objects.get(secret_id=created["secret_id"])
    assert stored.user == user
    assert created["secret_key"] not in stored.secret_key_hash
    assert stored.secret_key_hash.startswith("sha256$")

    listed = auth_client.get("/api/v1/api-keys/").json()
    assert [k["secret_id"] for k in listed] == [created["secret_id"]]
    assert "secret_key" not in listed[0] and "secret_key_hash" not in listed[0]

    client = key_client(created["secret_id"], created["secret_key"])
    assert client.get("/api/v1/me/").json()["username"] == "alice"


def test_create_key_with_chosen_secret_id(auth_client, other_user):
    created = auth_client.post("/api/v1/api-keys/", {"secret_id": "alice-laptop"}, format="json").json()
    assert created["secret_id"] == "alice-laptop"
    create_api_key(other_user, secret_id="bobs-key")
    response = auth_client.post("/api/v1/api-keys/", {"secret_id": "bobs-key"}, format="json")
    assert response.status_code == 409
    assert ApiKey.objects.get(secret_id="bobs-key").user == other_user


@pytest.mark.parametrize(
    "payload",
    [
        {"end_time": "2001-01-01T00:00:00Z"},
        {"end_time": "someday"},
        {"secret_id": "../etc/passwd"},
        {"secret_id": "x"},
        {"description": "d" * 501},
        {"description": ["list"]},
    ],
)
def test_create_key_bad_input(auth_client, payload):
    assert auth_client.post("/api/v1/api-keys/", payload, format="json").status_code == 400
    assert not ApiKey.objects.exists()


def test_keys_list_only_own(auth_client, user, other_user):
    create_api_key(user, secret_id="alice-1")
    create_api_key(other_user, secret_id="bob-1")
    assert [k["secret_id"] for k in auth_client.get("/api/v1/api-keys/").json()] == ["alice-1"]


def test_revoke_own_key(auth_client, user):
    _, secret = create_api_key(user, secret_id="alice-1")
    assert key_client("alice-1", secret).get("/api/v1/me/").status_code == 200

    assert auth_client.delete("/api/v1/api-keys/alice-1/").status_code == 204
    assert key_client("alice-1", secret).get("/api/v1/me/").status_code == 401
    listed = auth_client.get("/api/v1/api-keys/").json()
    assert listed[0]["is_active"] is False


def test_cannot_revoke_another_users_key(auth_client, other_user):
    _, secret = create_api_key(other_user, secret_id="bob-1")
    assert auth_client.delete("/api/v1/api-keys/bob-1/").status_code == 404
    assert auth_client.delete("/api/v1/api-keys/no-such-key/").status_code == 404
    assert ApiKey.objects.get(secret_id="bob-1").is_active
    assert key_client("bob-1", secret).get("/api/v1/me/").json()["username"] == "bob"


def test_keys_need_authentication(api_client):
    assert api_client.get("/api/v1/api-keys/").status_code == 401
    assert api_client.post("/api/v1/api-keys/", {}, format="json").status_code == 401


# --- quota --------------------------------------------------------------------------------


def test_quota_reports_limits_use_and_remains(auth_client, user, other_user):
    ResourceQuota.objects.create(user=user, cpu=16, gpu=2, memory_gb=64, job_slots=4, mig=0, vgpu=0)
    DiagnosticJob.objects.create(owner=user, status=JobStatus.RUNNING, cpu=4, gpu=1, memory_gb=10)
    DiagnosticJob.objects.create(owner=other_user, status=JobStatus.RUNNING, cpu=8)

    body = auth_client.get("/api/v1/quota/").json()

    resources = body["resources"]
    assert resources["initialized"] is True and resources["active"] is True
    assert resources["limits"] == {"cpu": 16, "gpu": 2, "memory_gb": 64.0, "job_slots": 4, "mig": 0, "vgpu": 0}
    assert resources["used"] == {"cpu": 4, "gpu": 1, "memory_gb": 10.0, "job_slots": 1, "mig": 0, "vgpu": 0}
    assert resources["remain"] == {"cpu": 12, "gpu": 1, "memory_gb": 54.0, "job_slots": 3, "mig": 0, "vgpu": 0}
    assert body["storage"]["initialized"] is False
    assert body["storage"]["bytes_quota"] is None and body["storage"]["bytes_remain"] is None


def test_quota_needs_authentication(api_client):
    assert api_client.get("/api/v1/quota/").status_code == 401
