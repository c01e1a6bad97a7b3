"""chat-api.md: /myapp/register/ and /myapp/login/ (form-encoded or JSON, no CSRF token needed)."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories import PASSWORD

User = get_user_model()
pytestmark = pytest.mark.django_db

STRONG = "jiuhua-Long-secret-9"


def chat_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "msg"}
    assert body["code"] == status and body["msg"]
    return body


@pytest.mark.parametrize("fmt", ["multipart", "json"])
def test_register_form_or_json(fmt):
    # Non-browser clients: no cookie, no CSRF token, and checks enforced as a browser's would be.
    client = APIClient(enforce_csrf_checks=True)
    payload = {"username": "jiuhua", "password": STRONG}
    response = client.post("/myapp/register/", payload, format=fmt)

    assert response.status_code == 200, response.content
    assert response.json() == {"code": 0, "msg": "注册成功！"}
    assert User.objects.get(username="jiuhua").check_password(STRONG)


def test_register_urlencoded_body():
    client = APIClient(enforce_csrf_checks=True)
    response = client.post(
        "/myapp/register/", f"username=jiuhua2&password={STRONG}", content_type="application/x-www-form-urlencoded"
    )
    assert response.json() == {"code": 0, "msg": "注册成功！"}
    assert User.objects.filter(username="jiuhua2").exists()


@pytest.mark.parametrize(
    "payload,status",
    [
        ({"username": "jiuhua", "password": "123456"}, 400),
        ({"username": "jiuhua"}, 400),
        ({"password": STRONG}, 400),
        ({"username": "no", "password": STRONG}, 400),
        ({"username": "alice", "password": STRONG}, 409),
        ({"username": ["jiuhua"], "password": STRONG}, 400),
    ],
)
def test_register_bad_input(api_client, user, payload, status):
    chat_error(api_client.post("/myapp/register/", payload, format="json"), status)
    assert not User.objects.filter(username="jiuhua").exists()


def test_register_non_json_body_is_400(api_client):
    chat_error(api_client.post("/myapp/register/", data="username=", content_type="application/json"), 400)


def test_login_sets_session_and_authorization_header(user):
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/myapp/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == {"code": 0, "msg": "登陆成功"}
    assert response["Authorization"].count(".") == 2
    assert settings.SESSION_COOKIE_NAME in response.cookies

    # The cookie session alone now authenticates the client.
    info = client.get("/api/personalInformation")
    assert info.status_code == 200
    assert info.json()["data"]["username"] == "alice"


def test_login_json_body(api_client, user):
    response = api_client.post("/myapp/login/", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.json() == {"code": 0, "msg": "登陆成功"}


@pytest.mark.parametrize("username,password", [("alice", "not-the-password"), ("nobody", PASSWORD)])
def test_login_wrong_credentials(api_client, user, username, password):
    response = api_client.post("/myapp/login/", {"username": username, "password": password})
    chat_error(response, 401)
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert api_client.get("/api/personalInformation").status_code == 401


@pytest.mark.parametrize("payload", [{}, {"username": "alice"}, {"password": PASSWORD}])
def test_login_missing_fields(api_client, user, payload):
    chat_error(api_client.post("/myapp/login/", payload), 400)


def test_login_is_throttled_in_chat_envelope(api_client, user):
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "1/min"}}
    with override_settings(REST_FRAMEWORK=rest):
        assert api_client.post("/myapp/login/", {"username": "alice", "password": PASSWORD}).status_code == 200
        chat_error(api_client.post("/myapp/login/", {"username": "alice", "password": PASSWORD}), 429)
        chat_error(api_client.post("/myapp/register/", {"username": "zed", "password": STRONG}), 429)
