"""Replica processes on this host: start (detached), health-check, stop.

A replica runs in the sandbox of core.sandbox (its model read-only, no network but the
listening socket this host binds for it, a bearer token only the gateway can derive), in a
session of its own so it is not signalled with the worker's process group, and it dies with
the worker process that started it (the supervisor starts it again). Its pid (bubblewrap's)
and port live in the Replica row; before a pid is signalled, /proc confirms it is still a
replica of that row (its command line names serving.replica and its port file), never some
reused pid.
"""

import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

from core import sandbox
from core.child_process import child_env

from . import conf

ROOT = Path(__file__).resolve().parent.parent
# The platform's files a replica imports (bound read-only into its sandbox).
REPLICA_MODULES = ["serving/replica.py", "serving/engine.py"]


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


def replica_command(version, replica, listen_fd, token_fd):
    cmd = [
        sys.executable, "-m", "serving.replica",
        "--model-dir", version.model_dir,
        "--kind", version.service.kind,
        "--listen-fd", str(listen_fd),
        "--token-fd", str(token_fd),
        "--port-file", str(port_file(replica)),
        "--threads", str(conf.REPLICA_THREADS),
        "--batch-window-ms", str(conf.BATCH_WINDOW_MS),
        "--max-batch", str(conf.MAX_BATCH),
        "--stream-interval-ms", str(conf.STREAM_INTERVAL_MS),
    ]
    if version.base_dir:
        cmd += ["--base-dir", version.base_dir]
    return cmd


def replica_env():
    return child_env({"OMP_NUM_THREADS": str(conf.REPLICA_THREADS), "HOME": "/tmp"})


def replica_token(replica):
    """The bearer token of one replica process: derived from SECRET_KEY and the salt of its
    start, so the database alone does not reveal it and a restarted replica gets a new one."""
    message = f"crucible-replica:{replica.pk}:{replica.token_salt}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def auth_headers(replica):
    return {"Authorization": f"Bearer {replica_token(replica)}"}


def advertised_address():
    if settings.SERVING_ADVERTISE_ADDRESS:
        return settings.SERVING_ADVERTISE_ADDRESS
    if settings.SERVING_BIND_ADDRESS in ("0.0.0.0", "::", ""):
        return socket.getfqdn()
    return settings.SERVING_BIND_ADDRESS


def port_candidates():
    """Ports to try, from SERVING_PORT_RANGE ("20000-20999"), or [0] for any free port."""
    spec = settings.SERVING_PORT_RANGE.strip()
    if not spec:
        return [0]
    low, _, high = spec.partition("-")
    low, high = int(low), int(high or low)
    ports = list(range(low, high + 1))
    random.shuffle(ports)
    return ports


def listen():
    """A listening socket on this host's serving address: created here, inherited by the replica."""
    family = socket.AF_INET6 if ":" in settings.SERVING_BIND_ADDRESS else socket.AF_INET
    for port in port_candidates():
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.SERVING_BIND_ADDRESS, port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    raise RuntimeError(f"no free port in SERVING_PORT_RANGE {settings.SERVING_PORT_RANGE}")


def spawn(version, replica):
    """Start the process in its sandbox; returns (pid, port) once it runs. Raises RuntimeError.

    The replica sees its model folders (read-only), its own folder, and one listening socket;
    it cannot open a connection to anything. It dies with the process that started it (the
    supervisor of a restarted worker starts it again)."""
    ports = port_file(replica)
    ports.unlink(missing_ok=True)
    sock = listen()
    port = sock.getsockname()[1]
    read, write = os.pipe()
    os.write(write, replica_token(replica).encode())
    os.close(write)
    box = sandbox.Spec(
        label=f"serving.replica:{replica.pk}", readable=[version.model_dir, version.base_dir],
        writable=[replica_dir(replica)], modules=REPLICA_MODULES, cwd=str(replica_dir(replica)),
        env=replica_env(), keep_fds=[sock.fileno(), read], limits=sandbox.Limits.for_job(),
    )
    try:
        launch = sandbox.prepare(replica_command(version, replica, sock.fileno(), read), box)
        with open(log_path(replica), "ab") as log:
            log.write(f"--- starting at {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(launch.argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=launch.pass_fds,
                preexec_fn=launch.preexec,
            )
        launch.close()
    except sandbox.SandboxUnavailable as exc:
        raise RuntimeError(exc.message) from None
    finally:
        sock.close()
        os.close(read)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ports.exists():
            return process.pid, port
        if process.poll() is not None:
            raise RuntimeError(f"the replica exited with code {process.returncode}: {tail(replica)}")
        time.sleep(0.05)
    stop_pid(process.pid, replica)
    raise RuntimeError("the replica did not start within 60 seconds")


def tail(replica, chars=600):
    try:
        return log_path(replica).read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""


def health(replica, timeout=2.0):
    """The replica's /health JSON, or None when it does not answer."""
    request = urllib.request.Request(f"http://{replica.address}:{replica.port}/health", headers=auth_headers(replica))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def wait_healthy(replica, timeout):
    """True once /health says ok; False if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(replica.pid):
            return False
        report = health(replica)
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
