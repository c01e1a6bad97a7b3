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
def test_healthz_is_public_and_reports_a_live_worker(client, celery_worker):
    # The session worker beats every second; a transactional test starts from a flushed table.
    wait_until(lambda: _health(client)[1]["workers"]["ok"], timeout=30, message="a live worker in /healthz")

    status, report = _health(client)

    assert status == 200
    assert report["status"] == "ok"
    assert report["database"] == {"ok": True, "detail": connection.vendor}
    assert report["broker"]["ok"] is True
    assert report["broker"]["detail"] == celery_app.conf.broker_url.split("://")[0]
    session = [w for w in report["workers"]["alive"] if w["hostname"].startswith("session@")]
    assert session, report
    assert "training" in session[0]["queues"].split(",")


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
