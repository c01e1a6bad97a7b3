"""What the worker does for a task: prepare a folder, run a child process, record the outcome.

The child is run by core.child_process.run_child (own session, dies with the worker, stopped on
cancel or past its wall time); here are the folders, the runner's metric events and the results.
"""

import json
import shutil
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.files import File

from accounts.selectors import storage_left
from core import sandbox
from core.child_process import append_job_log, child_env, run_child, run_quiet
from core.errors import DomainError
from core.jobs import JobCancelled
from files import selectors as files
from hub import selectors as hub
from registry.selectors import materialize_version, resolve_version
from registry.services import register_training_result

from . import backends
from . import lineage, selectors
from .backends import mpirun_path
from .models import CodeTask, LlmTask, MetricRow
from .runner import METRIC_MARKER


# The platform's files the training child imports (bound read-only into its sandbox).
RUNNER_MODULES = ["training/runner.py", "training/schedule.py"]


class TaskFailed(Exception):
    pass


# --- materializing inputs -----------------------------------------------------------------------


def materialize_model(task, dest):
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if task.model_source == "registry":
        materialize_version(resolve_version(task.owner, task.model_ref), dest)
    elif task.model_source == "files":
        files.materialize(task.owner, "private", task.model_ref, dest)
    else:
        hub.materialize_repository(task.owner, task.model_ref, dest, type="model")
    if not (dest / "config.json").exists():
        raise TaskFailed("the base model has no config.json")


def materialize_data(task, dest):
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if task.data_source == "hub":
        hub.materialize_repository(task.owner, task.data_ref, dest, type="dataset")
    else:
        files.materialize(task.owner, "private", task.data_ref, dest)


# --- LLM runs ----------------------------------------------------------------------------------


def work_allowance(task, folder):
    """Bytes the job's folder may grow to: what it holds now plus what is left of the owner's
    storage quota (None: no quota)."""
    left = storage_left(task.owner)
    return None if left is None else sandbox.folder_bytes([folder]) + left


def checkpoint_steps(folder):
    """Steps of the complete checkpoints in `folder` (the Trainer writes trainer_state.json last)."""
    steps = []
    for path in Path(folder).glob("checkpoint-*"):
        suffix = path.name.split("-", 1)[1]
        if suffix.isdigit() and path.is_dir() and (path / "trainer_state.json").is_file():
            steps.append(int(suffix))
    return sorted(steps)


def drop_incomplete_checkpoints(folder, handle):
    """A run killed while saving leaves a checkpoint folder half written: resuming from it would
    fail, so it goes and the run resumes from the last complete one."""
    for path in Path(folder).glob("checkpoint-*"):
        if path.is_dir() and not (path / "trainer_state.json").is_file():
            shutil.rmtree(path, ignore_errors=True)
            handle.log(f"removed {path.name}: it was not completely saved")


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
                eval_blocks=event.get("eval_blocks"),
                learning_rate=event.get("learning_rate"),
                grad_norm=event.get("grad_norm"),
                tokens_per_second=event.get("tokens_per_second"),
                time=event.get("time"),
            )
        elif kind == "progress":
            step, total = int(event.get("step") or 0), int(event.get("max_steps") or 0)
            LlmTask.objects.filter(pk=self.task.pk).update(current_step=step, total_steps=total)
            if total:
                # Training is 95 % of the work; saving and registering the rest.
                self.handle.progress(0.95 * step / total)
        elif kind in ("plan", "timing"):
            # The cadences chosen (with reasons) and, at the end, the evaluation timing: the page shows them.
            task = LlmTask.objects.only("schedule").get(pk=self.task.pk)
            fields = {k: v for k, v in event.items() if k != "event"}
            LlmTask.objects.filter(pk=self.task.pk).update(
                schedule={**task.schedule, **fields} if kind == "timing" else fields
            )
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
    drop_incomplete_checkpoints(checkpoints, handle)
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
        "eval_sample_blocks": settings.TRAINING_EVAL_SAMPLE_BLOCKS,
    }
    (root / "config.json").write_text(json.dumps(config, indent=2))
    return root


def register(task, folder, note):
    # Named by where it came from, with no path of this machine in it (training.lineage).
    lineage.publish(folder, work_root=selectors.task_dir(task), base_name=lineage.base_model_name(task))
    kind = "pretraining" if task.is_pretrain else f"{task.strategy} fine-tune"
    version = register_training_result(
        owner=task.owner,
        application_name=task.name,
        folder=folder,
        description=f"{kind} by training task {task.pk}{note}",
        hyper_parameters={k: ",".join(v) if isinstance(v, list) else v for k, v in task.hyper_parameters.items()},
        training_task_id=task.pk,
        save_path=task.output_dir or "",
    )
    return version.pk


def copy_to_output_dir(task, folder, handle, subfolder=""):
    """The result into the owner's private space at outputDir (quota enforced)."""
    from files import services as files

    if not task.output_dir:
        return
    base = f"{task.output_dir}/{subfolder}".rstrip("/")
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        with path.open("rb") as handle_:
            files.save_file(owner=task.owner, space="private", path=f"{base}/{path.relative_to(folder).as_posix()}", content=File(handle_, name=path.name))
    handle.log(f"copied the result to /{base} in your private space")


def execute_llm_task(task, handle):
    root = prepare_llm_run(task, handle)
    sink = MetricSink(task, handle)
    cmd = [sys.executable, "-m", "training.runner", str(root / "config.json")]
    handle.log("starting the training process: " + " ".join(cmd[1:]))
    box = sandbox.Spec(
        label=sandbox.label_for(task), writable=[root], modules=RUNNER_MODULES, cwd=str(root),
        env=child_env({"HOME": str(root)}), limits=sandbox.Limits.for_job(), cpus=task.cpu or None,
    )
    result = run_child(
        cmd, job=task, handle=handle, log_file=selectors.log_path(task), box=box,
        on_event=sink, event_marker=METRIC_MARKER, disk_limit_bytes=work_allowance(task, root),
    )
    if result.cancelled:
        raise JobCancelled("cancelled by request; the training process was stopped")
    if result.disk_exceeded:
        raise TaskFailed("stopped: the run's files outgrew what is left of your storage quota")
    if result.returncode != 0:
        raise TaskFailed(f"the training process exited with code {result.returncode}: {result.last_line}")
    if not sink.done:
        raise TaskFailed("the training process ended without saving a model")
    task.refresh_from_db()
    # The folders are the ones this worker named, never paths the child reports.
    final = root / "final"
    if not final.is_dir():
        raise TaskFailed("the training process ended without saving a model")
    version_id = register(task, final, " (LoRA adapter)" if (final / "adapter_config.json").exists() else "")
    LlmTask.objects.filter(pk=task.pk).update(produced_version_id=version_id)
    handle.log(f"registered the result as registry version {version_id}")
    if sink.done.get("merged_dir") and (root / "merged").is_dir():
        merged_id = register(task, root / "merged", " (adapter merged into the base model)")
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
        box = sandbox.Spec(label=sandbox.label_for(task), writable=[root], modules=RUNNER_MODULES,
                           cwd=str(root), env=child_env({"HOME": str(root)}), limits=sandbox.Limits.for_job())
        returncode, output = run_quiet(cmd, box=box, timeout=3600)
        sandbox.scrub(root)
        with selectors.log_path(task).open("a") as log:
            log.write(output)
        if returncode != 0:
            raise TaskFailed(f"merge exited with code {returncode}: {output[-500:]}")
        merged_id = register(task, out, " (adapter merged into the base model)")
        LlmTask.objects.filter(pk=task.pk).update(merged_version_id=merged_id, merge_status="done")
        append_job_log(LlmTask, task.pk, [f"merged the adapter: registry version {merged_id}"])
        return merged_id
    except Exception as exc:
        LlmTask.objects.filter(pk=task.pk).update(merge_status="failed", merge_error=str(exc)[:2000])
        raise


# --- task-based modeling -------------------------------------------------------------------------


def snapshot(folder):
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in Path(folder).rglob("*") if p.is_file()}


def execute_code_task(task, handle):
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
        mpirun = mpirun_path()
        if not mpirun:
            raise TaskFailed("mpirun is not installed on this worker")
        command = f"{mpirun} -n {max(task.nodes, 1)} {command}"
    env = child_env({**task.variables, "HOME": str(work), "CRUCIBLE_TASK_ID": str(task.pk), "TMPDIR": str(work)})
    env["PYTHONPATH"] = str(work)
    handle.log(f"running ({task.type}, {task.cpu} CPU, {task.memory_gb:g} GB, {task.wall_time_seconds} s): {command}")
    box = sandbox.Spec(
        label=sandbox.label_for(task), writable=[work], cwd=str(work), env=env, cpus=task.cpu or None,
        limits=sandbox.Limits.for_job(memory_gb=task.memory_gb, cpu=task.cpu, wall_time_seconds=task.wall_time_seconds),
    )
    result = run_child(
        ["/bin/bash", "-c", command], job=task, handle=handle, log_file=selectors.log_path(task), box=box,
        wall_time=task.wall_time_seconds, disk_limit_bytes=work_allowance(task, work),
    )
    memory = result.ran_out_of_memory
    CodeTask.objects.filter(pk=task.pk).update(exit_code=result.returncode, memory_exceeded=memory)
    if result.cancelled:
        raise JobCancelled("cancelled by request; the command was stopped")
    copied = copy_back(task, work, before, handle)
    CodeTask.objects.filter(pk=task.pk).update(outputs=copied)
    if memory:
        raise TaskFailed(f"exceeded memory limit of {task.memory_gb:g} GB (exit code {result.returncode})")
    if result.timed_out:
        raise TaskFailed(f"stopped: wall time of {task.wall_time_seconds} s exceeded")
    if result.disk_exceeded:
        raise TaskFailed("stopped: the job's files outgrew what is left of your storage quota")
    if result.returncode != 0:
        if result.returncode < 0:
            raise TaskFailed(f"the command was killed by signal {-result.returncode}")
        raise TaskFailed(f"the command exited with code {result.returncode}")
    handle.log("the command exited with code 0")
    return result.returncode


MAX_COPY_BACK_FILES = 1000


def copy_back(task, work, before, handle):
    """New or changed files of the scratch folder -> outputDir (default workingDir) of the private space."""
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
                files.save_file(owner=task.owner, space="private", path=target, content=File(content, name=path.name))
        except DomainError as exc:
            handle.log(f"could not copy {relative} back: {exc.message}")
            continue
        copied.append("/" + target)
    handle.log(f"copied {len(copied)} output file(s) to your private space: {', '.join(copied[:10])}")
    return copied


def follow_kubeflow(task, handle):
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
