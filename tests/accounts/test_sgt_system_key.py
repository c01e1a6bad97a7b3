"""The SGT system key as an attacker tries it: it never produces a key that acts as staff,
a superuser or an admin; what it sets works only under /sgt/; published and short keys are
refused in every mode; a development instance makes its own key, production has none."""

import os
import stat
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import create_api_key
from accounts.system_key import check_system_key, development_key, key_file, system_key
from tests.factories import UserFactory

from .test_compat_sgt import CHECK, SECRET, UPDATE, sgt_error, update_body

pytestmark = pytest.mark.django_db


def key_client(secret_id, secret_key=SECRET):
    client = APIClient()
    client.credentials(HTTP_X_SECRET_ID=secret_id, HTTP_X_SECRET_KEY=secret_key)
    return client


@pytest.mark.parametrize(
    "fields", [{"is_superuser": True, "is_staff": True}, {"is_staff": True}, {"role": "admin"}],
    ids=["superuser", "staff", "platform-admin"],
)
def test_no_key_is_ever_set_for_a_privileged_account(api_client, fields):
    UserFactory(username="root", **fields)
    response = api_client.post(UPDATE, update_body(secret_id="root-key", username="root"), format="json")
    sgt_error(response, "PermissionException")
    assert not ApiKey.objects.filter(secret_id="root-key").exists()
    assert key_client("root-key").get("/api/v1/me/").status_code == 401


def test_the_system_key_cannot_replace_the_secret_of_an_admins_own_key(api_client):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    key, _ = create_api_key(root, secret_id="root-own-key")
    response = api_client.post(UPDATE, update_body(secret_id="root-own-key"), format="json")
    sgt_error(response, "PermissionException")
    assert key_client("root-own-key").get("/api/v1/me/").status_code == 401
    key.refresh_from_db()
    assert key.scope == "all"


def test_a_key_set_before_its_owner_became_staff_stops_working(api_client):
    carol = UserFactory(username="carol")
    assert api_client.post(UPDATE, update_body(secret_id="carol-sgt", username="carol"), format="json").status_code == 200
    assert api_client.post(CHECK, {"secret_id": "carol-sgt", "secret_key": SECRET}, format="json").json() is True
    carol.is_staff = True
    carol.save()
    assert api_client.post(CHECK, {"secret_id": "carol-sgt", "secret_key": SECRET}, format="json").json() is False


def test_replacing_an_owners_key_scopes_it_to_sgt(api_client, user):
    create_api_key(user, secret_id="alice-key")
    assert api_client.post(UPDATE, update_body(secret_id="alice-key"), format="json").status_code == 200
    assert ApiKey.objects.get(secret_id="alice-key").scope == "sgt"
    assert key_client("alice-key").get("/api/v1/me/").status_code == 401


def test_a_key_the_owner_made_works_everywhere(user):
    _, secret = create_api_key(user, secret_id="alice-own")
    assert key_client("alice-own", secret).get("/api/v1/me/").json()["username"] == "alice"


def test_an_end_time_in_the_past_expires_the_key(api_client):
    assert api_client.post(UPDATE, update_body(), format="json").status_code == 200
    assert api_client.post(CHECK, {"secret_id": "lab-robot", "secret_key": SECRET}, format="json").json() is True
    past = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert api_client.post(UPDATE, update_body(end_time=past), format="json").status_code == 200
    key = ApiKey.objects.get(secret_id="lab-robot")
    assert key.is_expired
    assert api_client.post(CHECK, {"secret_id": "lab-robot", "secret_key": SECRET}, format="json").json() is False
    assert api_client.post("/sgt/public/read_my_sgt_model", {"secret_id": "lab-robot", "secret_key": SECRET},
                           format="json").json()["exception"] == "AuthException"


@pytest.mark.parametrize("weak", ["crucible-dev-system-key", "short-but-set", "x" * 31])
@pytest.mark.parametrize("production", [False, True])
def test_published_or_short_keys_are_refused_in_every_mode(api_client, settings, weak, production):
    settings.SGT_SYSTEM_KEY = weak
    settings.PRODUCTION = production
    body = sgt_error(api_client.post(UPDATE, update_body(key=weak), format="json"), "AuthException")
    assert "SGT_SYSTEM_KEY" in body["message"]
    assert not ApiKey.objects.exists()
    errors = check_system_key(None)
    assert [error.id for error in errors] == ["accounts.E001"]


def test_production_without_a_key_has_the_endpoint_off(api_client, settings):
    settings.SGT_SYSTEM_KEY = ""
    settings.PRODUCTION = True
    body = sgt_error(api_client.post(UPDATE, update_body(key="anything-at-all-" * 3), format="json"), "AuthException")
    assert "no SGT_SYSTEM_KEY" in body["message"]
    assert not key_file().exists() or system_key() == ""


def test_development_generates_a_private_key_in_the_data_dir(api_client, settings, tmp_path, capsys):
    settings.SGT_SYSTEM_KEY = ""
    settings.PRODUCTION = False
    settings.DATA_DIR = tmp_path
    # Anonymous callers guessing the old default get nothing.
    sgt_error(api_client.post(UPDATE, update_body(key="crucible-dev-system-key"), format="json"), "AuthException")

    generated = development_key()
    path = tmp_path / "sgt-system-key"
    assert path.read_text().strip() == generated and len(generated) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert development_key() == generated  # kept across starts
    assert api_client.post(UPDATE, update_body(key=generated), format="json").status_code == 200

    call_command("sgt_system_key")
    assert generated in capsys.readouterr().out
