"""Reads: task folders, the tasks a user may see, what a new run would start from (its base model,
data and hyper-parameters, checked), capacity, metric rows and lineage."""

import re
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Sum

from accounts.selectors import resource_quota
from core.child_process import read_log_tail
from core.errors import DomainError, InvalidInput, NotFound
from core.models import JobStatus
from core.parsers import parse_json
from core.selectors import job_models
from files import selectors as files
from files.paths import normalize_path
from hub import selectors as hub
from registry.selectors import looks_like_id, require_imported, resolve_application_version, resolve_version

from . import hyper
from .models import CodeTask, DataSource, LlmTask, ModelSource, Strategy
from .runner import TEXT_SUFFIXES

PRIVATE = "private"
HUB_ID_RE = re.compile(r"^[0-9a-f]{24}\Z")
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


# --- base model, data and hyper-parameters of a new run --------------------------------------------------------------------


def resolve_base(owner, *, base_version="", base_folder="", base_model="", base_model_version="", pretrain=False):
    """(source, ref) of the base model, checked to exist and be readable by the owner.

    base_version: a registry version (any id the registry answers, or its database number);
    base_folder: a save_pretrained folder of the private space; base_model: a registry application
    (its version `base_model_version`, else the latest imported one), or a hub model by id or
    owner/name. A registry version is recorded by its public id.
    """
    if base_version:
        return ModelSource.REGISTRY, require_imported(resolve_version(owner, base_version, field="base_version"), "base_version").uid
    if base_folder:
        path = normalize_path(base_folder, field="base_folder")
        files.get_folder(owner, PRIVATE, path)
        if files.get_node(owner, PRIVATE, f"{path}/config.json" if path else "config.json") is None:
            raise InvalidInput(f"/{path} has no config.json (a save_pretrained folder is expected)", field="base_folder")
        return ModelSource.FILES, path
    if not base_model:
        what = "a model to take the architecture and tokenizer from" if pretrain else "a base model"
        raise InvalidInput(f"model path missing: {what} is required: a registry version, a folder of your private "
                           "space, or a registry application or hub model")
    if looks_like_id(base_model):
        version = resolve_application_version(owner, base_model, base_model_version, field="base_model")
        return ModelSource.REGISTRY, require_imported(version, "base_model").uid
    if HUB_ID_RE.match(base_model):  # the id the hub answers for a repository
        repo = hub.visible_repositories(owner).filter(uid=base_model, type="model").select_related("head").first()
        if repo is None:
            raise NotFound(f"hub model {base_model} not found", field="base_model")
    elif "/" in base_model:
        repo = hub.find_repository(owner, base_model, type="model")
    else:
        raise InvalidInput("give the id of a registry application, or the id or owner/name of a hub model "
                           "(a registry version is a base version)", field="base_model")
    if repo.head is None or not repo.head.entries.filter(path="config.json").exists():
        raise InvalidInput(f"hub model {base_model} has no config.json", field="base_model")
    return ModelSource.HUB, repo.full_name


def has_training_files(paths):
    return any(p.startswith("train/") and p.lower().endswith(TEXT_SUFFIXES) for p in paths)


def resolve_data(owner, *, dataset="", data_folder=""):
    """(source, ref) of the data: a hub dataset (owner/name), or a folder with train/ (default /Data)."""
    if dataset:
        repo = hub.find_repository(owner, dataset, type="dataset")
        if not has_training_files(repo.head.entries.values_list("path", flat=True) if repo.head else []):
            raise InvalidInput(f"dataset missing: hub dataset {dataset} has no train/ folder with .jsonl, .json or .txt files")
        return DataSource.HUB, repo.full_name
    folder = normalize_path(data_folder or "Data", field="data_folder")
    try:
        listing = files.walk_files(owner, PRIVATE, folder)
    except NotFound:
        raise InvalidInput(f"dataset missing: no folder /{folder} in your private space") from None
    if not has_training_files([relative for relative, node in listing if not node.is_dir]):
        raise InvalidInput(f"dataset missing: /{folder}/train has no .jsonl, .json or .txt files "
                           "(the layout is train/, validate/, test/)")
    return DataSource.FILES, folder


def read_config_json(owner, path):
    with files.open_file(owner, PRIVATE, path) as handle:
        raw = handle.read(1024 * 1024 + 1)
    if len(raw) > 1024 * 1024:
        raise InvalidInput(f"/{path}: larger than 1 MB")
    return parse_json(raw, what=f"/{path}")


def strategy_config(owner, strategy, config_path=""):
    """(path read or "", strategy, {name: raw}) from `config_path` or Config/<strategy>/config.json."""
    if config_path:
        path = normalize_path(config_path, field="config_path")
        if files.get_node(owner, PRIVATE, path) is None:
            raise InvalidInput(f"no file /{path} in your private space", field="config_path")
        candidates = [path]
    else:
        candidates = [f"{root}/{strategy}/config.json" for root in ("Config", "config")]
    for path in candidates:
        node = files.get_node(owner, PRIVATE, path)
        if node is not None and not node.is_dir:
            found_strategy, values = hyper.parse_config(read_config_json(owner, path), f"/{path}")
            return path, found_strategy, values
    return "", None, {}


def resolve_hyper(owner, *, strategy, requested, config_path, pretrain):
    """(strategy, typed values, config path): config.json first, the requested values over it."""
    if strategy and strategy not in hyper.STRATEGIES:
        raise InvalidInput("must be LoRA or FineTune", field="strategy")
    requested = hyper.check_names(requested or {})
    path, config_strategy, values = strategy_config(owner, strategy or Strategy.LORA, config_path)
    strategy = strategy or config_strategy or Strategy.LORA
    values.update(requested)
    if pretrain:
        if lora := sorted(name for name in requested if name.startswith("lora_") or name == "merge_adapter"):
            raise InvalidInput(f"{', '.join(lora)}: LoRA hyper-parameters do not apply to pretraining")
        strategy = Strategy.FINE_TUNE
        values = {k: v for k, v in values.items() if not (k.startswith("lora_") or k == "merge_adapter")}
    elif "pretrain_init" in requested:
        raise InvalidInput("pretrain_init: applies to pretraining only")
    else:
        values.pop("pretrain_init", None)
    return strategy, hyper.typed(values), path


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
