"""Tokens do not outlive a password change, a deactivation or "sign out everywhere": the
access and refresh JWTs issued before are 401, and other sessions end."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"


def obtain(username="alice", password=PASSWORD):
    response = APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["access"], response.json()["refresh"]


def me(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/me/")


def refresh(token):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def hub_login_token():
    response = APIClient().post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response["Authorization"]


def assert_revoked(access, refresh_token):
    assert me(access).status_code == 401
    assert refresh(refresh_token).status_code == 401


def test_tokens_work_until_the_password_changes(user):
    access, refresh_token = obtain()
    hub_token = hub_login_token()
    assert me(access).status_code == 200
    assert refresh(refresh_token).status_code == 200

    user.set_password(NEW_PASSWORD)
    user.save()

    assert_revoked(access, refresh_token)
    hub = APIClient()
    hub.credentials(HTTP_AUTHORIZATION=hub_token)
    assert hub.get("/api/personalInformation").json()["code"] == 401
    # New tokens, made with the new password, work.
    fresh_access, fresh_refresh = obtain(password=NEW_PASSWORD)
    assert me(fresh_access).status_code == 200
    assert refresh(fresh_refresh).status_code == 200


def test_a_password_change_in_the_admin_ends_tokens_and_sessions(user):
    access, refresh_token = obtain()
    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)
    assert browser.get("/accounts/profile/").status_code == 200

    from tests.factories import UserFactory

    admin = Client()
    admin.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = admin.post(
        f"/admin/accounts/user/{user.pk}/password/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302

    assert_revoked(access, refresh_token)
    assert browser.get("/accounts/profile/").status_code == 302  # back to the login page


def test_a_login_that_rehashes_the_password_keeps_tokens(user, settings):
    access, refresh_token = obtain()
    # A hasher upgrade on login (check_password's setter) is not a password change.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher",
                                 "django.contrib.auth.hashers.MD5PasswordHasher"]
    obtain()
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")
    assert me(access).status_code == 200
    assert refresh(refresh_token).status_code == 200


def test_deactivation_ends_tokens_also_after_reactivation(user):
    access, refresh_token = obtain()
    user.is_active = False
    user.save()
    assert_revoked(access, refresh_token)
    user.is_active = True
    user.save()
    assert_revoked(access, refresh_token)


def test_sign_out_everywhere_through_the_api(user):
    access, refresh_token = obtain()
    other_access, other_refresh = obtain()
    browser = Client()
    assert browser.login(username="alice", password=PASSWORD)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert client.post("/api/v1/auth/sign-out-everywhere/").status_code == 204

    assert_revoked(access, refresh_token)
    assert_revoked(other_access, other_refresh)
    assert browser.get("/accounts/profile/").status_code == 302
    assert APIClient().post("/api/v1/auth/sign-out-everywhere/").status_code == 401


def test_sign_out_everywhere_from_the_profile_page(user):
    access, refresh_token = obtain()
    laptop, phone = Client(enforce_csrf_checks=True), Client()
    assert laptop.login(username="alice", password=PASSWORD)
    assert phone.login(username="alice", password=PASSWORD)
    page = laptop.get("/accounts/profile/")
    assert 'data-testid="sign-out-everywhere"' in page.content.decode()

    # A cross-site form post (no CSRF token) is refused.
    assert laptop.post("/accounts/profile/sign-out-everywhere/").status_code == 403
    assert me(access).status_code == 200

    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else laptop.cookies["csrftoken"].value
    response = laptop.post("/accounts/profile/sign-out-everywhere/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"

    assert_revoked(access, refresh_token)
    assert phone.get("/accounts/profile/").status_code == 302  # the other session ended
    assert laptop.get("/accounts/profile/").status_code == 200  # this one goes on
    assert laptop.get("/accounts/profile/sign-out-everywhere/").status_code == 405
