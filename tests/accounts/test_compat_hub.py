"""hub-api.md: /api/login, /api/personalInformation, /api/register/verifyUsername, /api/register/submitUserInfo."""

import io
import os

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import DEFAULT_AVATAR
from tests.factories import PASSWORD, UserFactory

User = get_user_model()
pytestmark = pytest.mark.django_db

STRONG = "a-Strong-passphrase-42"


def png_upload(size=(600, 400), noise=False, name="face.png"):
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, "teal")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def hub_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == status
    assert body["data"] == ""
    assert body["msg"]
    return body


def test_login_answers_spec_body_and_jwt_in_authorization_header(api_client, user):
    response = api_client.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert response.json() == {"code": 1, "msg": "success", "data": ""}
    token = response["Authorization"]
    assert token.count(".") == 2 and not token.startswith("Bearer")
    assert response["X-Refresh-Token"].count(".") == 2
    assert "Authorization" in response["Access-Control-Expose-Headers"]

    # The client sends the bare token back, as the spec's clients do.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    info = client.get("/api/personalInformation")
    assert info.status_code == 200
    assert info.json()["data"]["username"] == "alice"


@pytest.mark.parametrize(
    "username,password", [("alice", "wrong-password-1"), ("nobody", PASSWORD), ("ALICE-x", PASSWORD)]
)
def test_login_wrong_credentials_is_401_in_hub_envelope(api_client, user, username, password):
    response = api_client.post("/api/login", {"username": username, "password": password}, format="json")
    hub_error(response, 401)
    assert "Authorization" not in response


def test_login_inactive_user_is_refused(api_client):
    UserFactory(username="gone", is_active=False)
    response = api_client.post("/api/login", {"username": "gone", "password": PASSWORD}, format="json")
    hub_error(response, 401)


@pytest.mark.parametrize(
    "payload",
    [{}, {"username": "alice"}, {"password": PASSWORD}, {"username": ["alice"], "password": PASSWORD},
     {"username": "alice", "password": 123456}, {"username": "", "password": ""}],
)
def test_login_bad_input_is_400(api_client, user, payload):
    body = hub_error(api_client.post("/api/login", payload, format="json"), 400)
    assert "username" in body["msg"] or "password" in body["msg"]


def test_login_non_json_body_is_400(api_client, user):
    response = api_client.post("/api/login", data="{not json", content_type="application/json")
    hub_error(response, 400)
    response = api_client.post("/api/login", data="[1, 2]", content_type="application/json")
    hub_error(response, 400)


def test_login_ignores_a_stale_authorization_header(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    response = api_client.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_login_wrong_method_is_405_in_envelope(api_client):
    hub_error(api_client.get("/api/login"), 405)


def test_personal_information_shows_own_team_and_default_avatar(auth_client, user):
    response = auth_client.get("/api/personalInformation")
    assert response.status_code == 200
    assert response.json() == {
        "code": 1,
        "msg": "success",
        "data": {"username": "alice", "team": user.team.name, "avatar": settings.STATIC_URL + DEFAULT_AVATAR},
    }


def test_personal_information_without_team_gives_empty_string(api_client):
    loner = UserFactory(username="loner", team=None)
    api_client.force_authenticate(loner)
    assert api_client.get("/api/personalInformation").json()["data"]["team"] == ""


def test_personal_information_is_only_ever_the_callers(api_client, user, other_user):
    from accounts.services import issue_tokens

    api_client.credentials(HTTP_AUTHORIZATION=issue_tokens(other_user)[0])
    data = api_client.get("/api/personalInformation", {"username": "alice"}).json()["data"]
    assert data["username"] == "bob"
    assert data["team"] == other_user.team.name


def test_personal_information_needs_login(api_client):
    body = hub_error(api_client.get("/api/personalInformation"), 401)
    assert body["msg"] == "no login"


def test_verify_username_free_taken_and_malformed(api_client, user):
    ok = api_client.post("/api/register/verifyUsername", {"username": "newcomer"}, format="json")
    assert ok.status_code == 200
    assert ok.json() == {"code": 1, "msg": "verification successful", "data": ""}

    hub_error(api_client.post("/api/register/verifyUsername", {"username": "alice"}, format="json"), 409)
    hub_error(api_client.post("/api/register/verifyUsername", {"username": "ALICE"}, format="json"), 409)
    for bad in ["ab", "has space", "x" * 65, "semi;colon", "sgt-reserved"]:
        hub_error(api_client.post("/api/register/verifyUsername", {"username": bad}, format="json"), 400)
    hub_error(api_client.post("/api/register/verifyUsername", {}, format="json"), 400)
    hub_error(api_client.post("/api/register/verifyUsername", {"username": 7}, format="json"), 400)


def test_submit_user_info_registers_with_thumbnailed_avatar(api_client):
    response = api_client.post(
        "/api/register/submitUserInfo",
        {"team": "iSS", "username": "carol", "password": STRONG, "avatar": png_upload((600, 400))},
        format="multipart",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"code": 1, "msg": "registration completed", "data": ""}
    carol = User.objects.get(username="carol")
    assert carol.team is None  # teams are managed by administrators, never joined by naming them
    assert carol.check_password(STRONG)
    with Image.open(carol.avatar.path) as stored:
        assert stored.format == "PNG"
        assert stored.size == (settings.AVATAR_SIZE, settings.AVATAR_SIZE)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=response["Authorization"])
    data = client.get("/api/personalInformation").json()["data"]
    assert data == {"username": "carol", "team": "", "avatar": carol.avatar.url}
    assert data["avatar"].startswith(settings.MEDIA_URL)


def test_submit_user_info_without_avatar_uses_the_default(api_client):
    response = api_client.post(
        "/api/register/submitUserInfo", {"username": "dave", "password": STRONG}, format="multipart"
    )
    assert response.status_code == 200
    dave = User.objects.get(username="dave")
    assert not dave.avatar and dave.team is None
    assert dave.avatar_url == settings.STATIC_URL + DEFAULT_AVATAR


@override_settings(AVATAR_MAX_BYTES=10_000)
def test_submit_user_info_oversized_avatar_is_413(api_client):
    upload = png_upload((200, 200), noise=True)
    assert upload.size > 10_000
    response = api_client.post(
        "/api/register/submitUserInfo", {"username": "erin", "password": STRONG, "avatar": upload}, format="multipart"
    )
    hub_error(response, 413)
    assert not User.objects.filter(username="erin").exists()


@pytest.mark.parametrize(
    "avatar",
    [
        SimpleUploadedFile("evil.png", b"<?php echo 'not an image'; ?>", content_type="image/png"),
        SimpleUploadedFile("cut.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", content_type="image/png"),
        "just a string",
    ],
)
def test_submit_user_info_invalid_avatar_is_400(api_client, avatar):
    response = api_client.post(
        "/api/register/submitUserInfo", {"username": "frank", "password": STRONG, "avatar": avatar}, format="multipart"
    )
    hub_error(response, 400)
    assert not User.objects.filter(username="frank").exists()


@pytest.mark.parametrize(
    "payload,status",
    [
        ({"username": "gina", "password": "123456"}, 400),  # too short, numeric, common
        ({"username": "gina", "password": "Sh0rt!"}, 400),  # under 8 characters
        ({"username": "gina"}, 400),
        ({"password": STRONG}, 400),
        ({"username": "alice", "password": STRONG}, 409),
        ({"username": "gina", "password": STRONG, "team": "t" * 101}, 400),
    ],
)
def test_submit_user_info_bad_input(api_client, user, payload, status):
    response = api_client.post("/api/register/submitUserInfo", payload, format="multipart")
    hub_error(response, status)
    assert "Authorization" not in response
    assert not User.objects.filter(username="gina").exists()


def test_login_and_registration_are_throttled(api_client, user):
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "2/min"}}
    with override_settings(REST_FRAMEWORK=rest):
        for _ in range(2):
            api_client.post("/api/login", {"username": "alice", "password": "wrong-one-1"}, format="json")
        response = api_client.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")
        body = hub_error(response, 429)
        assert "throttled" in body["msg"].lower()
        assert int(response["Retry-After"]) > 0
        hub_error(api_client.post("/api/register/verifyUsername", {"username": "zed"}, format="json"), 429)


def test_oversized_body_is_413_in_envelope(api_client):
    body = '{"username": "' + "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '", "password": "x"}'
    hub_error(api_client.post("/api/login", data=body, content_type="application/json"), 413)


def test_throttle_is_not_bypassed_by_a_forged_forwarded_for(api_client, user):
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "2/min"}}
    with override_settings(REST_FRAMEWORK=rest):
        for n in range(2):
            api_client.post("/api/login", {"username": "alice", "password": "x"}, format="json", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")
        response = api_client.post(
            "/api/login", {"username": "alice", "password": PASSWORD}, format="json", HTTP_X_FORWARDED_FOR="10.9.9.9"
        )
        hub_error(response, 429)


def test_submit_user_info_refuses_a_pixel_bomb(api_client):
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, format="PNG")  # 6 KB on the wire, 48 megapixels
    upload = SimpleUploadedFile("bomb.png", buffer.getvalue(), content_type="image/png")
    response = api_client.post(
        "/api/register/submitUserInfo", {"username": "henry", "password": STRONG, "avatar": upload}, format="multipart"
    )
    body = hub_error(response, 400)
    assert "pixels" in body["msg"]
    assert not User.objects.filter(username="henry").exists()
