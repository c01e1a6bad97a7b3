"""sgt-api.md: /sgt/private/update_auth_token (system key) and /sgt/public/check_auth_token."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import create_api_key

pytestmark = pytest.mark.django_db

UPDATE = "/sgt/private/update_auth_token"
CHECK = "/sgt/public/check_auth_token"
SECRET = "s3cret-key-of-twenty-chars"


def update_body(**changes):
    body = {
        "key": settings.SGT_SYSTEM_KEY,
        "secret_id": "lab-robot",
        "secret_key": SECRET,
        "doc": "robot arm",
        "end_time": (timezone.localtime() + timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S"),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def check(client, secret_id, secret_key):
    response = client.post(CHECK, {"secret_id": secret_id, "secret_key": secret_key}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def sgt_error(response, exception):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"exception", "message"}
    assert body["exception"] == exception and body["message"]
    return body


def test_update_creates_a_key_and_answers_null(api_client):
    response = api_client.post(UPDATE, update_body(), format="json")

    assert response.status_code == 200
    assert response.content == b"null"
    key = ApiKey.objects.get(secret_id="lab-robot")
    assert key.user.username == "sgt-lab-robot"
    assert not key.user.has_usable_password()
    assert key.description == "robot arm"
    assert SECRET not in key.secret_key_hash
    assert check(api_client, "lab-robot", SECRET) is True


def test_update_replaces_the_secret_key(api_client):
    api_client.post(UPDATE, update_body(), format="json")
    api_client.post(UPDATE, update_body(secret_key="a-brand-new-secret-key", doc=""), format="json")

    assert ApiKey.objects.filter(secret_id="lab-robot").count() == 1
    assert check(api_client, "lab-robot", SECRET) is False
    assert check(api_client, "lab-robot", "a-brand-new-secret-key") is True


def test_update_for_a_named_user_gives_a_key_for_the_sgt_api_only(api_client, user):
    response = api_client.post(UPDATE, update_body(secret_id="alice-sgt", username="alice"), format="json")
    assert response.status_code == 200
    key = ApiKey.objects.get(secret_id="alice-sgt")
    assert key.user == user and key.scope == "sgt"
    assert check(api_client, "alice-sgt", SECRET) is True
    listed = api_client.post(
        "/sgt/public/read_my_sgt_model", {"secret_id": "alice-sgt", "secret_key": SECRET}, format="json"
    )
    assert listed.status_code == 200, listed.content

    # Outside /sgt/ the key is refused, in headers and as a bearer token alike.
    client = APIClient()
    client.credentials(HTTP_X_SECRET_ID="alice-sgt", HTTP_X_SECRET_KEY=SECRET)
    assert client.get("/api/personalInformation").json()["code"] == 401
    assert client.get("/api/v1/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer alice-sgt:{SECRET}")
    assert client.get("/api/v1/me/").status_code == 401


def test_update_cannot_move_a_key_to_another_user(api_client, user, other_user):
    api_client.post(UPDATE, update_body(secret_id="alice-sgt", username="alice"), format="json")
    response = api_client.post(UPDATE, update_body(secret_id="alice-sgt", username="bob"), format="json")
    sgt_error(response, "ConflictException")
    assert ApiKey.objects.get(secret_id="alice-sgt").user == user


@override_settings(TIME_ZONE="Asia/Shanghai")
def test_end_time_is_read_in_the_configured_time_zone(api_client):
    api_client.post(UPDATE, update_body(end_time="2099-05-01 08:00:00"), format="json")
    end = ApiKey.objects.get(secret_id="lab-robot").end_time
    assert end == datetime(2099, 5, 1, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert end == datetime(2099, 5, 1, 0, 0, tzinfo=ZoneInfo("UTC"))


@pytest.mark.parametrize("end_time", ["", None, ...])
def test_end_time_empty_or_absent_means_no_end(api_client, end_time):
    assert api_client.post(UPDATE, update_body(end_time=end_time), format="json").status_code == 200
    assert ApiKey.objects.get(secret_id="lab-robot").end_time is None


@pytest.mark.parametrize(
    "changes,exception",
    [
        ({"key": "wrong-system-key"}, "AuthException"),
        ({"key": ...}, "ValidationException"),
        ({"secret_id": ...}, "ValidationException"),
        ({"secret_key": ...}, "ValidationException"),
        ({"secret_key": "short"}, "ValidationException"),
        ({"secret_id": "bad id/../x"}, "ValidationException"),
        ({"secret_id": 12345}, "ValidationException"),
        ({"end_time": "2099-05-01T08:00:00Z"}, "ValidationException"),
        ({"end_time": "tomorrow"}, "ValidationException"),
        ({"doc": "d" * 501}, "ValidationException"),
        ({"username": "nobody-here"}, "ValidationException"),
    ],
)
def test_update_bad_input(api_client, changes, exception):
    sgt_error(api_client.post(UPDATE, update_body(**changes), format="json"), exception)
    assert not ApiKey.objects.exists()


@override_settings(SGT_SYSTEM_KEY="")
def test_update_is_closed_without_a_configured_system_key(api_client):
    sgt_error(api_client.post(UPDATE, update_body(key=""), format="json"), "ValidationException")
    sgt_error(api_client.post(UPDATE, update_body(key="anything"), format="json"), "AuthException")


def test_update_refuses_to_attach_a_key_to_a_password_account(api_client):
    from tests.factories import UserFactory

    UserFactory(username="sgt-lab-robot")  # e.g. made by an admin; registration forbids the prefix
    sgt_error(api_client.post(UPDATE, update_body(), format="json"), "ConflictException")


def test_bad_json_is_a_validation_exception(api_client):
    sgt_error(api_client.post(UPDATE, data="{oops", content_type="application/json"), "ValidationException")
    sgt_error(api_client.post(CHECK, data="not json", content_type="application/json"), "ValidationException")


def test_check_false_for_unknown_wrong_expired_and_revoked_keys(api_client, user):
    key, secret = create_api_key(user, secret_id="alice-key")
    assert check(api_client, "alice-key", secret) is True
    assert check(api_client, "alice-key", secret + "x") is False
    assert check(api_client, "nobody-key", secret) is False

    ApiKey.objects.filter(pk=key.pk).update(end_time=timezone.now() - timedelta(seconds=1))
    assert check(api_client, "alice-key", secret) is False

    ApiKey.objects.filter(pk=key.pk).update(end_time=None, is_active=False)
    assert check(api_client, "alice-key", secret) is False


def test_check_false_when_the_owner_is_deactivated(api_client, user):
    _, secret = create_api_key(user, secret_id="alice-key")
    user.is_active = False
    user.save()
    assert check(api_client, "alice-key", secret) is False


@pytest.mark.parametrize(
    "payload", [{}, {"secret_id": "x"}, {"secret_key": "y"}, {"secret_id": ["x"], "secret_key": "y"}]
)
def test_check_bad_input(api_client, payload):
    sgt_error(api_client.post(CHECK, payload, format="json"), "ValidationException")


def test_sgt_endpoints_are_throttled(api_client):
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "2/min"}}
    with override_settings(REST_FRAMEWORK=rest):
        check(api_client, "a", "b")
        check(api_client, "a", "c")
        sgt_error(api_client.post(CHECK, {"secret_id": "a", "secret_key": "d"}, format="json"), "ThrottledException")
        sgt_error(api_client.post(UPDATE, update_body(), format="json"), "ThrottledException")
