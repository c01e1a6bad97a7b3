"""Replica processes on this host: start (detached), health-check, stop.

A replica is started with start_new_session, so it outlives the Celery task that started
it and is not signalled with the worker's process group. Its pid and port live in the
Replica row; before a pid is signalled, /proc confirms it is still a replica of that row
(its command line names serving.replica and its port file), never some reused pid.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

from . import conf

ROOT = Path(__file__).resolve().parent.parent


def host_name():
    return socket.gethostname()


def serving_dir():
    path = Path(settings.DATA_DIR) / "serving"
    path.mkdir(parents=True, exist_ok=True)
    return path


def replica_dir(replica):
    path = serving_dir() / "replicas" / str(replica.pk)
    path.mkdir(parents=True, exist_ok=True)
    return path


def port_file(replica):
    return replica_dir(replica) / "port.json"


def log_path(replica):
    return replica_dir(replica) / "replica.log"


def replica_command(version, replica):
    cmd = [
        sys.executable, "-m", "serving.replica",
        "--model-dir", version.model_dir,
        "--kind", version.service.kind,
        "--port", "0",
        "--port-file", str(port_file(replica)),
        "--threads", str(conf.REPLICA_THREADS),
        "--batch-window-ms", str(conf.BATCH_WINDOW_MS),
        "--max-batch", str(conf.MAX_BATCH),
    ]
    if version.base_dir:
        cmd += ["--base-dir", version.base_dir]
    return cmd


def replica_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_"))}
    env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS=str(conf.REPLICA_THREADS))
    return env


def spawn(version, replica):
    """Start the process; returns (pid, port) once it has bound its port. Raises RuntimeError."""
    ports = port_file(replica)
    ports.unlink(missing_ok=True)
    with open(log_path(replica), "ab") as log:
        log.write(f"--- starting at {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log.flush()
        process = subprocess.Popen(
            replica_command(version, replica), cwd=ROOT, env=replica_env(), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ports.exists():
            return process.pid, json.loads(ports.read_text())["port"]
        if process.poll() is not None:
            raise RuntimeError(f"the replica exited with code {process.returncode}: {tail(replica)}")
        time.sleep(0.05)
    stop_pid(process.pid, replica)
    raise RuntimeError("the replica did not bind a port within 60 seconds")


def tail(replica, chars=600):
    try:
        return log_path(replica).read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""


def health(address, port, timeout=2.0):
    """The replica's /health JSON, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/health", timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def wait_healthy(pid, address, port, timeout):
    """True once /health says ok; False if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return False
        report = health(address, port)
        if report and report.get("status") == "ok":
            return True
        if report and report.get("status") == "failed":
            return False
        time.sleep(0.2)
    return False


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)  # only succeeds if this process started it
    except (ChildProcessError, OSError):
        pass


def is_alive(pid):
    if not pid:
        return False
    _reap(pid)
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def is_replica_process(pid, replica):
    """Whether pid is the replica process of this row (guards against reused pids)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return is_alive(pid)  # no /proc: trust the recorded pid
    return b"serving.replica" in cmdline and str(port_file(replica)).encode() in cmdline


def stop_pid(pid, replica, timeout=10):
    """SIGTERM, then SIGKILL; True once the process is gone."""
    if not pid or not is_alive(pid) or not is_replica_process(pid, replica):
        return True
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout / 2
        while time.monotonic() < deadline:
            if not is_alive(pid):
                return True
            time.sleep(0.05)
    return not is_alive(pid)


def port_in_use(port, address="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0
