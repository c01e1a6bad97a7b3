"""Running a job's work in a child process: started, followed, logged and stopped the same way everywhere.

`run_child` starts the command inside the job's sandbox (`core.sandbox`: bubblewrap namespaces,
limits, only the job's own folders), in a session of its own that dies with the worker process
that started it (a SIGKILLed worker leaves no process behind: the box's PID namespace takes
`setsid` and double-forked children with it). Its output is read line by line from a thread,
appended to the job's log file and (without the event lines) to the job log; event lines
(`event_marker` + JSON) go to the `on_event` callback. Every second it checks whether the job
was cancelled or ran past its wall time, and every few seconds whether its folders outgrew what
is left of the owner's storage quota: then the box gets SIGTERM and, after GRACE_SECONDS, SIGKILL.
"""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from . import sandbox
from .jobs import hide_server_paths
from .errors import InvalidInput

GRACE_SECONDS = 5
DISK_CHECK_SECONDS = 5
POLL_SECONDS = 1.0
DB_LOG_LIMIT = 200_000  # characters of the job log kept in the database; the file keeps all
TAIL_LINES = 40
MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory", "OutOfMemory")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
RESERVED_ENV = {"PATH", "HOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME"}


@dataclass
class ChildResult:
    returncode: int
    cancelled: bool = False
    timed_out: bool = False
    disk_exceeded: bool = False
    tail: list = field(default_factory=list)  # the last output lines, event lines left out

    @property
    def last_line(self):
        """The last non-blank output line (usually the error), at most 500 characters."""
        return next((line for line in reversed(self.tail) if line.strip()), "")[:500]

    @property
    def ran_out_of_memory(self):
        return self.returncode != 0 and any(sign in line for line in self.tail for sign in MEMORY_SIGNS)


def append_job_log(model, pk, lines):
    stamp = timezone.now().strftime("%H:%M:%S")
    text = hide_server_paths("".join(f"[{stamp}] {line}\n" for line in lines))
    model.objects.filter(pk=pk).update(log=Concat(F("log"), Value(text)), heartbeat_at=timezone.now())


def stop_process_group(process):
    """SIGTERM to the child's group, SIGKILL after the grace period."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
    # Anything left in the group (grandchildren) goes too.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_child(cmd, *, job, handle, log_file, box, on_event=None, event_marker=None, wall_time=None,
              disk_limit_bytes=None):
    """Run `cmd` for the Job record `job` in the sandbox `box` (a core.sandbox.Spec) until it exits,
    is cancelled, passes `wall_time` seconds or writes more than `disk_limit_bytes` into its folders."""
    model, pk = type(job), job.pk
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    launch = sandbox.prepare(cmd, box)
    try:
        process = subprocess.Popen(
            launch.argv, cwd=launch.cwd, env=launch.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=launch.preexec, pass_fds=launch.pass_fds,
        )
    finally:
        launch.close()
    lines = queue.Queue()

    def read():
        for raw in iter(process.stdout.readline, b""):
            lines.put(raw.decode("utf-8", errors="replace").rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True, name=f"child-output-{model.__name__}-{pk}")
    reader.start()
    started = time.monotonic()
    next_disk_check = started + DISK_CHECK_SECONDS
    result = ChildResult(returncode=0)
    db_chars = len(job.log)
    ended = False
    with log_file.open("a", encoding="utf-8") as out:
        out.write(f"=== attempt {job.attempts} started {timezone.now():%Y-%m-%d %H:%M:%S} ===\n")
        while not ended:
            batch = []
            deadline = time.monotonic() + POLL_SECONDS
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if line is None:
                    ended = True
                    break
                out.write(line + "\n")
                if on_event and event_marker and line.startswith(event_marker):
                    try:
                        on_event(json.loads(line[len(event_marker):]))
                        continue
                    except (ValueError, TypeError):  # not an event after all: an ordinary line
                        pass
                batch.append(line)
                result.tail = (result.tail + [line])[-TAIL_LINES:]
            out.flush()
            if batch and db_chars < DB_LOG_LIMIT:
                append_job_log(model, pk, batch)
                db_chars += sum(len(line) + 12 for line in batch)
                if db_chars >= DB_LOG_LIMIT:
                    append_job_log(model, pk, [f"(job log truncated; the full log is {log_file.name})"])
            if ended:
                break
            if handle.is_cancel_requested():
                append_job_log(model, pk, ["cancel requested: stopping the child process"])
                stop_process_group(process)
                result.cancelled = True
                break
            if wall_time and time.monotonic() - started > wall_time:
                append_job_log(model, pk, [f"wall time of {wall_time} s reached: stopping the child process"])
                stop_process_group(process)
                result.timed_out = True
                break
            if disk_limit_bytes is not None and time.monotonic() >= next_disk_check:
                next_disk_check = time.monotonic() + DISK_CHECK_SECONDS
                used = sandbox.folder_bytes(box.writable)
                if used > disk_limit_bytes:
                    append_job_log(model, pk, [f"the job's folders hold {used} bytes, over the {disk_limit_bytes} "
                                               "bytes left of the storage quota: stopping the child process"])
                    stop_process_group(process)
                    result.disk_exceeded = True
                    break
        result.returncode = process.wait()
        out.write(f"=== exit code {result.returncode} ===\n")
    for folder in box.writable:
        removed = sandbox.scrub(folder)
        if removed:
            append_job_log(model, pk, [f"removed {removed} link(s) or special file(s) the job left in its folder"])
    # Whatever the box left (nothing, once its bubblewrap is gone; belt and braces for CODE_SANDBOX=none).
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    reader.join(timeout=5)
    return result


def run_quiet(cmd, *, box, timeout):
    """Run a short platform step (a merge) in the sandbox; returns (returncode, output)."""
    launch = sandbox.prepare(cmd, box)
    try:
        done = subprocess.run(launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                              preexec_fn=launch.preexec, pass_fds=launch.pass_fds, timeout=timeout)
    finally:
        launch.close()
    return done.returncode, done.stdout.decode("utf-8", errors="replace")


def child_env(extra=None):
    """A small, offline environment for a child: nothing of the worker's leaks in but thread settings."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONWARNINGS": "ignore",
    }
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


# The prefix of the machine-readable event lines that the runners print (training.runner and
# evaluation.runner define the same string: they run in the sandbox without this module).
EVENT_MARKER = "@@crucible "


def is_event_line(line, marker=EVENT_MARKER):
    if not line.startswith(marker):
        return False
    try:
        return isinstance(json.loads(line[len(marker):]), dict)
    except ValueError:
        return False


def read_log_tail(path, job_log, chars, *, hide_events=True):
    """The end of the log to show people: the full log file (every line of the child) or, when
    there is no file, the job log; without the event lines (kept as data elsewhere) unless
    `hide_events` is False, and without the data folder's path (hide_server_paths)."""
    path = Path(path)
    if path.exists():
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(max(0, size - chars))
            text = handle.read().decode("utf-8", errors="replace")
    else:
        text = job_log[-chars:]
    if hide_events and EVENT_MARKER in text:
        text = "".join(line for line in text.splitlines(keepends=True) if not is_event_line(line.rstrip("\n")))
    return hide_server_paths(text)


def parse_env_variables(value, field, *, reserved=RESERVED_ENV, limit=100):
    """Variables a user sets for a command: [{"KEY": "value"}, ...] or [{"name": "KEY", "value": "..."}]."""
    items = value if isinstance(value, list) else [value]
    variables = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"{field}[{index}]: must be an object")
        if "name" in item or "key" in item:
            pairs = [(item.get("name") or item.get("key"), item.get("value", ""))]
        else:
            pairs = list(item.items())
        for key, raw in pairs:
            key = str(key or "")
            if not ENV_NAME.match(key):
                raise InvalidInput(f"{field}[{index}]: {key[:40]!r} is not an environment variable name")
            if key.upper() in reserved:
                raise InvalidInput(f"{field}[{index}]: {key} may not be set")
            if isinstance(raw, (dict, list)) or len(str(raw)) > 4096:
                raise InvalidInput(f"{field}[{index}]: the value of {key} must be a string of at most 4096 characters")
            variables[key] = "" if raw is None else str(raw)
    if len(variables) > limit:
        raise InvalidInput(f"{field}: at most {limit} variables")
    return variables
