import os
import signal
import socket

import pytest
from django.db import transaction

from core.models import DiagnosticJob, JobStatus, WorkerHeartbeat
from core.services import enqueue_job, reap_stale_jobs, request_cancel
from tests.worker import start_worker, stop_worker, wait_for_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _submit(**fields):
    with transaction.atomic():
        job = DiagnosticJob.objects.create(**fields)
        enqueue_job(job)
    return job


def _status(job):
    job.refresh_from_db()
    return job.status


def test_trivial_job_runs_on_a_real_worker(celery_worker):
    job = _submit(seconds=0.2)
    wait_until(lambda: _status(job) == JobStatus.SUCCEEDED, timeout=60, message="job to succeed")
    assert job.progress == 1.0
    assert job.attempts == 1
    # The worker's node name, as its heartbeat row and /healthz name it (not host:pid).
    assert job.worker == f"session@{socket.gethostname()}"
    # (A transactional test before this one may have emptied the table; the worker writes its
    # row again within WORKER_HEARTBEAT_SECONDS.)
    wait_until(lambda: WorkerHeartbeat.objects.filter(hostname=job.worker).exists(), timeout=15,
               message="the worker's heartbeat row")
    assert "done" in job.log
    assert job.started_at <= job.finished_at


def test_running_job_can_be_cancelled(celery_worker):
    job = _submit(seconds=30)
    wait_until(lambda: _status(job) == JobStatus.RUNNING, timeout=60, message="job to start")
    request_cancel(job)
    wait_until(lambda: _status(job) == JobStatus.CANCELLED, timeout=20, message="job to stop")
    assert "cancelled" in job.log


def test_worker_killed_mid_job_leaves_it_failed_not_running():
    # A queue of its own, so that only the victim can take the job.
    victim = start_worker(name="victim", queues=["victim"], concurrency=1)
    try:
        wait_for_worker(victim, "victim@")
        job = _submit(seconds=60, max_attempts=1, queue="victim")
        wait_until(lambda: _status(job) == JobStatus.RUNNING, timeout=60, message="job to start")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        stop_worker(victim, sig=signal.SIGKILL)
    assert _status(job) == JobStatus.RUNNING  # nobody has noticed yet

    # A surviving worker sweeps for lost jobs on its heartbeat (every second in tests).
    survivor = start_worker(name="survivor", concurrency=1)
    try:
        wait_for_worker(survivor, "survivor@")
        wait_until(lambda: _status(job) == JobStatus.FAILED, timeout=60, message="lost job to be failed")
    finally:
        stop_worker(survivor)
    assert "lost" in job.error
    assert job.finished_at is not None


def test_lost_job_with_attempts_left_is_requeued_and_finishes(celery_worker):
    job = DiagnosticJob.objects.create(seconds=0.2, max_attempts=2)
    # Simulate a worker that claimed the job and died without a trace.
    DiagnosticJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=1, heartbeat_at="2000-01-01T00:00:00Z", worker="gone@nowhere:1"
    )
    failed, requeued = reap_stale_jobs(stale_seconds=5)
    assert (failed, requeued) == (0, 1)
    wait_until(lambda: _status(job) == JobStatus.SUCCEEDED, timeout=60, message="requeued job to finish")
    assert job.attempts == 2
    assert "requeued" in job.log
