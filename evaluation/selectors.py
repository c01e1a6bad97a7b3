"""Reads: task folders, lookups and searches, run times, comparisons."""

import uuid
from pathlib import Path

from django.conf import settings

from core.child_process import read_log_tail
from core.errors import InvalidInput, NotFound
from core.models import JobStatus
from core.selectors import STATUS_ALIASES
from registry.models import AiApplicationVersion
from registry.selectors import looks_like_id

from . import metrics as builtin
from .models import EvaluationTask, Kind

LOG_TAIL_CHARS = 20_000
MAX_COMPARED = 12
# Job statuses as answers and pages write them ("Succeeded").
STATUS_WORDS = {
    JobStatus.QUEUED: "Pending",
    JobStatus.RUNNING: "Running",
    JobStatus.SUCCEEDED: "Succeeded",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Stopped",
}


def task_dir(task):
    return Path(settings.DATA_DIR) / "evaluation" / str(task.pk)


def log_path(task):
    return task_dir(task) / "evaluation.log"


def log_tail(task, chars=LOG_TAIL_CHARS):
    return read_log_tail(log_path(task), task.log, chars)


# --- lookups -------------------------------------------------------------------------------------


def visible_tasks(user):
    return EvaluationTask.objects.visible_to(user).select_related("owner", "version__application")


def get_task(user, task_id):
    """A task by its public id (a UUID) or its number; NotFound when missing or someone else's."""
    value = str(task_id or "").strip()
    if not value:
        raise InvalidInput("is required", field="task_id")
    if value.isdigit() and len(value) < 19:
        task = visible_tasks(user).filter(pk=int(value)).first()
    else:
        try:
            task = visible_tasks(user).filter(uid=uuid.UUID(value)).first()
        except ValueError:
            raise InvalidInput("must be an evaluation task id", field="task_id") from None
    if task is None:
        raise NotFound(f"evaluation task {value[:64]} not found")
    return task


def search_tasks(user, *, status="", name="", kind="", version=""):
    """The user's tasks, newest first: by status (a job status or one of STATUS_WORDS), name
    (substring), kind, and registry version (public id or number)."""
    qs = visible_tasks(user)
    status = (status or "").strip().lower()
    if status:
        if status not in STATUS_ALIASES:
            raise InvalidInput(f"one of {', '.join(STATUS_WORDS.values())}", field="status")
        qs = qs.filter(status=STATUS_ALIASES[status])
    if name and name.strip():
        qs = qs.filter(name__icontains=name.strip()[:128])
    if kind:
        if kind not in Kind.values:
            raise InvalidInput(f"one of {', '.join(Kind.values)}", field="kind")
        qs = qs.filter(kind=kind)
    if version:
        qs = qs.filter(version__in=version_filter(version.strip(), "version"))
    return qs.order_by("-created_at", "-pk")


def version_filter(value, field):
    """The versions a filter names: a registry version's public id or its database number."""
    if looks_like_id(value):
        return AiApplicationVersion.objects.filter(uid=value)
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput("must be registry version ids", field=field)
    return AiApplicationVersion.objects.filter(pk=int(value))


def evaluations_for_version(version, user=None):
    """The evaluations of a registry version (those `user` may see, when given), newest first."""
    qs = EvaluationTask.objects.visible_to(user) if user is not None else EvaluationTask.objects.all()
    return (qs.filter(version=version).select_related("owner", "version__application").prefetch_related("values")
            .order_by("-created_at", "-pk"))


def run_time(task):
    """How long the task ran, as the evaluation pages and answers write it: "50秒", "54分41秒",
    "2小时3分4秒", "1天2小时3分4秒"."""
    seconds = task.duration_seconds
    if seconds is None:
        return ""
    days, rest = divmod(int(round(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}天"] if days else []
    if days or hours:
        parts.append(f"{hours}小时")
    if days or hours or minutes:
        parts.append(f"{minutes}分")
    return "".join(parts) + f"{secs}秒"


def model_label(task):
    if task.version_id and task.version is not None:
        return f"{task.version.application.name} {task.version.version}"
    if task.version_label:
        return task.version_label
    if task.model_ref:
        return "/" + task.model_ref
    return task.command[:60]


def metric_catalogue():
    return [{"name": name, "group": group, "definition": definition, "higherIsBetter": better}
            for name, (group, definition, better) in builtin.METRICS.items()]


# --- comparison ------------------------------------------------------------------------------------


def id_list(value):
    """"12, 13" -> ["12", "13"]."""
    return [part for part in str(value or "").replace(" ", "").split(",") if part]


def compared_tasks(user, task_ids=(), version_ids=()):
    """The tasks to compare: those named, plus each named version's succeeded evaluations."""
    if len(task_ids) + len(version_ids) > MAX_COMPARED * 4:
        raise InvalidInput(f"at most {MAX_COMPARED * 4} ids")
    tasks, seen = [], set()
    for value in task_ids:
        task = get_task(user, value)
        if task.pk not in seen:
            seen.add(task.pk)
            tasks.append(task)
    for value in version_ids:
        found = list(visible_tasks(user).filter(version__in=version_filter(value, "versions"), status=JobStatus.SUCCEEDED)
                     .order_by("created_at"))
        if not found:
            raise NotFound(f"version {value} has no succeeded evaluation of yours")
        for task in found:
            if task.pk not in seen:
                seen.add(task.pk)
                tasks.append(task)
    if not tasks:
        raise InvalidInput("name the evaluations to compare: tasks and/or versions")
    if len(tasks) > MAX_COMPARED:
        raise InvalidInput(f"at most {MAX_COMPARED} evaluations side by side")
    return tasks


def comparison(tasks):
    """A metric-by-task table: columns are tasks, rows are metrics (value or None), with the best marked."""
    names = []
    for task in tasks:
        for name in task.results:
            if name not in names:
                names.append(name)
    order = {name: index for index, name in enumerate(builtin.METRICS)}
    names.sort(key=lambda n: (order.get(n, len(order)), n))
    rows = []
    for name in names:
        values = [task.results.get(name) if isinstance(task.results.get(name), (int, float)) else None for task in tasks]
        better = builtin.higher_is_better(name)
        present = [v for v in values if v is not None]
        best = None
        if better is not None and len(present) > 1:
            best = max(present) if better else min(present)
        rows.append({"metric": name, "higherIsBetter": better, "values": values, "best": best})
    columns = [
        {"id": task.pk, "uid": str(task.uid), "name": task.name, "model": model_label(task), "status": task.status,
         "versionId": task.version.uid if task.version_id else None, "dataset": task.data_ref, "label": f"{task.name} ({model_label(task)})"}
        for task in tasks
    ]
    return {"columns": columns, "rows": rows}
