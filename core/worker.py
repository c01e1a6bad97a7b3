"""Worker-process hooks: a heartbeat row for /healthz and a sweep for jobs lost by dead workers."""

import logging
import sys
import threading

from celery.signals import worker_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from . import sandbox
from .services import reap_stale_jobs, record_worker_heartbeat

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _beat_forever(hostname, queues):

    try:
        while True:
            try:
                record_worker_heartbeat(hostname, queues)
                # Every worker sweeps: the sweep is idempotent, so no beat process is needed.
                reap_stale_jobs()
            except Exception:
                logger.exception("worker heartbeat or sweep failed")
            if _stop.wait(settings.WORKER_HEARTBEAT_SECONDS):
                break
    finally:
        connection.close()


@worker_init.connect
def refuse_unboxed_production_worker(**kwargs):
    """A production worker never runs users' code outside the sandbox."""
    if settings.PRODUCTION and settings.CODE_SANDBOX == "none":
        # Celery logs and swallows a receiver's exceptions: only leaving the process stops the worker.
        message = ("CODE_SANDBOX=none is for development only: a production worker refuses to start. "
                   "Install Debian's bubblewrap package and leave CODE_SANDBOX unset.")
        logger.critical(message)
        print(message, file=sys.stderr, flush=True)
        raise SystemExit(78)  # EX_CONFIG
    box = sandbox.status()
    if not box["available"]:
        logger.error("jobs on this worker will fail: %s; %s", box["detail"], sandbox.INSTALL_HINT)


@worker_ready.connect
def start_worker_heartbeat(sender=None, **kwargs):
    hostname = getattr(sender, "hostname", "celery")
    queues = ",".join(sorted(q.name for q in sender.app.amqp.queues.consume_from.values())) if sender else ""
    threading.Thread(target=_beat_forever, args=(hostname, queues), daemon=True, name="worker-heartbeat").start()


@worker_shutdown.connect
def stop_worker_heartbeat(**kwargs):
    _stop.set()
