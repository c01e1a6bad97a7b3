"""Running a job record inside a Celery task.

    @shared_task(name="myapp.run_thing")
    def run_thing(job_id):
        run_job(Thing, job_id, do_the_work)

    def do_the_work(job, handle):
        handle.log("starting")
        handle.progress(0.5)
        handle.raise_if_cancelled()

`run_job` claims the record (only a queued job is claimed, so a duplicate or redelivered
message is harmless), keeps its heartbeat fresh from a background thread while the body
runs, and records the outcome. The body's exceptions fail the job with their message.
"""

import logging
import socket
import threading
import traceback
from pathlib import Path

from celery import current_task
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from .models import JobStatus

logger = logging.getLogger(__name__)


def hide_server_paths(text):
    """`text` with the data folder's path written as "[data]": libraries log the paths they load
    from and save to, and people reading a job's log learn nothing from where this machine keeps it."""
    data = Path(settings.DATA_DIR)
    for path in sorted({str(data.resolve()), str(data)}, key=len, reverse=True):
        text = text.replace(path, "[data]")
    return text


class JobCancelled(Exception):
    pass


class JobHandle:
    """What a job body uses to report: progress, log lines, cancellation."""

    def __init__(self, model, pk):
        self.model = model
        self.pk = pk

    def _rows(self):
        return self.model.objects.filter(pk=self.pk)

    def log(self, line):
        stamp = timezone.now().strftime("%H:%M:%S")
        text = hide_server_paths(f"[{stamp}] {line}\n")
        self._rows().update(log=Concat(F("log"), Value(text)), heartbeat_at=timezone.now())

    def progress(self, fraction):
        fraction = max(0.0, min(1.0, float(fraction)))
        self._rows().update(progress=fraction, heartbeat_at=timezone.now())

    def is_cancel_requested(self):
        return self._rows().filter(cancel_requested=True).exists()

    def raise_if_cancelled(self):
        if self.is_cancel_requested():
            raise JobCancelled("cancelled by request")

    def beat(self):
        self._rows().filter(status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())


class _Heartbeat(threading.Thread):
    def __init__(self, handle, interval):
        super().__init__(daemon=True, name=f"heartbeat-{handle.model.__name__}-{handle.pk}")
        self.handle = handle
        self.interval = interval
        self.stopped = threading.Event()

    def run(self):
        try:
            while not self.stopped.wait(self.interval):
                try:
                    self.handle.beat()
                except Exception:  # a missed beat is retried on the next tick
                    logger.exception("heartbeat failed for %s %s", self.handle.model.__name__, self.handle.pk)
        finally:
            connection.close()


def worker_name():
    """The node name of the Celery worker running this task (`celery@host`, or the `-n` name),
    the name its heartbeat row and /healthz use; `celery@<host>` outside a worker."""
    request = getattr(current_task, "request", None)
    return getattr(request, "hostname", None) or f"celery@{socket.gethostname()}"


def claim(model, pk):
    """Move a queued job to running; False if it is not queued (done, cancelled, or taken)."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        worker=worker_name(),
        attempts=F("attempts") + 1,
    )
    return claimed == 1


def finish(model, pk, status, error=""):
    values = {"status": status, "finished_at": timezone.now(), "error": hide_server_paths(error)[:10000]}
    if status == JobStatus.SUCCEEDED:
        values["progress"] = 1.0
    model.objects.filter(pk=pk, status=JobStatus.RUNNING).update(**values)


def run_job(model, pk, body):
    close_old_connections()
    if not claim(model, pk):
        logger.info("%s %s is not queued; skipping this delivery", model.__name__, pk)
        return None
    handle = JobHandle(model, pk)
    heartbeat = _Heartbeat(handle, settings.JOB_HEARTBEAT_SECONDS)
    heartbeat.start()
    try:
        job = model.objects.get(pk=pk)
        if job.cancel_requested:
            raise JobCancelled("cancelled before start")
        result = body(job, handle)
    except JobCancelled as exc:
        handle.log(f"cancelled: {exc}")
        finish(model, pk, JobStatus.CANCELLED, str(exc))
        return None
    except Exception as exc:
        handle.log("failed:\n" + traceback.format_exc()[-4000:])
        finish(model, pk, JobStatus.FAILED, f"{type(exc).__name__}: {exc}")
        logger.exception("%s %s failed", model.__name__, pk)
        return None
    finally:
        heartbeat.stopped.set()
        heartbeat.join(timeout=5)
    finish(model, pk, JobStatus.SUCCEEDED)
    return result
