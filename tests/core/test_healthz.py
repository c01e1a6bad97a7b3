import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from core.models import WorkerHeartbeat
from tests.worker import ROOT, wait_until


def _health(client):
    response = client.get("/healthz")
    return response.status_code, response.json()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_healthz_is_public_and_reports_a_live_worker_without_its_host(client, celery_worker):
    # The session worker beats every second; a transactional test starts from a flushed table.
    wait_until(lambda: _health(client)[1]["workers"]["ok"], timeout=30, message="a live worker in /healthz")

    status, report = _health(client)

    assert status == 200
    assert report["status"] == "ok"
    assert report["database"] == {"ok": True, "detail": connection.vendor}
    assert report["broker"]["ok"] is True
    assert report["broker"]["detail"] == celery_app.conf.broker_url.split("://")[0]
    assert set(report["queues"]) >= {"default", "training", "evaluation", "serving", "experiments"}
    assert all(queue["ok"] and queue["consumers"] >= 1 for queue in report["queues"].values())
    # Anonymous callers get statuses only: no host names, no pids.
    assert "session@" not in json.dumps(report)
    assert all(set(w) == {"queues", "sandbox", "last_seen"} for w in report["workers"]["alive"])
    assert any("training" in w["queues"].split(",") for w in report["workers"]["alive"])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_healthz_shows_hosts_to_staff_by_session_and_by_jwt(client, celery_worker):
    from accounts.services import issue_tokens
    from tests.factories import UserFactory

    admin = UserFactory(username="root", is_staff=True)
    wait_until(lambda: _health(client)[1]["workers"]["ok"], timeout=30, message="a live worker in /healthz")
    access, _ = issue_tokens(admin)

    by_jwt = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {access}").json()
    client.force_login(admin)
    by_session = client.get("/healthz").json()

    for report in (by_jwt, by_session):
        session = [w for w in report["workers"]["alive"] if w["hostname"].startswith("session@")]
        assert session, report
        assert session[0]["pid"] > 0
        assert "training" in session[0]["queues"].split(",")
        assert session[0]["hostname"] in report["queues"]["training"]["workers"]


@pytest.mark.django_db
def test_healthz_is_degraded_when_a_queue_has_no_consumer(client, user, settings):
    settings.WORKER_HEARTBEAT_SECONDS = 60  # the row below stays live on a slow machine
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {WorkerHeartbeat._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    WorkerHeartbeat.objects.all().delete()
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        hostname="cpu@box-1", pid=42, queues="default,evaluation,serving,experiments", started_at=now, last_seen=now
    )

    status, report = _health(client)

    assert status == 200  # the site works; training jobs wait for a worker
    assert report["status"] == "degraded"
    assert report["queues"]["training"] == {"ok": False, "consumers": 0}
    assert report["queues"]["serving"] == {"ok": True, "consumers": 1}, report
    assert report["workers"]["ok"] is True
    assert "box-1" not in json.dumps(report)

    client.force_login(user)  # not staff: still no hosts
    assert "box-1" not in json.dumps(client.get("/healthz").json())


@pytest.mark.django_db
def test_healthz_without_a_live_worker_is_degraded_but_answers_200(client):
    # Keep the session worker (if one is running) from writing a heartbeat during this test:
    # the test transaction holds the table until it rolls back.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {WorkerHeartbeat._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    WorkerHeartbeat.objects.all().delete()
    long_ago = timezone.now() - timedelta(hours=1)
    WorkerHeartbeat.objects.create(hostname="gone@old-host", pid=1, started_at=long_ago, last_seen=long_ago)

    status, report = _health(client)

    assert status == 200  # the site works; jobs just wait for a worker
    assert report["status"] == "degraded"
    assert report["database"]["ok"] and report["broker"]["ok"]
    assert report["workers"] == {"ok": False, "alive": []}
    assert not any(queue["ok"] for queue in report["queues"].values())


@pytest.mark.django_db
def test_healthz_with_an_unreachable_broker_answers_503(client, monkeypatch):
    # Celery lets the CELERY_BROKER_URL environment variable win over its configuration.
    dead_broker = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead_broker)
    monkeypatch.setitem(celery_app.conf, "broker_url", dead_broker)

    status, report = _health(client)

    assert status == 503
    assert report["status"] == "degraded"
    assert report["broker"]["ok"] is False
    assert report["database"]["ok"] is True


def test_healthz_with_an_unreachable_database_answers_503(tmp_path):
    # A fresh process, so that its database settings point at a port nobody listens on.
    code = (
        "import json, django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/healthz')\n"
        "print(json.dumps({'status': r.status_code, 'report': r.json()}))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CRUCIBLE_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
        "CELERY_BROKER_URL": "filesystem://",
    }
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["status"] == 503
    assert result["report"]["database"]["ok"] is False
    assert result["report"]["broker"] == {"ok": True, "detail": "filesystem"}
    assert result["report"]["workers"]["ok"] is False
