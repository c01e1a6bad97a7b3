"""Reads: task folders, lists with the spec's filters, capacity, and the JSON the facades answer."""

from pathlib import Path

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models import Q

from accounts.selectors import resource_quota
from core.child_process import read_log_tail
from core.errors import DomainError, Forbidden, InvalidInput, NotFound
from core.models import JobStatus
from core.selectors import STATUS_ALIASES
from core.selectors import job_models
from hub import selectors as hub
from registry.selectors import public_version_id, resolve_version, version_by_pk

from .hyper import as_config_lists
from .models import CodeTask, LlmTask, ModelSource

MAX_PAGE_SIZE = 100
LOG_TAIL_CHARS = 20_000
MAX_METRIC_POINTS = 200  # rows of a detail answer or a first chart load: downsampled beyond this
MAX_METRIC_PAGE = 1000  # rows of one `since` poll; the rest come with the next poll


def task_dir(task):
    kind = "llm" if isinstance(task, LlmTask) else "code"
    return Path(settings.DATA_DIR) / "training" / kind / str(task.pk)


def log_path(task):
    return task_dir(task) / "train.log"


def log_tail(task, chars=LOG_TAIL_CHARS):
    return read_log_tail(log_path(task), task.log, chars)


# --- lookups -------------------------------------------------------------------------------


def parse_task_id(value):
    value = str(value or "").strip()
    if not value:
        raise InvalidInput("taskId: this field is required")
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput("taskId: must be a task id")
    return int(value)


def visible(model, user):
    qs = model.objects.all() if getattr(user, "is_platform_admin", False) else model.objects.filter(owner=user)
    return qs.select_related("owner")


def get_llm_task(user, task_id):
    task = visible(LlmTask, user).filter(pk=parse_task_id(task_id)).first()
    if task is None:
        raise NotFound(f"no fine-tune task {task_id}")
    return task


def get_code_task(user, task_id):
    task = visible(CodeTask, user).filter(pk=parse_task_id(task_id)).first()
    if task is None:
        raise NotFound(f"no task {task_id}")
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
        return min(max(value, 0), high) or default

    return number("pageNum", 1, 10**6), number("pageSize", 10, MAX_PAGE_SIZE)


def filtered(model, user, body):
    """The caller's tasks (an admin's: anyone's, narrowed by userId/userName) with the spec filters."""
    qs = visible(model, user)
    for field, lookup in (("userId", "owner__pk"), ("userName", "owner__username")):
        value = str(body.get(field) or "").strip()
        if not value:
            continue
        if value not in (str(user.pk), user.get_username()) and not getattr(user, "is_platform_admin", False):
            raise Forbidden(f"{field} does not match the authenticated user")
        if field == "userId" and not value.isdigit():
            qs = qs.filter(owner__username=value)
        else:
            qs = qs.filter(**{lookup: value})
    if model is LlmTask and body.get("isPretrain") not in (None, ""):
        if str(body["isPretrain"]) not in ("0", "1"):
            raise InvalidInput("isPretrain: must be 0 or 1")
        qs = qs.filter(is_pretrain=str(body["isPretrain"]) == "1")
    status = str(body.get("status") or "").strip().lower()
    if status:
        if status not in STATUS_ALIASES:
            raise InvalidInput(f"status: one of {', '.join(sorted(set(STATUS_ALIASES.values())))}")
        qs = qs.filter(status=STATUS_ALIASES[status])
    name = str(body.get("taskName") or "").strip()[:128]
    if name:
        qs = qs.filter(name__icontains=name)
    return qs


def page_of(qs, body, to_json):
    page, size = page_params(body)
    total = qs.count()
    rows = list(qs[(page - 1) * size : page * size])
    return {"total": total, "pageNum": page, "pageSize": size, "list": [to_json(row) for row in rows]}


# --- capacity --------------------------------------------------------------------------------


def running_usage(user, exclude=None):
    """CPU, memory, GPU and slots held by the user's *running* jobs of every job model."""
    used = {"cpu": 0, "gpu": 0, "memory_gb": 0.0, "job_slots": 0}
    for model in job_models():
        qs = model.objects.filter(owner=user, status=JobStatus.RUNNING)
        if exclude is not None and model is type(exclude):
            qs = qs.exclude(pk=exclude.pk)
        totals = qs.aggregate(cpu=Sum("cpu"), gpu=Sum("gpu"), memory_gb=Sum("memory_gb"), n=Count("pk"))
        used["cpu"] += totals["cpu"] or 0
        used["gpu"] += totals["gpu"] or 0
        used["memory_gb"] += totals["memory_gb"] or 0
        used["job_slots"] += totals["n"]
    return used


def capacity_shortfall(task):
    """"" when the task fits beside the owner's running jobs, else what is short (it waits)."""
    if task.owner is None:
        return ""
    limits, _quota = resource_quota(task.owner)
    used = running_usage(task.owner, exclude=task)
    short = []
    for field, asked in (("cpu", task.cpu), ("memory_gb", task.memory_gb), ("gpu", task.gpu), ("job_slots", 1)):
        if used[field] + asked > limits[field]:
            short.append(f"{field} {used[field]:g} in use + {asked:g} > {limits[field]:g}")
    return "; ".join(short)


# --- JSON for the facades and pages -----------------------------------------------------------


def iso(value):
    return value.isoformat() if value else None


def job_json(task):
    return {
        "taskId": str(task.pk),
        "id": task.pk,
        "name": task.name,
        "describe": task.description,
        "status": task.status,
        "progress": round(task.progress, 4),
        "error": task.error,
        "userId": str(task.owner_id) if task.owner_id else None,
        "userName": task.owner.username if task.owner_id else None,
        "image": task.image,
        "createTime": iso(task.created_at),
        "startTime": iso(task.started_at),
        "endTime": iso(task.finished_at),
        "duration": task.duration_seconds,
        "attempts": task.attempts,
        "resource": {"cpuNumber": task.cpu, "memory": task.memory_gb, "gpuNum": task.gpu},
    }


def metric_json(row):
    return {
        "step": row.step,
        "epoch": row.epoch,
        "loss": row.loss,
        "eval_loss": row.eval_loss,
        "learning_rate": row.learning_rate,
        "grad_norm": row.grad_norm,
        "tokens_per_second": row.tokens_per_second,
        "time": row.time,
    }


def parse_since(value):
    """The `since` of a metrics poll: a step number, or None when absent."""
    if value in (None, ""):
        return None
    value = str(value).strip()
    if not value.isdigit() or len(value) > 12:
        raise InvalidInput("since: must be a step number (>= 0)")
    return int(value)


def _evenly(pks, limit):
    """At most `limit` of the ordered pks, evenly spaced, always keeping the last."""
    if len(pks) <= limit:
        return pks
    stride = -(-len(pks) // limit)
    kept = pks[::stride]
    if kept[-1] != pks[-1]:
        kept[-1] = pks[-1]
    return kept


def metric_rows(task, *, since=None, limit=MAX_METRIC_POINTS):
    """The metric rows a reader gets.

    since=None: the whole run downsampled to at most `limit` training-loss rows and `limit` evaluation
    rows (evenly spaced, the first and last kept), for detail answers and a chart's first load.
    since=N: only the rows logged after step N, in order, at most MAX_METRIC_PAGE (a poll).
    """
    rows = task.metrics.all()
    if since is not None:
        return list(rows.filter(step__gt=since).order_by("step", "pk")[:MAX_METRIC_PAGE])
    keep = []
    for part in (rows.filter(eval_loss__isnull=True), rows.filter(eval_loss__isnull=False)):
        keep += _evenly(list(part.order_by("step", "pk").values_list("pk", flat=True)), limit)
    return list(task.metrics.filter(pk__in=keep).order_by("step", "pk"))


def llm_task_json(task, detail=False):
    common, tuning = as_config_lists(task.hyper_parameters)
    data = job_json(task)
    data.update(
        isPretrain=1 if task.is_pretrain else 0,
        fineTuneStrategy=task.strategy,
        modelSource=task.model_source,
        modelVersionId=public_version_id(task.model_ref) if task.model_source == "registry" else None,
        originModelDir=task.model_ref if task.model_source == "files" else None,
        modelId=task.model_ref if task.model_source == "hub" else None,
        inputType="dataset" if task.data_source == "hub" else "local",
        inputDir=task.data_ref if task.data_source == "files" else None,
        dataSetName=task.data_ref if task.data_source == "hub" else None,
        outputDir=task.output_dir,
        currentStep=task.current_step,
        totalSteps=task.total_steps,
        producedVersionId=public_version_id(task.produced_version_id),
        mergedVersionId=public_version_id(task.merged_version_id),
        mergeStatus=task.merge_status,
    )
    if detail:
        data.update(
            commonHyperParameters=common,
            fineTuneHyperParameters=tuning,
            configSource=task.config_source,
            checkPointDir=task.checkpoint_dir,
            checkpoints=task.checkpoints,
            metrics=[metric_json(row) for row in metric_rows(task)],
            log=log_tail(task),
            mergeError=task.merge_error,
        )
    return data


def produced_model_json(task):
    """A row of listFineTuneTaskManage: the registry version a task produced, by its public ids
    (the ids sections 3, 4, 7 and 8 take)."""
    data = {
        "taskId": str(task.pk),
        "taskName": task.name,
        "isPretrain": 1 if task.is_pretrain else 0,
        "fineTuneStrategy": task.strategy,
        "status": task.status,
        "userId": str(task.owner_id) if task.owner_id else None,
        "userName": task.owner.username if task.owner_id else None,
        "modelVersionId": None,
        "mergedModelVersionId": public_version_id(task.merged_version_id),
        "createTime": iso(task.finished_at or task.created_at),
        "applicationId": None,
        "applicationName": None,
        "version": None,
        "source": 1,
    }
    version = produced_version(task)
    if version is not None:
        data.update(
            modelVersionId=version.uid,
            applicationId=version.application.uid,
            applicationName=version.application.name,
            version=version.version,
        )
    return data


def produced_version(task):
    return version_by_pk(task.produced_version_id)


def lineage(task):
    """Where a run's base model and data came from, by name, for its page: {"model": (kind, name,
    target), "data": (kind, name, target)}; target is a registry version, a hub repository, or a
    folder path of the owner's files, and None when it is gone or hidden from the owner."""
    def hub_repo(full_name, type):
        try:
            return hub.find_repository(task.owner, full_name, type=type)
        except DomainError:
            return None

    if task.model_source == ModelSource.REGISTRY:
        try:
            version = resolve_version(task.owner, task.model_ref)
        except DomainError:
            version = None
        name = f"{version.application.name} {version.version}" if version else task.model_ref
        model = ("registry", name, version)
    elif task.model_source == ModelSource.FILES:
        model = ("files", "/" + task.model_ref, task.model_ref)
    else:
        model = ("hub", task.model_ref, hub_repo(task.model_ref, "model"))
    if task.data_source == "hub":
        data = ("hub", task.data_ref, hub_repo(task.data_ref, "dataset"))
    else:
        data = ("files", "/" + task.data_ref, task.data_ref)
    return {"model": model, "data": data}


def produced_models(user, body):
    return filtered(LlmTask, user, body).filter(Q(produced_version_id__isnull=False))


def code_task_json(task, detail=False):
    data = job_json(task)
    data.update(
        type=task.type,
        command=task.command,
        workingDir=task.working_dir,
        outputDir=task.output_dir,
        exitCode=task.exit_code,
        memoryExceeded=task.memory_exceeded,
        backend=task.backend,
        nodes=task.nodes,
        wallTimeSeconds=task.wall_time_seconds,
    )
    if detail:
        data.update(
            variable=[{"name": k, "value": v} for k, v in task.variables.items()],
            outputs=task.outputs,
            manifest=task.manifest,
            log=log_tail(task),
        )
    return data
