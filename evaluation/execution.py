"""What the worker does for an evaluation: prepare a scratch folder, run a child, collect results.

Built-in metrics run in `python -m evaluation.runner` and custom scripts in `bash -c
<command>`; both are run by core.child_process.run_child (own session, dies with the worker,
stopped on cancel or past the wall time, output to the task's log file and the job log), inside
the job's sandbox (core.sandbox): the scratch folder's inputs read-only, output/ (and work/ for
custom scripts) writable, nothing else of the data folder.
"""

import json
import math
import shutil
import sys
from pathlib import Path

from django.core.files import File
from django.db import transaction

from accounts.selectors import storage_left
from core import sandbox
from core.child_process import child_env, run_child
from core.errors import DomainError
from core.jobs import JobCancelled
from files import selectors as files
from hub import selectors as hub
from registry.selectors import materialize_version, resolve_version

from . import selectors
from .models import EvaluationTask, Kind, MetricValue, Source
from .runner import METRIC_MARKER

MAX_METRICS = 500
MAX_METRICS_JSON_BYTES = 1024 * 1024
MAX_OUTPUT_FILES = 200


# The platform's files the evaluation child imports (bound read-only into its sandbox).
RUNNER_MODULES = ["evaluation/runner.py", "evaluation/metrics.py"]


class EvaluationFailed(Exception):
    pass


def allowance(task, *folders):
    """Bytes the task's writable folders may grow to (None: no storage quota)."""
    left = storage_left(task.owner)
    return None if left is None else sandbox.folder_bytes(folders) + left


# --- materializing inputs -------------------------------------------------------------------------


def materialize(owner, source, ref, dest, *, what):
    """A model or dataset from the registry, the private space or the hub into `dest`."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if source == Source.REGISTRY:
        materialize_version(resolve_version(owner, ref), dest)
    elif source == Source.FILES:
        files.materialize(owner, "private", ref, dest)
    elif source == Source.HUB:
        hub.materialize_repository(owner, ref, dest, type="dataset" if what == "dataset" else "model")
    else:
        raise EvaluationFailed(f"no {what} to materialize")
    return dest


def prepare_inputs(task, root, handle):
    """model/ (+ base_model/) and data/ in the scratch folder; returns (model, base, data) paths or ""."""
    model = base = data = ""
    if task.model_source:
        handle.log(f"model from {task.get_model_source_display().lower()} {task.model_ref}")
        model = materialize(task.owner, task.model_source, task.model_ref, root / "model", what="model")
        if task.base_source:
            handle.log(f"the model is a LoRA adapter; base model from {task.get_base_source_display().lower()} {task.base_ref}")
            base = materialize(task.owner, task.base_source, task.base_ref, root / "base_model", what="model")
    if task.data_source:
        handle.log(f"dataset from {task.get_data_source_display().lower()} {task.data_ref}")
        data = materialize(task.owner, task.data_source, task.data_ref, root / "data", what="dataset")
    return model, base, data


def split_folder(data, split):
    """The split's folder (data/test), or the dataset folder itself when it has no split folders."""
    folder = Path(data) / split
    if folder.is_dir():
        return folder
    if not any((Path(data) / name).is_dir() for name in ("train", "validate", "validation", "test")):
        return Path(data)
    raise EvaluationFailed(f"the dataset has no {split}/ folder")


# --- results -----------------------------------------------------------------------------------


def flatten_metrics(data, prefix=""):
    """Numeric leaves of a metrics.json object as {"a.b": value}; booleans and text are skipped."""
    found = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                if math.isfinite(value):
                    found[name[:128]] = float(value)
            elif isinstance(value, dict):
                found.update(flatten_metrics(value, name))
    return found


def store_results(task, metrics, details):
    metrics = dict(list(metrics.items())[:MAX_METRICS])
    with transaction.atomic():
        MetricValue.objects.filter(task=task).delete()
        MetricValue.objects.bulk_create(
            [MetricValue(task=task, name=name, value=value) for name, value in metrics.items() if value is not None]
        )
        EvaluationTask.objects.filter(pk=task.pk).update(
            results=metrics, details=details, samples=int(details.get("records") or 0)
        )


def copy_outputs(task, folder, handle):
    """Every file of the output folder into outputDir of the owner's private space."""
    from files import services as files

    if not task.output_dir:
        return []
    copied = []
    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    if len(paths) > MAX_OUTPUT_FILES:
        handle.log(f"{len(paths)} output files; only the first {MAX_OUTPUT_FILES} are copied")
    for path in paths[:MAX_OUTPUT_FILES]:
        target = f"{task.output_dir}/{path.relative_to(folder).as_posix()}"
        try:
            with path.open("rb") as content:
                files.save_file(owner=task.owner, space="private", path=target, content=File(content, name=path.name))
        except DomainError as exc:
            handle.log(f"could not write /{target}: {exc.message}")
            continue
        copied.append("/" + target)
    EvaluationTask.objects.filter(pk=task.pk).update(outputs=copied)
    handle.log(f"wrote {len(copied)} file(s) to /{task.output_dir} in your private space")
    return copied


# --- the two kinds -------------------------------------------------------------------------------


def execute(task, handle):
    root = selectors.task_dir(task)
    shutil.rmtree(root / "output", ignore_errors=True)
    (root / "output").mkdir(parents=True, exist_ok=True)
    if task.kind == Kind.CUSTOM:
        return execute_custom(task, handle, root)
    return execute_builtin(task, handle, root)


def execute_builtin(task, handle, root):
    model, base, data = prepare_inputs(task, root, handle)
    handle.progress(0.05)
    config = {
        "model_dir": str(model),
        "base_model_dir": str(base),
        "data_dir": str(split_folder(data, task.split)),
        "output_dir": str(root / "output"),
        "metrics": task.metrics,
        "threads": max(1, task.cpu),
        **task.settings,
    }
    (root / "config.json").write_text(json.dumps(config, indent=2))
    done = {}

    def on_event(event):
        if event.get("event") == "progress":
            handle.progress(0.05 + 0.9 * float(event.get("fraction") or 0))
        elif event.get("event") == "done":
            done.update(event)

    cmd = [sys.executable, "-m", "evaluation.runner", str(root / "config.json")]
    handle.log(f"starting the evaluation process ({', '.join(task.metrics)})")
    box = sandbox.Spec(
        label=sandbox.label_for(task), readable=[root], writable=[root / "output"], cwd=str(root),
        modules=RUNNER_MODULES, env=child_env(), limits=sandbox.Limits.for_job(),
        cpus=task.cpu or None,
    )
    result = run_child(cmd, job=task, handle=handle, log_file=selectors.log_path(task), box=box,
                       on_event=on_event, event_marker=METRIC_MARKER, wall_time=task.wall_time_seconds,
                       disk_limit_bytes=allowance(task, root / "output"))
    EvaluationTask.objects.filter(pk=task.pk).update(exit_code=result.returncode)
    if result.cancelled:
        raise JobCancelled("cancelled by request; the evaluation process was stopped")
    if result.timed_out:
        raise EvaluationFailed(f"stopped: wall time of {task.wall_time_seconds} s exceeded")
    if result.disk_exceeded:
        raise EvaluationFailed("stopped: the task's files outgrew what is left of your storage quota")
    if result.returncode != 0 or not done:
        raise EvaluationFailed(f"the evaluation process exited with code {result.returncode}: {result.last_line}")
    metrics = {k: v for k, v in (done.get("results") or {}).items() if isinstance(v, (int, float))}
    store_results(task, metrics, done.get("details") or {})
    copy_outputs(task, root / "output", handle)
    return metrics


def execute_custom(task, handle, root):
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if task.work_dir:
        files.materialize(task.owner, "private", task.work_dir, work)
        handle.log(f"work folder /{task.work_dir} copied to the scratch folder")
    model, base, data = prepare_inputs(task, root, handle)
    output = root / "output"
    paths = {"output_dir": output, "model_dir": model, "base_model_dir": base, "input_dir": data, "data_dir": data}
    variables = {}
    for name, value in paths.items():
        variables[name] = variables[name.upper()] = str(value)
    env = child_env({**task.env, **variables, "HOME": str(work), "TMPDIR": str(work),
                     "CRUCIBLE_TASK_ID": str(task.uid)})
    env["PYTHONPATH"] = str(work)
    handle.log(f"running ({task.cpu} CPU, {task.memory_gb:g} GB, {task.wall_time_seconds} s): {task.command}")
    box = sandbox.Spec(
        label=sandbox.label_for(task), readable=[root], writable=[work, output], cwd=str(work), env=env,
        cpus=task.cpu or None,
        limits=sandbox.Limits.for_job(memory_gb=task.memory_gb, cpu=task.cpu, wall_time_seconds=task.wall_time_seconds),
    )
    result = run_child(["/bin/bash", "-c", task.command], job=task, handle=handle, log_file=selectors.log_path(task),
                       box=box, wall_time=task.wall_time_seconds, disk_limit_bytes=allowance(task, work, output))
    EvaluationTask.objects.filter(pk=task.pk).update(exit_code=result.returncode)
    if result.cancelled:
        raise JobCancelled("cancelled by request; the command was stopped")
    if result.ran_out_of_memory:
        raise EvaluationFailed(f"exceeded memory limit of {task.memory_gb:g} GB (exit code {result.returncode})")
    if result.timed_out:
        raise EvaluationFailed(f"stopped: wall time of {task.wall_time_seconds} s exceeded")
    if result.disk_exceeded:
        raise EvaluationFailed("stopped: the task's files outgrew what is left of your storage quota")
    if result.returncode != 0:
        raise EvaluationFailed(f"the command exited with code {result.returncode}: {result.last_line}")
    metrics_file = output / "metrics.json"
    if not metrics_file.is_file():
        raise EvaluationFailed("the command wrote no metrics: $output_dir/metrics.json is missing")
    if metrics_file.stat().st_size > MAX_METRICS_JSON_BYTES:
        raise EvaluationFailed("metrics.json is larger than 1 MB")
    try:
        raw = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationFailed(f"metrics.json is not valid JSON ({exc})") from None
    metrics = flatten_metrics(raw)
    if not metrics:
        raise EvaluationFailed("metrics.json holds no numbers (write an object such as {\"accuracy\": 0.9})")
    details = {"source": "metrics.json", "exit_code": result.returncode}
    store_results(task, metrics, details)
    (output / "results.json").write_text(json.dumps({"metrics": metrics, "details": details}, indent=2))
    handle.log(f"collected {len(metrics)} metric(s) from metrics.json")
    copy_outputs(task, output, handle)
    return metrics
