from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import Role
from core.management.commands.seed_demo import seed_modules
from core.models import DiagnosticJob, JobStatus
from tests.worker import wait_until

User = get_user_model()


def seed():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_modules_run_in_app_order_with_core_last():
    names = [module.__name__ for module in seed_modules()]
    assert names[0] == "accounts.seed"
    assert names[-1] == "core.seed"


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_accounts_once_and_prints_their_logins(client):
    first = seed()
    second = seed()

    accounts = {u.username: u for u in User.objects.filter(username__in=["admin", "researcher", "operator"])}
    assert accounts["admin"].is_superuser and accounts["admin"].is_staff and accounts["admin"].role == Role.ADMIN
    assert accounts["researcher"].role == Role.RESEARCHER and not accounts["researcher"].is_staff
    assert accounts["operator"].role == Role.OPERATOR and accounts["operator"].is_operator
    assert User.objects.filter(username="admin").count() == 1
    assert DiagnosticJob.objects.count() == 1
    for output in (first, second):
        assert "login  admin / crucible-admin" in output
        assert "login  researcher / crucible-researcher" in output
        assert "login  operator / crucible-operator" in output

    # The printed login works on the admin site.
    response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "crucible-admin"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_passwords_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRUCIBLE_ADMIN_PASSWORD", "lab-admin-passphrase-42")

    output = seed()

    assert User.objects.get(username="admin").check_password("lab-admin-passphrase-42")
    assert "login  admin / lab-admin-passphrase-42" in output


@pytest.mark.django_db
def test_a_changed_password_is_never_reset():
    seed()
    admin = User.objects.get(username="admin")
    admin.set_password("my-own-choice-7731")
    admin.save()

    output = seed()

    admin.refresh_from_db()
    assert admin.check_password("my-own-choice-7731")
    assert not admin.check_password("crucible-admin")
    assert "login  admin / <the password you set>" in output


@pytest.mark.django_db
def test_production_generates_random_passwords_instead_of_the_demo_ones(settings):
    settings.PRODUCTION = True

    output = seed()

    admin = User.objects.get(username="admin")
    assert not admin.check_password("crucible-admin")
    printed = output.split("login  admin / ")[1].split()[0]
    assert len(printed) >= 12 and admin.check_password(printed)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_seeded_diagnostic_job_goes_through_the_worker(celery_worker):
    output = seed()

    job = DiagnosticJob.objects.get()
    assert f"Diagnostic job #{job.pk} submitted" in output
    assert job.owner.username == "admin"

    def finished():
        job.refresh_from_db()
        return job.is_finished

    wait_until(finished, timeout=60, message="the seeded diagnostic job")
    assert job.status == JobStatus.SUCCEEDED
    assert f"Diagnostic job #{job.pk}: succeeded" in seed()
