"""Recovery sweep in every worker: after core's reaper fails a run whose worker died,
this puts that run's furnace in the safe state (see services.recover_lost_runs)."""

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from .services import recover_lost_runs

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _sweep_forever():

    try:
        while True:
            try:
                recover_lost_runs()
            except Exception:
                logger.exception("furnace recovery sweep failed")
            if _stop.wait(settings.WORKER_HEARTBEAT_SECONDS):
                break
    finally:
        connection.close()


@worker_ready.connect
def start_recovery_sweep(sender=None, **kwargs):
    threading.Thread(target=_sweep_forever, daemon=True, name="furnace-recovery").start()


@worker_shutdown.connect
def stop_recovery_sweep(**kwargs):
    _stop.set()
