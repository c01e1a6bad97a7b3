from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from .models import Job, JobStatus, WorkerHeartbeat

# The specs' status words (and ours) accepted in list filters -> job statuses.
STATUS_ALIASES = {
    "queued": JobStatus.QUEUED, "pending": JobStatus.QUEUED, "waiting": JobStatus.QUEUED,
    "running": JobStatus.RUNNING,
    "succeeded": JobStatus.SUCCEEDED, "success": JobStatus.SUCCEEDED, "completed": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED, "error": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED, "canceled": JobStatus.CANCELLED, "stopped": JobStatus.CANCELLED,
}


def job_models():
    """Every concrete model built on the Job record, across all apps."""
    return [m for m in apps.get_models() if issubclass(m, Job) and not m._meta.abstract]


def live_workers():
    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_SECONDS * 3)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=cutoff))


def check_database():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, connection.vendor
    except Exception as exc:
        return False, str(exc)


def check_broker():
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, app.conf.broker_url.split("://")[0]
    except Exception as exc:
        return False, str(exc)


def health_report():
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    try:
        workers = live_workers() if db_ok else []
    except DatabaseError:  # e.g. migrations not applied yet: report it, don't crash
        workers = []
    return {
        "status": "ok" if (db_ok and broker_ok and workers) else "degraded",
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
        "workers": {
            "ok": bool(workers),
            "alive": [
                {"hostname": w.hostname, "queues": w.queues, "sandbox": w.sandbox, "last_seen": w.last_seen.isoformat()}
                for w in workers
            ],
        },
    }
