"""Reads: task folders, visibility, the spec's list and detail JSON, version listings, comparisons."""

import json
import math
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from core.child_process import read_log_tail
from core.errors import Forbidden, InvalidInput, NotFound
from core.models import JobStatus
from core.selectors import STATUS_ALIASES
from registry.models import AiApplicationVersion
from registry.selectors import looks_like_id, public_version_id

from . import metrics as builtin
from .models import EvaluationTask, Kind

MAX_PAGE_SIZE = 100
LOG_TAIL_CHARS = 20_000
MAX_COMPARED = 12
# Job statuses as the spec writes them ("Succeeded").
SPEC_STATUS = {
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


def visible(user):
    qs = EvaluationTask.objects.select_related("owner", "version__application")
    if getattr(user, "is_platform_admin", False):
        return qs
    return qs.filter(owner=user)


def get_task(user, task_id):
    """A task by its spec id (a UUID) or its number; NotFound when missing or someone else's."""
    value = str(task_id or "").strip()
    if not value:
        raise InvalidInput("taskId: this field is required")
    if value.isdigit() and len(value) < 19:
        task = visible(user).filter(pk=int(value)).first()
    else:
        try:
            task = visible(user).filter(uid=uuid.UUID(value)).first()
        except ValueError:
            raise InvalidInput("taskId: must be an evaluation task id") from None
    if task is None:
        raise NotFound(f"evaluation task {value[:64]} not found")
    return task


def page_params(body):
    def number(field, default, high):
        value = body.get(field)
        if value in (None, ""):
            return default
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{field}: must be an integer") from None
        if value < 1:
            raise InvalidInput(f"{field}: must be at least 1")
        return min(value, high)

    return number("pageNum", 1, 10**6), number("pageSize", 10, MAX_PAGE_SIZE)


def filtered(user, body):
    """The caller's tasks with the spec's filters: userId (a check), status, taskName; also kind, versionId."""
    qs = visible(user)
    user_id = str(body.get("userId") or "").strip()
    if user_id:
        if user_id not in (str(user.pk), user.get_username()) and not getattr(user, "is_platform_admin", False):
            raise Forbidden("userId does not match the authenticated user")
        qs = qs.filter(owner__pk=int(user_id)) if user_id.isdigit() else qs.filter(owner__username=user_id)
    status = str(body.get("status") or "").strip().lower()
    if status:
        if status not in STATUS_ALIASES:
            raise InvalidInput(f"status: one of {', '.join(SPEC_STATUS.values())}")
        qs = qs.filter(status=STATUS_ALIASES[status])
    name = str(body.get("taskName") or "").strip()[:128]
    if name:
        qs = qs.filter(name__icontains=name)
    kind = str(body.get("kind") or "").strip()
    if kind:
        if kind not in Kind.values:
            raise InvalidInput(f"kind: one of {', '.join(Kind.values)}")
        qs = qs.filter(kind=kind)
    version_id = str(body.get("versionId") or "").strip()
    if version_id:
        qs = qs.filter(version__in=version_filter(version_id, "versionId"))
    return qs.order_by("-created_at", "-pk")


def page_of(qs, body, to_json):
    page, size = page_params(body)
    total = qs.count()
    rows = list(qs[(page - 1) * size : page * size])
    return {
        "pageNum": page,
        "pageSize": size,
        "totalPage": math.ceil(total / size) if total else 0,
        "total": total,
        "rows": [to_json(task) for task in rows],
    }


def version_filter(value, field):
    """The versions a filter names: a registry version's public id or its database number."""
    if looks_like_id(value):
        return AiApplicationVersion.objects.filter(uid=value)
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(f"{field}: must be registry version ids")
    return AiApplicationVersion.objects.filter(pk=int(value))


def evaluations_for_version(version):
    """Every evaluation of a registry version, newest first (for the version's page)."""
    return (
        EvaluationTask.objects.filter(version=version)
        .select_related("owner", "version__application")
        .prefetch_related("values")
        .order_by("-created_at", "-pk")
    )


# --- JSON ------------------------------------------------------------------------------------------


def spec_time(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else None


def run_time(task):
    """The spec's runTime: "50秒", "54分41秒", "2小时3分4秒", "1天2小时3分4秒"."""
    seconds = task.duration_seconds
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days}天")
    if days or hours:
        parts.append(f"{hours}小时")
    if days or hours or minutes:
        parts.append(f"{minutes}分")
    parts.append(f"{secs}秒")
    return "".join(parts)


def resource_json(task):
    gpu = (task.resource or {}).get("gpuResource") if isinstance(task.resource, dict) else None
    gpu = gpu if isinstance(gpu, dict) else {}
    return {
        "cpuNumber": task.cpu,
        "memory": task.memory_gb,
        "gpuResource": {
            "gpuShare": gpu.get("gpuShare", "none"),
            "gpuNum": task.gpu,
            "gpuMem": gpu.get("gpuMem"),
            "gpuCores": gpu.get("gpuCores"),
            "migRes": gpu.get("migRes", ""),
        },
    }


def row_json(task):
    """A row of /model/evaluation/task/page."""
    return {
        "id": str(task.uid),
        "name": task.name,
        "status": SPEC_STATUS[task.status],
        "runTime": run_time(task),
        "description": task.description,
        "creatorId": str(task.owner_id) if task.owner_id else None,
        "createTime": spec_time(task.created_at),
    }


def detail_json(task):
    """The data of /api/model/evaluation/task/detail/{taskId}: the spec's fields, then ours."""
    return {
        "id": str(task.uid),
        "name": task.name,
        "status": SPEC_STATUS[task.status],
        "resourceGroupId": task.resource_group_id,
        "resourceGroupName": task.resource_group_name,
        "command": task.command,
        "createTime": spec_time(task.created_at),
        "endTime": spec_time(task.finished_at),
        "image": task.image,
        "runTime": run_time(task),
        "resource": resource_json(task),
        "inputType": task.input_type,
        "inputDir": "/" + task.data_ref if task.data_source == "files" else "",
        "datasetId": task.dataset_id or None,
        "datasetName": task.dataset_name or None,
        "modelType": task.model_type,
        "modelDir": "/" + task.model_ref if task.model_source == "files" else "",
        "aiAppVersionId": (public_version_id(task.model_ref) or "") if task.model_source == "registry" else "",
        "aiAppVersionName": task.version_label,
        "outputDir": "/" + task.output_dir if task.output_dir else "",
        "description": task.description,
        "env": json.dumps([{name: value} for name, value in task.env.items()]),
        "workDir": "/" + task.work_dir if task.work_dir else "",
        # Beyond the spec: what ran and what came out.
        "taskId": task.pk,
        "kind": task.kind,
        "metrics": task.metrics,
        "split": task.split,
        "progress": round(task.progress, 4),
        "error": task.error,
        "results": task.results,
        "details": task.details,
        "outputs": task.outputs,
        "log": log_tail(task),
    }


def api_json(task, detail=False):
    """The clean API's view of a task."""
    data = {
        "id": task.pk,
        "uid": str(task.uid),
        "name": task.name,
        "description": task.description,
        "kind": task.kind,
        "status": task.status,
        "progress": round(task.progress, 4),
        "error": task.error,
        "metrics": task.metrics,
        "results": task.results,
        "model": {
            "type": task.model_type,
            "source": task.model_source,
            "ref": task.model_ref,
            "versionId": task.version.uid if task.version_id else None,
            "label": model_label(task),
            "base": {"source": task.base_source, "ref": task.base_ref} if task.base_source else None,
        },
        "dataset": {"type": task.input_type, "source": task.data_source, "ref": task.data_ref, "split": task.split},
        "outputDir": "/" + task.output_dir if task.output_dir else "",
        "createdAt": task.created_at.isoformat(),
        "startedAt": task.started_at.isoformat() if task.started_at else None,
        "finishedAt": task.finished_at.isoformat() if task.finished_at else None,
        "durationSeconds": task.duration_seconds,
    }
    if detail:
        data.update(
            command=task.command,
            workDir=task.work_dir,
            image=task.image,
            settings=task.settings,
            details=task.details,
            samples=task.samples,
            outputs=task.outputs,
            exitCode=task.exit_code,
            log=log_tail(task),
        )
    return data


def model_label(task):
    if task.version_id and task.version is not None:
        return f"{task.version.application.name} {task.version.version}"
    if task.version_label:
        return task.version_label
    if task.model_ref:
        return "/" + task.model_ref
    return task.command[:60]


def metric_catalogue():
    return [
        {"name": name, "group": group, "definition": definition, "higherIsBetter": better}
        for name, (group, definition, better) in builtin.METRICS.items()
    ]


# --- comparison ------------------------------------------------------------------------------------


def parse_ids(value, field):
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = [p for p in str(value or "").replace(" ", "").split(",") if p]
    if len(parts) > MAX_COMPARED * 4:
        raise InvalidInput(f"{field}: at most {MAX_COMPARED * 4} ids")
    return parts


def compared_tasks(user, task_ids=(), version_ids=()):
    """The tasks to compare: those named, plus each named version's succeeded evaluations."""
    tasks, seen = [], set()
    for value in task_ids:
        task = get_task(user, value)
        if task.pk not in seen:
            seen.add(task.pk)
            tasks.append(task)
    for value in version_ids:
        found = list(visible(user).filter(version__in=version_filter(value, "versions"), status=JobStatus.SUCCEEDED)
                     .order_by("created_at"))
        if not found:
            raise NotFound(f"version {value} has no succeeded evaluation of yours")
        for task in found:
            if task.pk not in seen:
                seen.add(task.pk)
                tasks.append(task)
    if not tasks:
        raise InvalidInput("name the evaluations to compare: tasks=<id>,<id> and/or versions=<id>,<id>")
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
