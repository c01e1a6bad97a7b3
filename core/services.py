import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from . import sandbox
from .models import JobStatus, WorkerHeartbeat
from .selectors import job_models

logger = logging.getLogger(__name__)


def enqueue_job(job):
    """Send the job's task once the surrounding transaction commits."""
    from config.celery import app

    options = {}
    queue = getattr(job, "queue", "")
    if queue:
        options["queue"] = queue
    model, pk, task_name = type(job), job.pk, job.task_name
    transaction.on_commit(lambda: app.send_task(task_name, args=[pk], **options))
    logger.info("enqueued %s %s", model.__name__, pk)


def request_cancel(job):
    """Queued jobs are cancelled at once; running ones stop at their next check."""
    model = type(job)
    model.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now(), error="cancelled by request"
    )
    model.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job


def reap_stale_jobs(stale_seconds=None):
    """Fail or requeue running jobs whose heartbeat stopped: their worker is gone.

    Returns (failed, requeued) counts. Safe to run anywhere, any number of times.
    """
    stale_seconds = settings.JOB_STALE_SECONDS if stale_seconds is None else stale_seconds
    cutoff = timezone.now() - timedelta(seconds=stale_seconds)
    failed = requeued = 0
    for model in job_models():
        try:
            stale = list(model.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff))
        except DatabaseError:
            # One app's table missing (unmigrated) must not stop the sweep of the others.
            logger.exception("cannot sweep %s", model.__name__)
            continue
        for job in stale:
            note = f"worker {job.worker or '?'} lost: no heartbeat since {job.heartbeat_at:%Y-%m-%d %H:%M:%S}"
            if job.attempts < job.max_attempts and not job.cancel_requested:
                updated = model.objects.filter(pk=job.pk, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
                    status=JobStatus.QUEUED, log=Concat(F("log"), Value(f"[reaper] {note}; requeued\n"))
                )
                if updated:
                    job.refresh_from_db()
                    with transaction.atomic():
                        enqueue_job(job)
                    requeued += 1
            else:
                updated = model.objects.filter(pk=job.pk, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
                    status=JobStatus.FAILED,
                    finished_at=timezone.now(),
                    error=note,
                    log=Concat(F("log"), Value(f"[reaper] {note}; marked failed\n")),
                )
                failed += updated
            if updated:
                logger.warning("%s %s: %s", model.__name__, job.pk, note)
                # A hung (not dead) worker may still hold the job's box on this host: it goes.
                if sandbox.kill_boxes(sandbox.label_for(job)):
                    logger.warning("%s %s: killed the sandbox its lost worker left", model.__name__, job.pk)
    return failed, requeued


def record_worker_heartbeat(hostname, queues=""):
    now = timezone.now()
    box = sandbox.status()
    boxed = box["sandbox"] if box["available"] else f"{box['sandbox']} (unavailable: {box['detail']})"
    values = {"pid": os.getpid(), "queues": queues, "last_seen": now, "sandbox": boxed[:255]}
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults=values,
                                             create_defaults={**values, "started_at": now})


def default_worker_hostname():
    return f"celery@{socket.gethostname()}"
