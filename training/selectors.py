"""Reads: task folders, the tasks a user may see, capacity, metric rows and lineage."""

from pathlib import Path

from django.conf import settings
from django.db.models import Count, Sum

from accounts.selectors import resource_quota
from core.child_process import read_log_tail
from core.errors import DomainError, InvalidInput, NotFound
from core.models import JobStatus
from core.selectors import job_models
from hub import selectors as hub
from registry.selectors import resolve_version

from .models import CodeTask, LlmTask, ModelSource

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


def llm_tasks(user):
    """The fine-tune and pretraining runs the user may see (their own; an admin's: everyone's)."""
    return LlmTask.objects.visible_to(user).select_related(
        "owner", "produced_version__application", "merged_version__application")


def code_tasks(user):
    return CodeTask.objects.visible_to(user).select_related("owner")


def get_llm_task(user, pk):
    task = llm_tasks(user).filter(pk=pk).first()
    if task is None:
        raise NotFound(f"no fine-tune task {pk}")
    return task


def get_code_task(user, pk):
    task = code_tasks(user).filter(pk=pk).first()
    if task is None:
        raise NotFound(f"no task {pk}")
    return task


def produced_models(user):
    """The runs that produced a registry version."""
    return llm_tasks(user).filter(produced_version__isnull=False)


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


# --- metrics, lineage -------------------------------------------------------------------------


def parse_since(value):
    """The `since` of a metrics poll: a step number, or None when absent."""
    if value in (None, ""):
        return None
    value = str(value).strip()
    if not value.isdigit() or len(value) > 12:
        raise InvalidInput("must be a step number (>= 0)", field="since")
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
