"""What the worker does for a task: prepare a folder, run a child process, record the outcome.

`run_child` starts the child in a session of its own, reads its output line by line from a
thread, appends it to the task's log file and (without the metric lines) to the job log,
hands metric lines to a callback, and checks every second whether the task was cancelled
or ran past its wall time: then the child's process group gets SIGTERM and, after
GRACE_SECONDS, SIGKILL. The child is started with PR_SET_PDEATHSIG, so it dies with the
worker process that started it (a SIGKILLed worker leaves no orphan training on).
"""

import ctypes
import json
import os
import queue
import resource
import shutil
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

from core.jobs import JobCancelled

from . import selectors
from .models import CodeTask, LlmTask, MetricRow
from .runner import METRIC_MARKER

GRACE_SECONDS = 5
POLL_SECONDS = 1.0
DB_LOG_LIMIT = 200_000  # characters of the job log kept in the database; the file keeps all
MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory", "OutOfMemory")
ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1


class TaskFailed(Exception):
    pass


@dataclass
class ChildResult:
    returncode: int
    cancelled: bool = False
    timed_out: bool = False
    tail: list = field(default_factory=list)


def _die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the runner's own parent check still applies
        pass


def _append_log(model, pk, lines):
    stamp = timezone.now().strftime("%H:%M:%S")
    text = "".join(f"[{stamp}] {line}\n" for line in lines)
    model.objects.filter(pk=pk).update(log=Concat(F("log"), Value(text)), heartbeat_at=timezone.now())


def _stop(process):
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


def run_child(cmd, *, task, handle, cwd, env, on_event=None, preexec=None, wall_time=None):
    model, pk = type(task), task.pk
    log_file = selectors.log_path(task)
    log_file.parent.mkdir(parents=True, exist_ok=True)

    def setup():
        _die_with_parent()
        if preexec:
            preexec()

    process = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=setup,
    )
    lines = queue.Queue()

    def read():
        for raw in iter(process.stdout.readline, b""):
            lines.put(raw.decode("utf-8", errors="replace").rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True, name=f"child-output-{pk}")
    reader.start()
    started = time.monotonic()
    result = ChildResult(returncode=0)
    db_chars = len(task.log)
    ended = False
    with log_file.open("a", encoding="utf-8") as out:
        out.write(f"=== attempt {task.attempts} started {timezone.now():%Y-%m-%d %H:%M:%S} ===\n")
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
                if line.startswith(METRIC_MARKER):
                    if on_event:
                        try:
                            on_event(json.loads(line[len(METRIC_MARKER):]))
                        except (ValueError, TypeError):
                            batch.append(line)
                    continue
                batch.append(line)
                result.tail = (result.tail + [line])[-40:]
            out.flush()
            if batch and db_chars < DB_LOG_LIMIT:
                _append_log(model, pk, batch)
                db_chars += sum(len(line) + 12 for line in batch)
                if db_chars >= DB_LOG_LIMIT:
                    _append_log(model, pk, [f"(job log truncated; the full log is {log_file.name})"])
            if ended:
                break
            if handle.is_cancel_requested():
                _append_log(model, pk, ["cancel requested: stopping the child process"])
                _stop(process)
                result.cancelled = True
                break
            if wall_time and time.monotonic() - started > wall_time:
                _append_log(model, pk, [f"wall time of {wall_time} s reached: stopping the child process"])
                _stop(process)
                result.timed_out = True
                break
        result.returncode = process.wait()
        out.write(f"=== exit code {result.returncode} ===\n")
    reader.join(timeout=5)
    return result


def child_env(extra=None):
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONWARNINGS": "ignore",
    }
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


# --- materializing inputs -----------------------------------------------------------------------


def materialize_hub_repo(repo_full_name, type, dest, owner):
    from hub import selectors as hub
    from hub.storage import open_blob

    repo = hub.find_repository(owner, repo_full_name, type=type)
    if repo.head is None:
        raise TaskFailed(f"{repo_full_name} has no commits")
    dest = Path(dest)
    for entry in repo.head.entries.select_related("blob"):
        target = (dest / entry.path).resolve()
        if dest.resolve() not in target.parents:
            raise TaskFailed(f"refusing to write outside {dest}: {entry.path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_blob(entry.blob) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
    return dest


def materialize_model(task, dest):
    from files import selectors as files

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if task.model_source == "registry":
        from registry.selectors import get_version_for_user, materialize_version

        materialize_version(get_version_for_user(task.owner, int(task.model_ref)), dest)
    elif task.model_source == "files":
        files.materialize(task.owner, "private", task.model_ref, dest)
    else:
        materialize_hub_repo(task.model_ref, "model", dest, task.owner)
    if not (dest / "config.json").exists():
        raise TaskFailed("the base model has no config.json")


def materialize_data(task, dest):
    from files import selectors as files

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if task.data_source == "hub":
        materialize_hub_repo(task.data_ref, "dataset", dest, task.owner)
    else:
        files.materialize(task.owner, "private", task.data_ref, dest)


# --- LLM runs ----------------------------------------------------------------------------------


def checkpoint_steps(folder):
    steps = []
    for path in Path(folder).glob("checkpoint-*"):
        suffix = path.name.split("-", 1)[1]
        if suffix.isdigit() and path.is_dir():
            steps.append(int(suffix))
    return sorted(steps)


class MetricSink:
    """Turns the runner's event lines into MetricRow records, progress and the checkpoint list."""

    def __init__(self, task, handle):
        self.task = task
        self.handle = handle
        self.done = {}

    def __call__(self, event):
        kind = event.get("event")
        if kind == "metric":
            MetricRow.objects.create(
                task_id=self.task.pk,
                step=int(event.get("step") or 0),
                epoch=event.get("epoch"),
                loss=event.get("loss"),
                eval_loss=event.get("eval_loss"),
                learning_rate=event.get("learning_rate"),
                tokens_per_second=event.get("tokens_per_second"),
                time=event.get("time"),
            )
        elif kind == "progress":
            step, total = int(event.get("step") or 0), int(event.get("max_steps") or 0)
            LlmTask.objects.filter(pk=self.task.pk).update(current_step=step, total_steps=total)
            if total:
                # Training is 95 % of the work; saving and registering the rest.
                self.handle.progress(0.95 * step / total)
        elif kind == "checkpoint":
            task = LlmTask.objects.get(pk=self.task.pk)
            if event.get("path") not in task.checkpoints:
                LlmTask.objects.filter(pk=task.pk).update(checkpoints=task.checkpoints + [event.get("path")])
        elif kind == "done":
            self.done = event


def prepare_llm_run(task, handle):
    """The work folder: base_model/, data/, checkpoints/ (kept across attempts), config.json."""
    root = selectors.task_dir(task)
    checkpoints = root / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    handle.log(f"preparing {root}: base model from {task.model_source} {task.model_ref}")
    materialize_model(task, root / "base_model")
    handle.log(f"data from {task.data_source} {task.data_ref}")
    materialize_data(task, root / "data")
    steps = checkpoint_steps(checkpoints)
    if steps:
        last = steps[-1]
        handle.log(f"attempt {task.attempts}: resuming from checkpoint-{last}")
        # Rows logged after the checkpoint are trained again: drop them.
        MetricRow.objects.filter(task_id=task.pk, step__gt=last).delete()
        LlmTask.objects.filter(pk=task.pk).update(checkpoints=[f"checkpoint-{s}" for s in steps])
    for stale in ("final", "merged"):
        shutil.rmtree(root / stale, ignore_errors=True)
    config = {
        "model_dir": str(root / "base_model"),
        "data_dir": str(root / "data"),
        "output_dir": str(checkpoints),
        "final_dir": str(root / "final"),
        "merged_dir": str(root / "merged"),
        "is_pretrain": task.is_pretrain,
        "strategy": task.strategy,
        "merge": task.merge,
        "hyper": task.hyper_parameters,
    }
    (root / "config.json").write_text(json.dumps(config, indent=2))
    return root


def register(task, folder, note):
    from registry.services import register_training_result

    kind = "pretraining" if task.is_pretrain else f"{task.strategy} fine-tune"
    version = register_training_result(
        owner=task.owner,
        application_name=task.name,
        folder=folder,
        description=f"{kind} by training task {task.pk}{note}",
        hyper_parameters={k: ",".join(v) if isinstance(v, list) else v for k, v in task.hyper_parameters.items()},
        training_task_id=task.pk,
    )
    return version.pk


def copy_to_output_dir(task, folder, handle, subfolder=""):
    """The result into the owner's private space at outputDir (quota enforced)."""
    from django.core.files import File

    from files import services as files

    if not task.output_dir:
        return
    base = f"{task.output_dir}/{subfolder}".rstrip("/")
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        with path.open("rb") as handle_:
            files.save_file(task.owner, "private", f"{base}/{path.relative_to(folder).as_posix()}", File(handle_, name=path.name))
    handle.log(f"copied the result to /{base} in your private space")


def execute_llm_task(task, handle):
    root = prepare_llm_run(task, handle)
    sink = MetricSink(task, handle)
    cmd = [sys.executable, "-m", "training.runner", str(root / "config.json")]
    handle.log("starting the training process: " + " ".join(cmd[1:]))
    result = run_child(cmd, task=task, handle=handle, cwd=str(root), env=child_env(), on_event=sink)
    if result.cancelled:
        raise JobCancelled("cancelled by request; the training process was stopped")
    if result.returncode != 0:
        reason = next((line for line in reversed(result.tail) if line.strip()), "")
        raise TaskFailed(f"the training process exited with code {result.returncode}: {reason[:500]}")
    if not sink.done:
        raise TaskFailed("the training process ended without saving a model")
    task.refresh_from_db()
    final = Path(sink.done["final_dir"])
    version_id = register(task, final, " (LoRA adapter)" if (final / "adapter_config.json").exists() else "")
    LlmTask.objects.filter(pk=task.pk).update(produced_version_id=version_id)
    handle.log(f"registered the result as registry version {version_id}")
    if sink.done.get("merged_dir"):
        merged_id = register(task, Path(sink.done["merged_dir"]), " (adapter merged into the base model)")
        LlmTask.objects.filter(pk=task.pk).update(merged_version_id=merged_id, merge_status="done")
        handle.log(f"registered the merged model as registry version {merged_id}")
    copy_to_output_dir(task, final, handle)
    return version_id


def merge_adapter(task_id):
    """Merge a finished LoRA run's adapter into its base model and register the full model."""
    task = LlmTask.objects.select_related("owner").get(pk=task_id)
    root = selectors.task_dir(task)
    try:
        base, adapter, out = root / "base_model", root / "final", root / "merged"
        if not (adapter / "adapter_config.json").exists():
            raise TaskFailed("the run's adapter is gone")
        if not base.exists():
            materialize_model(task, base)
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "training.runner", "--merge", str(base), str(adapter), str(out)]
        done = subprocess.run(cmd, cwd=root, env=child_env(), capture_output=True, text=True, timeout=3600)
        with selectors.log_path(task).open("a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise TaskFailed(f"merge exited with code {done.returncode}: {(done.stderr or done.stdout)[-500:]}")
        merged_id = register(task, out, " (adapter merged into the base model)")
        LlmTask.objects.filter(pk=task.pk).update(merged_version_id=merged_id, merge_status="done")
        _append_log(LlmTask, task.pk, [f"merged the adapter: registry version {merged_id}"])
        return merged_id
    except Exception as exc:
        LlmTask.objects.filter(pk=task.pk).update(merge_status="failed", merge_error=str(exc)[:2000])
        raise


# --- task-based modeling -------------------------------------------------------------------------


def limits_preexec(task):
    """Memory (address space), CPU time and CPU affinity limits for the user's command."""
    memory_bytes = int(task.memory_gb * 1024**3)
    cpu_seconds = max(1, task.cpu) * task.wall_time_seconds + 5
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:
        available = []
    cores = set(available[: max(1, task.cpu)]) if available else None

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        if cores:
            os.sched_setaffinity(0, cores)

    return apply


def snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in Path(folder).rglob("*") if p.is_file()}


def execute_code_task(task, handle):
    from files import selectors as files

    if task.backend == "kubeflow":
        return follow_kubeflow(task, handle)
    root = selectors.task_dir(task)
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if task.working_dir:
        files.materialize(task.owner, "private", task.working_dir, work)
        handle.log(f"working folder /{task.working_dir} copied to the scratch folder")
    before = snapshot(work)
    command = task.command
    if task.type == "MPI":
        from .backends import mpirun_path

        mpirun = mpirun_path()
        if not mpirun:
            raise TaskFailed("mpirun is not installed on this worker")
        command = f"{mpirun} -n {max(task.nodes, 1)} {command}"
    env = child_env({**task.variables, "HOME": str(work), "CRUCIBLE_TASK_ID": str(task.pk), "TMPDIR": str(work)})
    env["PYTHONPATH"] = str(work)
    handle.log(f"running ({task.type}, {task.cpu} CPU, {task.memory_gb:g} GB, {task.wall_time_seconds} s): {command}")
    result = run_child(
        ["/bin/bash", "-c", command], task=task, handle=handle, cwd=str(work), env=env,
        preexec=limits_preexec(task), wall_time=task.wall_time_seconds,
    )
    memory = result.returncode != 0 and any(sign in line for line in result.tail for sign in MEMORY_SIGNS)
    CodeTask.objects.filter(pk=task.pk).update(exit_code=result.returncode, memory_exceeded=memory)
    if result.cancelled:
        raise JobCancelled("cancelled by request; the command was stopped")
    copied = copy_back(task, work, before, handle)
    CodeTask.objects.filter(pk=task.pk).update(outputs=copied)
    if memory:
        raise TaskFailed(f"exceeded memory limit of {task.memory_gb:g} GB (exit code {result.returncode})")
    if result.timed_out:
        raise TaskFailed(f"stopped: wall time of {task.wall_time_seconds} s exceeded")
    if result.returncode != 0:
        if result.returncode < 0:
            raise TaskFailed(f"the command was killed by signal {-result.returncode}")
        raise TaskFailed(f"the command exited with code {result.returncode}")
    handle.log("the command exited with code 0")
    return result.returncode


MAX_COPY_BACK_FILES = 1000


def copy_back(task, work, before, handle):
    """New or changed files of the scratch folder -> outputDir (default workingDir) of the private space."""
    from django.core.files import File

    from core.errors import DomainError
    from files import services as files

    changed = [p for p, stamp in snapshot(work).items() if before.get(p) != stamp]
    if not changed:
        return []
    if len(changed) > MAX_COPY_BACK_FILES:
        handle.log(f"{len(changed)} new or changed files; only the first {MAX_COPY_BACK_FILES} are copied back")
    copied = []
    for path in sorted(changed)[:MAX_COPY_BACK_FILES]:
        relative = path.relative_to(work).as_posix()
        target = f"{task.output_dir}/{relative}" if task.output_dir else relative
        try:
            with path.open("rb") as content:
                files.save_file(task.owner, "private", target, File(content, name=path.name))
        except DomainError as exc:
            handle.log(f"could not copy {relative} back: {exc.message}")
            continue
        copied.append("/" + target)
    handle.log(f"copied {len(copied)} output file(s) to your private space: {', '.join(copied[:10])}")
    return copied


def follow_kubeflow(task, handle):
    from . import backends

    backends.submit(task.manifest)
    handle.log(f"submitted {task.manifest['kind']} {task.manifest['metadata']['name']} to the cluster")
    started = time.monotonic()
    while True:
        if handle.is_cancel_requested():
            backends.delete(task.manifest)
            raise JobCancelled("cancelled by request; the cluster resource was deleted")
        state = backends.remote_state(task.manifest)
        if state == "succeeded":
            CodeTask.objects.filter(pk=task.pk).update(exit_code=0)
            return 0
        if state == "failed":
            raise TaskFailed(f"the {task.manifest['kind']} failed on the cluster")
        if time.monotonic() - started > task.wall_time_seconds + 300:
            backends.delete(task.manifest)
            raise TaskFailed("wall time exceeded on the cluster")
        time.sleep(5)
