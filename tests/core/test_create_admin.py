"""manage.py create_admin: the production administrator, without demo data."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import Role
from core.selectors import job_models

User = get_user_model()
ADMIN_PASSWORD = "lab-admin-passphrase-2026"


def create_admin(*args):
    out = StringIO()
    call_command("create_admin", *args, "--no-input", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@override_settings(REGISTRATION="closed")
def test_create_admin_from_a_password_file_makes_only_the_admin(tmp_path, client):
    secret = tmp_path / "admin.pw"
    secret.write_text(ADMIN_PASSWORD + "\n")

    output = create_admin("--username", "root-of-lab", "--email", "it@lab.example", "--password-file", str(secret))

    assert output.strip() == "admin root-of-lab: created"
    assert ADMIN_PASSWORD not in output
    admin = User.objects.get()
    assert (admin.username, admin.email, admin.role) == ("root-of-lab", "it@lab.example", Role.ADMIN)
    assert admin.is_superuser and admin.is_staff and admin.is_active
    assert all(model.objects.count() == 0 for model in job_models())  # no demo jobs, no demo users
    assert client.login(username="root-of-lab", password=ADMIN_PASSWORD)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_create_admin_is_idempotent_and_keeps_the_password(monkeypatch):
    monkeypatch.setenv("CRUCIBLE_ADMIN_PASSWORD", ADMIN_PASSWORD)
    create_admin("--username", "admin")
    monkeypatch.setenv("CRUCIBLE_ADMIN_PASSWORD", "another-passphrase-2027")

    output = create_admin("--username", "admin")

    assert "exists" in output
    assert User.objects.filter(username="admin").count() == 1
    assert User.objects.get(username="admin").check_password(ADMIN_PASSWORD)

    create_admin("--username", "admin", "--reset-password")
    assert User.objects.get(username="admin").check_password("another-passphrase-2027")


@pytest.mark.django_db
def test_create_admin_promotes_an_existing_account(user):
    User.objects.filter(pk=user.pk).update(is_active=False)
    create_admin("--username", "alice")
    user.refresh_from_db()
    assert user.is_superuser and user.is_staff and user.is_active and user.role == Role.ADMIN


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give --username"),
        (["--username", "admin"], "give --password-file or CRUCIBLE_ADMIN_PASSWORD"),
        (["--username", "admin", "--password-file", "/nonexistent/admin.pw"], "cannot read --password-file"),
    ],
)
def test_create_admin_without_what_it_needs_fails_clearly(monkeypatch, args, message):
    monkeypatch.delenv("CRUCIBLE_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("CRUCIBLE_ADMIN_USERNAME", raising=False)
    with pytest.raises(CommandError, match=message):
        create_admin(*args)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_create_admin_refuses_a_weak_password(monkeypatch):
    monkeypatch.setenv("CRUCIBLE_ADMIN_PASSWORD", "12345678")
    with pytest.raises(CommandError, match="password"):
        create_admin("--username", "admin")
    assert not User.objects.exists()
