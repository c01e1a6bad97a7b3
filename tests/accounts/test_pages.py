"""The account pages through Django's test client: access, forms, avatars, API keys, admin."""

import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import ApiKey, ResourceQuota, StorageQuota, User
from accounts.services import authenticate_api_key, create_api_key
from core.models import DiagnosticJob
from tests.factories import UserFactory
from tests.worker import wait_until

pytestmark = pytest.mark.django_db


def image_upload(name="me.png", size=(64, 48), fmt="PNG", color=(200, 60, 20)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def client_alice(user):
    client = Client()
    client.force_login(user)
    return client


# --- layout ---------------------------------------------------------------------


def test_home_shows_domains_and_health(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for href in ("/hub/", "/files/", "/images/", "/training/", "/evaluation/", "/serving/", "/sgt/", "/chat/", "/experiments/"):
        assert f'href="{href}"' in html
    assert 'href="/api/docs/"' in html
    assert 'href="/admin/"' not in html  # staff only
    assert "/static/vendor/htmx.min.js" in html and "/static/vendor/chart.umd.min.js" in html
    assert "Platform health" in html and "Database" in html
    assert response.context["health"]["database"]["ok"] is True
    assert 'href="/accounts/login/"' in html and 'href="/accounts/register/"' in html


def test_layout_for_logged_in_staff(client, user):
    user.is_staff = True
    user.save()
    client.force_login(user)
    html = client.get("/").content.decode()
    assert 'href="/admin/"' in html
    assert 'action="/accounts/logout/"' in html and 'method="post"' in html
    assert '"X-CSRFToken"' in html  # htmx sends the CSRF token on every request


# --- login, logout ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/accounts/profile/", "/accounts/profile/avatar/", "/accounts/profile/sign-out-everywhere/", "/accounts/profile/keys/"],
)
def test_pages_need_login(client, url):
    response = client.get(url) if url == "/accounts/profile/" else client.post(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_login_page_logs_in_and_redirects_to_profile(client, user, password):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": password})
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    assert client.get("/accounts/profile/").status_code == 200


def test_login_page_wrong_password(client, user):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_page_follows_safe_next_only(client, user, password):
    response = client.post("/accounts/login/?next=/hub/", {"username": "alice", "password": password, "next": "/hub/"})
    assert response["Location"] == "/hub/"
    client.logout()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": password, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/accounts/profile/"


def test_logout_is_post_only(client_alice):
    assert client_alice.get("/accounts/logout/").status_code == 405
    response = client_alice.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client_alice.get("/accounts/profile/").status_code == 302


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/register/"])
def test_login_and_register_posts_are_throttled(client, user, url):
    # Other usernames each time: the per-account lockout (10 failures) is tested elsewhere.
    for n in range(20):
        assert client.post(url, {"username": f"user-{n}", "password": "wrong-wrong"}).status_code in (200, 400)
    response = client.post(url, {"username": "alice", "password": "wrong-wrong"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many attempts" in response.content.decode()
    assert client.get(url).status_code == 200  # reading the page is not limited


# --- registration ------------------------------------------------------------------


def register(client, **overrides):
    data = {"username": "carol", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"}
    data.update(overrides)
    return client.post("/accounts/register/", data)


def test_register_creates_user_and_logs_in(client):
    response = register(client, avatar=image_upload(size=(400, 300)))
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    carol = User.objects.get(username="carol")
    assert carol.team is None and carol.role == "researcher"
    assert carol.check_password("a-long-passphrase-9")
    with Image.open(carol.avatar.path) as image:
        assert image.size == (256, 256)
    assert client.session["_auth_user_id"] == str(carol.pk)


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"username": ""}, "username", "This field is required."),
        ({"username": "a b"}, "username", "username must be 3-64 characters"),
        ({"username": "alice"}, "username", "username is already taken"),
        ({"username": "ALICE"}, "username", "username is already taken"),
        ({"password2": "different-passphrase"}, "password2", "The two passwords differ."),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"password1": "12345678901", "password2": "12345678901"}, "password1", "entirely numeric"),
    ],
)
def test_register_errors_are_shown_per_field(client, user, overrides, field, message):
    response = register(client, **overrides)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and any(message in error for error in errors[field])
    assert f'id="id_{field}_errors"' in response.content.decode()
    assert not User.objects.filter(username="carol").exists()


def test_register_rejects_bad_avatars(client, settings):
    response = register(client, avatar=SimpleUploadedFile("me.png", b"not an image", content_type="image/png"))
    assert response.status_code == 400
    assert "avatar is not a valid image" in response.context["form"].errors["avatar"][0]

    settings.AVATAR_MAX_BYTES = 1000
    response = register(client, avatar=image_upload(size=(600, 600), fmt="BMP"))
    assert response.status_code == 400
    assert "avatar must be at most" in response.context["form"].errors["avatar"][0]
    assert not User.objects.filter(username="carol").exists()


def test_register_page_redirects_logged_in_users(client_alice):
    assert client_alice.get("/accounts/register/")["Location"] == "/accounts/profile/"


# --- profile -------------------------------------------------------------------------


def test_profile_shows_default_avatar_role_team_and_quotas(client_alice, user):
    ResourceQuota.objects.create(user=user, cpu=16, gpu=2, memory_gb=64, job_slots=3)
    StorageQuota.objects.create(user=user, bytes_quota=5 * 1024**3, inodes_quota=1000)
    response = client_alice.get("/accounts/profile/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="/static/img/default-avatar.png"' in html
    assert "Researcher" in html and user.team.name in html
    chart = response.context["resource_chart"]
    assert chart["labels"][0] == "CPU cores" and chart["limit"][:4] == [16, 2, 64, 3] and chart["used"][0] == 0
    assert 'id="resource-chart-data"' in html and "new Chart(" in html
    assert "5.0\xa0GB" in html  # storage quota, formatted


def test_profile_without_quota_records_uses_defaults(client_alice, settings):
    response = client_alice.get("/accounts/profile/")
    assert response.context["resource_chart"]["limit"][0] == settings.DEFAULT_QUOTA["cpu"]
    assert "No storage quota assigned" in response.content.decode()


def test_avatar_upload_replaces_avatar_and_is_served(client_alice, user, settings):
    response = client_alice.post("/accounts/profile/avatar/", {"avatar": image_upload(size=(300, 500))})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.avatar.name.startswith("avatars/") and user.avatar.name.endswith(".png")
    profile = client_alice.get("/accounts/profile/").content.decode()
    assert f'src="{user.avatar.url}"' in profile

    # The file is served even with DEBUG off, by accounts.pages.avatar_file.
    served = Client().get(user.avatar.url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(b"".join(served.streaming_content))) as image:
        assert image.size == (256, 256)

    first = user.avatar.path
    client_alice.post("/accounts/profile/avatar/", {"avatar": image_upload(color=(0, 0, 0))})
    user.refresh_from_db()
    assert user.avatar.path != first
    assert Client().get(f"/media/avatars/{first.rsplit('/', 1)[-1]}").status_code == 404  # the old file is gone


@pytest.mark.parametrize(
    "upload, message",
    [
        (lambda: SimpleUploadedFile("x.png", b"GIF89a broken", content_type="image/png"), "avatar is not a valid image"),
        (lambda: SimpleUploadedFile("x.txt", b"hello", content_type="text/plain"), "avatar is not a valid image"),
        (lambda: image_upload(size=(800, 800), fmt="BMP"), "avatar must be at most"),
    ],
)
def test_avatar_upload_rejects_bad_files_with_a_message(client_alice, user, settings, upload, message):
    settings.AVATAR_MAX_BYTES = 100_000
    response = client_alice.post("/accounts/profile/avatar/", {"avatar": upload()})
    assert response.status_code == 400
    assert any(message in m for m in messages_of(response))
    assert message in response.content.decode()
    user.refresh_from_db()
    assert not user.avatar


def test_avatar_upload_without_file(client_alice):
    response = client_alice.post("/accounts/profile/avatar/", {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


# --- API keys ----------------------------------------------------------------------------


def test_create_api_key_with_htmx_shows_secret_once(client_alice, user):
    response = client_alice.post("/accounts/profile/keys/", {"description": "ci runner"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="api-keys">')  # only the fragment
    key = ApiKey.objects.get(user=user)
    secret = response.context["new_secret"]
    assert key.description == "ci runner"
    assert f'data-testid="secret-key">{secret}<' in html
    assert authenticate_api_key(key.secret_id, secret) == user
    assert secret not in key.secret_key_hash
    # Shown once: the profile page does not have it.
    assert secret not in client_alice.get("/accounts/profile/").content.decode()


def test_create_api_key_without_htmx_renders_the_profile(client_alice, user):
    response = client_alice.post("/accounts/profile/keys/", {"description": "", "end_time": "2999-01-01T10:00"})
    assert response.status_code == 200
    assert "<html" in response.content.decode() and response.context["new_secret"]
    assert ApiKey.objects.get(user=user).end_time.year == 2999


def test_create_api_key_rejects_past_end_time(client_alice, user):
    response = client_alice.post("/accounts/profile/keys/", {"end_time": "2001-01-01T10:00"}, HTTP_HX_REQUEST="true")
    assert "The expiry must be in the future." in response.content.decode()
    response = client_alice.post("/accounts/profile/keys/", {"end_time": "not a date"})
    assert response.status_code == 400
    assert not ApiKey.objects.filter(user=user).exists()


def test_revoke_api_key(client_alice, user):
    key, _ = create_api_key(user, description="old")
    response = client_alice.post(f"/accounts/profile/keys/{key.secret_id}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    key.refresh_from_db()
    assert not key.is_active
    assert "revoked" in response.content.decode()


def test_other_users_keys_are_not_listed_or_revocable(client_alice, other_user):
    key, _ = create_api_key(other_user, description="bob's")
    assert key.secret_id not in client_alice.get("/accounts/profile/").content.decode()
    response = client_alice.post(f"/accounts/profile/keys/{key.secret_id}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.is_active


def test_revoke_needs_post(client_alice, user):
    key, _ = create_api_key(user)
    assert client_alice.get(f"/accounts/profile/keys/{key.secret_id}/revoke/").status_code == 405


# --- avatar files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/media/avatars/..%2F..%2Fcrucible.sqlite3",
        "/media/avatars/.hidden.png",
        "/media/avatars/missing.png",
        "/media/avatars/notes.txt",
        "/media/avatars/..",
    ],
)
def test_avatar_file_rejects_traversal_and_unknown_files(client, settings, path):
    (settings.MEDIA_ROOT / "avatars").mkdir(parents=True, exist_ok=True)
    (settings.MEDIA_ROOT / "avatars" / "notes.txt").write_text("secret")
    assert client.get(path).status_code == 404


# --- admin ------------------------------------------------------------------------------


@pytest.fixture
def admin_client_(db):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True, role="admin")
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/",
        "/admin/accounts/team/",
        "/admin/accounts/apikey/",
        "/admin/accounts/resourcequota/",
        "/admin/accounts/storagequota/",
        "/admin/core/diagnosticjob/",
        "/admin/core/workerheartbeat/",
        "/admin/accounts/user/add/",
        "/admin/accounts/apikey/add/",
        "/admin/accounts/resourcequota/add/",
        "/admin/core/diagnosticjob/add/",
    ],
)
def test_admin_pages_render(admin_client_, user, url):
    client, _ = admin_client_
    create_api_key(user)
    response = client.get(url + ("?q=alice" if url.endswith("s/") and not url.endswith("add/") else ""))
    assert response.status_code == 200


def test_admin_user_change_page_has_crucible_fields(admin_client_, user):
    client, _ = admin_client_
    html = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert 'name="role"' in html and 'name="team"' in html and 'name="avatar"' in html


def test_admin_api_key_add_shows_secret_once_and_hash_is_read_only(admin_client_, user):
    client, _ = admin_client_
    response = client.post("/admin/accounts/apikey/add/", {"user": user.pk, "description": "from admin", "end_time_0": "", "end_time_1": ""})
    assert response.status_code == 302
    key = ApiKey.objects.get(user=user)
    note = next(m for m in messages_of(response) if "secret key" in m)
    secret = note.split("secret key ", 1)[1].split(" ", 1)[0]
    assert authenticate_api_key(key.secret_id, secret) == user

    html = client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert 'name="secret_key_hash"' not in html and key.secret_key_hash in html


def test_admin_deactivate_action(admin_client_, user):
    client, _ = admin_client_
    key, secret = create_api_key(user)
    response = client.post(
        "/admin/accounts/apikey/", {"action": "deactivate", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert not key.is_active and authenticate_api_key(key.secret_id, secret) is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_diagnostic_job_add_runs_on_a_worker(admin_client_, celery_worker):
    client, admin = admin_client_
    response = client.post("/admin/core/diagnosticjob/add/", {"seconds": "0.2", "queue": "default"})
    assert response.status_code == 302
    job = DiagnosticJob.objects.get()
    assert job.owner == admin and job.queue == "default"
    wait_until(lambda: DiagnosticJob.objects.get(pk=job.pk).status == "succeeded", timeout=60, message="job done")

    response = client.post("/admin/core/diagnosticjob/add/", {"seconds": "-1", "queue": "nowhere"})
    assert response.status_code == 200 and DiagnosticJob.objects.count() == 1


def test_admin_is_staff_only(client_alice):
    response = client_alice.get("/admin/accounts/apikey/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_user_avatar_upload_is_thumbnailed(admin_client_, user):
    client, _ = admin_client_
    data = {
        "username": user.username,
        "role": "operator",
        "team": user.team.pk,
        "avatar": image_upload(size=(600, 400)),
        "is_active": "on",
        "resource_quota-TOTAL_FORMS": "0",
        "resource_quota-INITIAL_FORMS": "0",
        "storage_quota-TOTAL_FORMS": "0",
        "storage_quota-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    user.refresh_from_db()
    assert user.role == "operator"
    with Image.open(user.avatar.path) as image:
        assert image.size == (256, 256) and image.format == "PNG"
