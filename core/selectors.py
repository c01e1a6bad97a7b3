from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count
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
# The aliases as a choice set (filters and facades that take them).
STATUS_FILTER_CHOICES = [(alias, alias) for alias in STATUS_ALIASES]


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


def queue_consumers(workers):
    """{queue: [live workers consuming it]} for every job queue; an empty list: nobody consumes it."""
    consumers = {name: [] for name in settings.JOB_QUEUES}
    for worker in workers:
        for queue in filter(None, worker.queues.split(",")):
            consumers.setdefault(queue, []).append(worker)
    return consumers


def health_report(*, include_hosts=False):
    """Database, broker, each job queue with its live consumers, and the live workers.

    `status` is "degraded" when the database or broker is down or a job queue has no live
    consumer. Host details (worker node names, pids) only with include_hosts (admins).
    """
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    try:
        workers = live_workers() if db_ok else []
    except DatabaseError:  # e.g. migrations not applied yet: report it, don't crash
        workers = []
    consumers = queue_consumers(workers)
    queues = {}
    for name, queue_workers in consumers.items():
        queues[name] = {"ok": bool(queue_workers), "consumers": len(queue_workers)}
        if include_hosts:
            queues[name]["workers"] = [w.hostname for w in queue_workers]
    alive = []
    for w in workers:
        entry = {"queues": w.queues, "sandbox": w.sandbox, "last_seen": w.last_seen.isoformat()}
        if include_hosts:
            entry = {"hostname": w.hostname, "pid": w.pid, "started_at": w.started_at.isoformat(), **entry}
        alive.append(entry)
    every_queue_served = all(queues[name]["ok"] for name in settings.JOB_QUEUES)
    try:
        replicas = replica_report(include_hosts) if db_ok else {}
    except DatabaseError:
        replicas = {}
    return {
        "status": "ok" if (db_ok and broker_ok and every_queue_served) else "degraded",
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
        "queues": queues,
        "workers": {"ok": bool(workers), "alive": alive},
        "replicas": replicas,
    }


def replica_report(include_hosts):
    """Model replicas by status, and (admins) by serving host: {"running": 2, "hosts": {...}}."""
    Replica = apps.get_model("serving", "Replica")  # core sits below the apps: no import of serving
    live = Replica.objects.filter(status__in=("starting", "running"))
    report = {row["status"]: row["n"] for row in live.values("status").annotate(n=Count("id"))}
    if include_hosts:
        hosts = {}
        for row in live.values("host", "address", "status").annotate(n=Count("id")).order_by("host"):
            entry = hosts.setdefault(row["host"], {"address": row["address"]})
            entry[row["status"]] = row["n"]
        report["hosts"] = hosts
    return report
