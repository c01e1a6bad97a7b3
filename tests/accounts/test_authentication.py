"""How requests authenticate: JWT (bare or Bearer), API keys (two header forms), sessions."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import ApiKey
from accounts.services import create_api_key, hash_secret_key, issue_tokens, secret_key_matches
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/me/", "/api/personalInformation"]


def username_seen(client, path):
    response = client.get(path)
    if response.status_code != 200:
        return response.status_code
    body = response.json()
    return body["data"]["username"] if "data" in body else body["username"]


def client_with(**headers):
    client = APIClient()
    client.credentials(**headers)
    return client


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unb64(text):
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer "])
def test_jwt_with_or_without_bearer(user, path, prefix):
    access, _ = issue_tokens(user)
    assert username_seen(client_with(HTTP_AUTHORIZATION=prefix + access), path) == "alice"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_tampered_jwt_cannot_impersonate(user, other_user, path):
    header, payload, signature = issue_tokens(user)[0].split(".")
    claims = unb64(payload)
    claims["user_id"] = str(other_user.pk)
    forged = ".".join([header, b64(claims), signature])
    assert username_seen(client_with(HTTP_AUTHORIZATION=forged), path) == 401

    access = issue_tokens(user)[0]
    flipped = access[:-3] + ("AAA" if not access.endswith("AAA") else "BBB")
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer {flipped}"), path) == 401


@pytest.mark.parametrize("path", ENDPOINTS)
def test_expired_jwt_is_refused(user, path):
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(minutes=5))
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer {token}"), path) == 401


def test_refresh_token_is_not_an_access_token(user):
    _, refresh = issue_tokens(user)
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer {refresh}"), "/api/v1/me/") == 401


def test_jwt_of_a_deactivated_user_is_refused(user):
    access, _ = issue_tokens(user)
    user.is_active = False
    user.save()
    assert username_seen(client_with(HTTP_AUTHORIZATION=access), "/api/v1/me/") == 401


@pytest.mark.parametrize("path", ENDPOINTS)
def test_api_key_in_bearer_and_in_secret_headers(user, path):
    _, secret = create_api_key(user, secret_id="alice-key")
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer alice-key:{secret}"), path) == "alice"
    assert username_seen(client_with(HTTP_X_SECRET_ID="alice-key", HTTP_X_SECRET_KEY=secret), path) == "alice"
    assert ApiKey.objects.get(secret_id="alice-key").last_used_at is not None


@pytest.mark.parametrize("path", ENDPOINTS)
def test_wrong_expired_and_revoked_api_keys_are_refused(user, path):
    key, secret = create_api_key(user, secret_id="alice-key")
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer alice-key:{secret}x"), path) == 401
    assert username_seen(client_with(HTTP_X_SECRET_ID="alice-key", HTTP_X_SECRET_KEY="wrong"), path) == 401
    assert username_seen(client_with(HTTP_X_SECRET_ID="alice-key"), path) == 401
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer nobody:{secret}"), path) == 401

    ApiKey.objects.filter(pk=key.pk).update(end_time=timezone.now() - timedelta(seconds=1))
    assert username_seen(client_with(HTTP_X_SECRET_ID="alice-key", HTTP_X_SECRET_KEY=secret), path) == 401

    ApiKey.objects.filter(pk=key.pk).update(end_time=timezone.now() + timedelta(days=1), is_active=False)
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer alice-key:{secret}"), path) == 401


def test_key_of_a_deactivated_user_is_refused(user):
    _, secret = create_api_key(user, secret_id="alice-key")
    user.is_active = False
    user.save()
    assert username_seen(client_with(HTTP_X_SECRET_ID="alice-key", HTTP_X_SECRET_KEY=secret), "/api/v1/me/") == 401


def test_each_key_authenticates_its_own_user_only(user, other_user):
    _, alice_secret = create_api_key(user, secret_id="alice-key")
    _, bob_secret = create_api_key(other_user, secret_id="bob-key")
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer bob-key:{bob_secret}"), "/api/v1/me/") == "bob"
    # Alice's secret against Bob's id is no key at all.
    assert username_seen(client_with(HTTP_AUTHORIZATION=f"Bearer bob-key:{alice_secret}"), "/api/v1/me/") == 401


def test_session_login_authenticates_reads(api_client, user):
    assert api_client.login(username="alice", password=PASSWORD)
    assert username_seen(api_client, "/api/v1/me/") == "alice"
    assert username_seen(api_client, "/api/personalInformation") == "alice"


def test_session_writes_need_a_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="alice", password=PASSWORD)
    response = client.patch("/api/v1/me/", {"team": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_key_hashes_are_salted_and_checked_in_constant_time():
    first, second = hash_secret_key("the-same-secret-key"), hash_secret_key("the-same-secret-key")
    assert first != second  # a fresh salt each time
    assert secret_key_matches("the-same-secret-key", first)
    assert not secret_key_matches("the-same-secret-kez", first)
    assert not secret_key_matches("the-same-secret-key", "md5$salt$whatever")
    assert not secret_key_matches("the-same-secret-key", "garbage")


def test_refused_jwt_in_a_facade_gives_a_readable_message_and_challenge(user):
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(minutes=5))
    response = client_with(HTTP_AUTHORIZATION=str(token)).get("/api/personalInformation")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == 401 and body["data"] == ""
    assert body["msg"].startswith("Given token not valid") and "expired" in body["msg"]


def test_the_gateways_cached_key_rows_are_bounded_in_age_and_dropped_when_revoked_here(user, monkeypatch):
    """api_key_for(max_age=...) (the OpenAI gateway's): a row read less than max_age ago is reused; the
    secret and end time are still checked; a revoke in this process drops it at once, one made by another
    process (a plain UPDATE, no signal here) within max_age."""
    import accounts.services as accounts_services
    from accounts.services import api_key_for, revoke_api_key

    clock = [1000.0]
    monkeypatch.setattr(accounts_services.time, "monotonic", lambda: clock[0])
    key, secret = create_api_key(user, secret_id="cached-key")
    assert api_key_for("cached-key", secret, max_age=5).user == user
    ApiKey.objects.filter(pk=key.pk).update(is_active=False)  # as another process would revoke it
    assert api_key_for("cached-key", secret) is None  # read per call without max_age
    assert api_key_for("cached-key", secret, max_age=5).user == user  # the cached row, under 5 s old
    assert api_key_for("cached-key", "wrong-" + secret, max_age=5) is None  # the secret is always checked
    first = api_key_for("cached-key", secret, max_age=5)
    assert first is not api_key_for("cached-key", secret, max_age=5)  # copies: not shared by request threads
    clock[0] += 5
    assert api_key_for("cached-key", secret, max_age=5) is None  # read again: revoked

    other, other_secret = create_api_key(user, secret_id="cached-key-2")
    assert api_key_for("cached-key-2", other_secret, max_age=5) is not None
    revoke_api_key(user, "cached-key-2")  # in this process: at once
    assert api_key_for("cached-key-2", other_secret, max_age=5) is None

    third, third_secret = create_api_key(user, secret_id="cached-key-3")
    assert api_key_for("cached-key-3", third_secret, max_age=5) is not None
    ApiKey.objects.filter(pk=third.pk).update(end_time=timezone.now() - timedelta(seconds=1))
    third.refresh_from_db()
    third.save()  # a key saved in this process is read again
    assert api_key_for("cached-key-3", third_secret, max_age=5) is None
    user.is_active = False
    user.save()
    assert api_key_for("cached-key", secret, max_age=5) is None


def test_the_openai_api_reads_a_revoked_key_again_within_the_cache_age(user, monkeypatch):
    import accounts.services as accounts_services
    from serving import conf

    clock = [1000.0]
    monkeypatch.setattr(accounts_services.time, "monotonic", lambda: clock[0])
    key, secret = create_api_key(user, secret_id="gateway-key")
    client = client_with(HTTP_AUTHORIZATION=f"Bearer gateway-key:{secret}")
    assert client.get("/v1/models").status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(is_active=False)
    assert client.get("/api/v1/me/").status_code == 401  # the rest of the API reads the key per request
    clock[0] += conf.KEY_CACHE_S
    assert client.get("/v1/models").status_code == 401
