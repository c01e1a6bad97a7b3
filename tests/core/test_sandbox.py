"""A researcher's job written to misbehave, run on a real worker: everything outside its own
work folder is refused or invisible, and nothing it starts outlives it."""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection

from core import sandbox
from core.child_process import child_env, run_child
from core.jobs import JobHandle
from core.models import DiagnosticJob, JobStatus
from core.services import reap_stale_jobs
from files.models import FileNode
from files.selectors import open_file
from tests.factories import upload_tree
from tests.worker import processes_running, start_worker, stop_worker, wait_for_worker, wait_until
from training import services as training
from training.models import CodeTask
from training.selectors import task_dir

ROOT = Path(__file__).resolve().parent.parent.parent
CREATE = "/kernel/trainOperator/createTask"

# Everything a hostile job would try, reported as JSON so that the test can say what held.
PROBE = r'''
import errno, json, os, signal, socket, sys, time

report = {"uid": os.getuid(), "env": sorted(os.environ)}

def attempt(name, action):
    try:
        result = action()
        report[name] = "ok" if result is None else result
    except Exception as exc:
        report[name] = f"refused: {type(exc).__name__}: {exc}"

attempt("worker_environ", lambda: open(f"/proc/{os.environ['WORKER_PID']}/environ", "rb").read()[:200].decode(errors="replace"))
report["visible_pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
attempt("database", lambda: open(os.environ["DATABASE_FILE"], "rb").read(16).decode(errors="replace"))
attempt("data_folder", lambda: os.listdir(os.environ["DATA_FOLDER"]))
attempt("bobs_file", lambda: open(os.environ["BOBS_FILE"], "rb").read().decode(errors="replace"))
attempt("write_source", lambda: open(os.environ["SOURCE_FILE"], "a").write("# owned\n"))
attempt("read_env_file", lambda: open(os.environ["ENV_FILE"]).read())
attempt("shadow", lambda: open("/etc/shadow").read())
for name, port in [("listener", int(os.environ["LISTENER_PORT"])), ("postgres", 5432), ("redis", 6379)]:
    attempt(f"connect_{name}", lambda port=port: socket.create_connection(("127.0.0.1", port), timeout=2).close())
attempt("interfaces", lambda: [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]])

forked = 0
try:
    for _ in range(int(os.environ["FORK_TRIES"])):
        pid = os.fork()
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        forked += 1
    report["fork"] = f"all {forked} forks succeeded"
except OSError as exc:
    report["fork"] = f"refused after {forked}: {exc.strerror}"

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
def big_file():
    chunk = b"x" * (1024 * 1024)
    with open("big.bin", "wb") as out:
        for _ in range(int(os.environ["FILE_MIB"])):
            out.write(chunk)
            out.flush()
attempt("big_file", big_file)
os.remove("big.bin") if os.path.exists("big.bin") else None

os.makedirs("outputs", exist_ok=True)
with open("outputs/report.json", "w") as out:
    json.dump(report, out)
print("probe finished")
'''


@pytest.fixture
def listener():
    """A TCP service on 127.0.0.1 that a job must not reach (as the web server, a replica or Redis)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_hostile_job_reaches_nothing_but_its_own_folder(user, other_user, auth_client, celery_worker, listener):
    alice, bob = user, other_user
    upload_tree(bob, {"secret/plan.txt": b"bob's unpublished result"})
    bobs_file = default_storage.path(FileNode.objects.get(owner=bob, path="secret/plan.txt").storage_name)
    upload_tree(alice, {"probe/probe.py": PROBE.encode()})
    port, accepted = listener
    variables = {
        "WORKER_PID": celery_worker.pid,
        "DATABASE_FILE": connection.settings_dict["NAME"],
        "DATA_FOLDER": settings.DATA_DIR,
        "BOBS_FILE": bobs_file,
        "SOURCE_FILE": ROOT / "config" / "settings.py",
        "ENV_FILE": ROOT / ".env",
        "LISTENER_PORT": port,
        "FORK_TRIES": settings.CODE_SANDBOX_MAX_PROCESSES + 50,
        "FILE_MIB": settings.CODE_SANDBOX_MAX_FILE_BYTES // 1024**2 + 8,
    }
    response = auth_client.post(CREATE, {"createTaskBO": {
        "name": "probe", "type": "PyTorch", "command": "python probe.py", "workingDir": "/probe",
        "variable": [{k: str(v)} for k, v in variables.items()], "resource": [{"cpuNumber": 1, "memory": 2}],
    }}, format="json")
    assert response.status_code == 200, response.content
    task = CodeTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_until(lambda: CodeTask.objects.get(pk=task.pk).status in ("succeeded", "failed"), timeout=180,
               message="the probe job")
    task.refresh_from_db()
    assert task.status == "succeeded", task.log + task.error

    # The job's own work still comes back: its output and its report.
    assert "probe finished" in task.log
    with open_file(alice, "private", "probe/outputs/report.json") as handle:
        report = json.load(handle)

    assert report["uid"] != 0
    assert not {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "JWT_SIGNING_KEY"} & set(report["env"])
    assert report["worker_environ"].startswith("refused")
    assert celery_worker.pid not in report["visible_pids"] and max(report["visible_pids"]) < 100
    # The data folder exists only as the path down to the job's own folder: nothing else is in it.
    assert report["data_folder"] == ["training"], report["data_folder"]
    for probe in ("database", "bobs_file", "write_source", "read_env_file", "shadow"):
        assert report[probe].startswith("refused"), (probe, report[probe])
    for probe in ("connect_listener", "connect_postgres", "connect_redis"):
        assert report[probe].startswith("refused"), (probe, report[probe])
    assert report["interfaces"] == ["lo"]
    assert accepted == []
    assert report["fork"].startswith("refused after"), report["fork"]
    assert int(report["fork"].split()[2].rstrip(":")) < settings.CODE_SANDBOX_MAX_PROCESSES
    assert "File too large" in report["big_file"], report["big_file"]
    assert (ROOT / "config" / "settings.py").read_text().count("# owned") == 0


def _box_job(tmp_path):
    job = DiagnosticJob.objects.create(status=JobStatus.RUNNING, attempts=1)
    work = tmp_path / "work"
    box = sandbox.Spec(label=sandbox.label_for(job), writable=[work], cwd=str(work), env=child_env())
    return job, box


# A child that leaves its session (setsid) and a double-forked grandchild, both meant to survive.
ESCAPE = ("setsid sleep {n}1 & (sleep {n}2 &) ; python3 -c 'import os, time; (os.fork() == 0) and (os.setsid(), "
          "os.fork() == 0 and os.execvp(\"sleep\", [\"sleep\", \"{n}3\"]), os._exit(0)); time.sleep(600)'")


def escapees(n):
    return [pid for i in (1, 2, 3) for pid in processes_running(f"sleep\x00{n}{i}")]


@pytest.mark.django_db(transaction=True)
def test_setsid_and_double_forked_children_die_on_cancel(tmp_path):
    job, box = _box_job(tmp_path)

    def cancel():
        wait_until(lambda: len(escapees(81)) == 3, timeout=30, message="the escapees")
        DiagnosticJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        connection.close()

    threading.Thread(target=cancel).start()
    result = run_child(["/bin/bash", "-c", ESCAPE.format(n=81)], job=job, handle=JobHandle(DiagnosticJob, job.pk),
                       log_file=tmp_path / "child.log", box=box)

    assert result.cancelled
    wait_until(lambda: not escapees(81), timeout=5, message="every escapee gone")


@pytest.mark.django_db
def test_setsid_and_double_forked_children_die_at_the_wall_time(tmp_path):
    job, box = _box_job(tmp_path)
    seen = []
    threading.Thread(target=lambda: seen.append(wait_until(lambda: len(escapees(82)) == 3, timeout=30)),
                     daemon=True).start()
    result = run_child(["/bin/bash", "-c", ESCAPE.format(n=82)], job=job, handle=JobHandle(DiagnosticJob, job.pk),
                       log_file=tmp_path / "child.log", box=box, wall_time=4)

    assert result.timed_out and seen == [True]
    wait_until(lambda: not escapees(82), timeout=5, message="every escapee gone")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_nothing_a_job_started_outlives_a_sigkilled_worker(user):
    victim = start_worker(name="sandbox-victim", queues=["sandbox-victim"], concurrency=1)
    try:
        wait_for_worker(victim, "sandbox-victim@")
        task = training.create_code_task(owner=user, queue="sandbox-victim", name="escape", type="PyTorch",
                                         command=ESCAPE.format(n=83))
        wait_until(lambda: len(escapees(83)) == 3, timeout=90, message="the job's escapees")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        stop_worker(victim, sig=signal.SIGKILL)
    wait_until(lambda: not escapees(83), timeout=10, message="every process of the job gone with its worker")
    assert not sandbox.processes_of(sandbox.label_for(task))


@pytest.mark.django_db
def test_the_stale_job_sweep_kills_a_box_its_lost_worker_left(tmp_path):
    """A worker that hangs (stopped, not dead) leaves its box running: the sweep that takes its
    job over kills the box by its label."""
    job, box = _box_job(tmp_path)
    DiagnosticJob.objects.filter(pk=job.pk).update(heartbeat_at="2000-01-01T00:00:00Z", max_attempts=1)
    launch = sandbox.prepare(["/bin/bash", "-c", "sleep 8401"], box)
    process = subprocess.Popen(launch.argv, env=launch.env, pass_fds=launch.pass_fds, preexec_fn=launch.preexec,
                               start_new_session=True)
    launch.close()
    wait_until(lambda: processes_running("sleep\x008401"), timeout=10, message="the box")

    failed, _ = reap_stale_jobs()

    assert failed == 1
    assert process.wait(timeout=10) == -signal.SIGKILL
    wait_until(lambda: not processes_running("sleep\x008401"), timeout=5, message="the box gone")


@pytest.mark.django_db
def test_without_bubblewrap_a_job_fails_at_once_naming_the_package_and_the_setting(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox._probe.cache_clear()
    try:
        job, box = _box_job(tmp_path)
        with pytest.raises(sandbox.SandboxUnavailable) as refused:
            run_child(["/bin/true"], job=job, handle=JobHandle(DiagnosticJob, job.pk), log_file=tmp_path / "log",
                      box=box)
        assert "apt-get install bubblewrap" in refused.value.message and "CODE_SANDBOX=none" in refused.value.message
        assert sandbox.status() == {"sandbox": "bubblewrap", "available": False,
                                    "detail": "bubblewrap (bwrap) is not installed"}
    finally:
        sandbox._probe.cache_clear()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_healthz_shows_which_sandbox_the_workers_use(api_client, celery_worker):
    wait_until(lambda: api_client.get("/healthz").json()["workers"]["alive"], timeout=30, message="a live worker")
    workers = api_client.get("/healthz").json()["workers"]["alive"]
    assert {w["sandbox"] for w in workers} == {"bubblewrap"}


def test_each_runner_box_holds_every_platform_module_its_runner_imports():
    """A runner imports only the project files bound into its box: anything else would fail in
    the sandbox with ModuleNotFoundError (and only there)."""
    import ast

    from evaluation.execution import RUNNER_MODULES as EVALUATION
    from serving.processes import REPLICA_MODULES
    from training.execution import RUNNER_MODULES as TRAINING

    project = {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()}
    for modules in (TRAINING, EVALUATION, REPLICA_MODULES):
        for module in modules:
            tree = ast.parse((ROOT / module).read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    if name.split(".")[0] in project and (ROOT / (name.replace(".", "/") + ".py")).exists():
                        assert name.replace(".", "/") + ".py" in modules, f"{module} imports {name}"
