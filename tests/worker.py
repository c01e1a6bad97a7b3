"""Starting a real Celery worker process against the test database and broker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url():
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def worker_env(**extra):
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        CRUCIBLE_DATA_DIR=str(settings.DATA_DIR),
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_worker(name="test", queues=None, concurrency=2, log_path=None, **env):
    queues = queues or settings.JOB_QUEUES
    log_path = log_path or Path(settings.DATA_DIR) / f"worker-{name}.log"
    log = open(log_path, "ab")
    cmd = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "-Q", ",".join(queues), "-c", str(concurrency), "-n", f"{name}@%h", "--loglevel", "INFO",
    ]
    process = subprocess.Popen(
        cmd, cwd=ROOT, env=worker_env(**env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    process.log_path = log_path
    return process


def wait_until(predicate, timeout=60, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_for_worker(process, hostname_prefix, timeout=90):
    from core.models import WorkerHeartbeat

    def ready():
        if process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{Path(process.log_path).read_text()[-3000:]}")
        return WorkerHeartbeat.objects.filter(hostname__startswith=hostname_prefix).exists()

    wait_until(ready, timeout=timeout, message=f"worker {hostname_prefix}")


def stop_worker(process, sig=signal.SIGTERM, timeout=20):
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


def processes_running(marker):
    """Pids of this machine's processes whose command line contains `marker` (arguments are
    NUL-separated: "sleep\x00600")."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found
