"""Creating, cancelling and merging training tasks (the request side).

What runs on the worker is in training.execution; the child process is training.runner.
"""

import re
from typing import NamedTuple

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from accounts.selectors import remaining_resources
from core.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from core.models import JobStatus
from core.parsers import parse_json
from core.services import enqueue_job, request_cancel
from files import selectors as files
from files.paths import normalize_path
from hub import selectors as hub
from registry.models import VersionStatus
from registry.selectors import looks_like_id, resolve_application_version, resolve_version

from . import backends
from . import hyper
from .models import CodeTask, CodeTaskType, DataSource, LlmTask, ModelSource, Strategy
from .runner import TEXT_SUFFIXES
from .selectors import capacity_shortfall

DEFAULT_CPU = 1
DEFAULT_MEMORY_GB = 2.0
MAX_WALL_TIME_SECONDS = 7 * 24 * 3600
DEFAULT_WALL_TIME_SECONDS = 3600
MAX_COMMAND_CHARS = 10_000
PRIVATE = "private"
HUB_ID_RE = re.compile(r"^[0-9a-f]{24}\Z")


class Resources(NamedTuple):
    """What a task asks for: CPUs, memory in GB, GPUs, and nodes (distributed jobs)."""

    cpu: int = DEFAULT_CPU
    memory_gb: float = DEFAULT_MEMORY_GB
    gpu: int = 0
    nodes: int = 1


def clean_text(value, field, max_length=1024):
    value = (value or "").strip()
    if len(value) > max_length:
        raise InvalidInput(f"at most {max_length} characters", field=field)
    return value


def clean_name(name, default_prefix):
    name = clean_text(name, "name", 96)
    if "/" in name or any(ord(c) < 32 for c in name):
        raise InvalidInput("must not contain '/' or control characters", field="name")
    return name or f"{default_prefix}-{timezone.now():%Y%m%d-%H%M%S}"


def check_quota(owner, resources):
    """Refuse a request that can never fit the owner's quota; one that only waits is accepted."""
    status = remaining_resources(owner)
    if not status["active"]:
        raise QuotaExceeded("your resource quota is not active now (outside its time window)")
    limits = status["limits"]
    for field, asked, label in (("cpu", resources.cpu, "CPU"), ("memory_gb", resources.memory_gb, "GB of memory"),
                                ("gpu", resources.gpu, "GPU")):
        if asked > limits[field]:
            raise QuotaExceeded(f"over quota: the task asks for {asked:g} {label} but your quota allows {limits[field]:g}")
    if limits["job_slots"] < 1:
        raise QuotaExceeded("over quota: your quota allows no running jobs")


# --- base model and data --------------------------------------------------------------------


def imported(version, field):
    """The public id of a registry version whose files are in (an import may still run)."""
    if version.status != VersionStatus.IMPORTED:
        raise InvalidInput(f"version {version.version} is {version.get_status_display().lower()}, not imported", field=field)
    return version.uid


def resolve_base(owner, *, base_version="", base_folder="", base_model="", base_model_version="", pretrain=False):
    """(source, ref) of the base model, checked to exist and be readable by the owner.

    base_version: a registry version (any id the registry answers, or its database number);
    base_folder: a save_pretrained folder of the private space; base_model: a registry application
    (its version `base_model_version`, else the latest imported one), or a hub model by id or
    owner/name. A registry version is recorded by its public id.
    """
    if base_version:
        return ModelSource.REGISTRY, imported(resolve_version(owner, base_version, field="base_version"), "base_version")
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
        return ModelSource.REGISTRY, imported(version, "base_model")
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
    requested = hyper.check_names(requested or {}, "hyper")
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


# --- creating tasks ---------------------------------------------------------------------------


def create_finetune(*, owner, name="", description="", pretrain=False, base_version="", base_folder="",
                    base_model="", base_model_version="", dataset="", data_folder="", strategy="", hyper=None,
                    config_path="", resources=Resources(), image="", output_dir="", checkpoint_dir="",
                    merge=False, received=None, queue="training"):
    """Validate, record and enqueue a fine-tune (LoRA or all weights) or pretraining run.

    The base model is one of base_version, base_folder or base_model (see resolve_base); the data a
    hub `dataset` or a `data_folder`; `hyper` maps hyper-parameter names to values, over those of
    the strategy's config.json (`config_path`, else Config/<strategy>/config.json).
    """
    model_source, model_ref = resolve_base(owner, base_version=base_version, base_folder=base_folder,
                                           base_model=base_model, base_model_version=base_model_version,
                                           pretrain=pretrain)
    data_source, data_ref = resolve_data(owner, dataset=dataset, data_folder=data_folder)
    strategy, values, config_source = resolve_hyper(owner, strategy=strategy, requested=hyper,
                                                    config_path=config_path, pretrain=pretrain)
    check_quota(owner, resources)
    merge = bool(values.pop("merge_adapter", False)) or merge
    with transaction.atomic():
        task = LlmTask.objects.create(
            owner=owner, name=clean_name(name, "pretrain" if pretrain else "finetune"),
            description=clean_text(description, "description", 2000), is_pretrain=pretrain, strategy=strategy,
            model_source=model_source, model_ref=model_ref, data_source=data_source, data_ref=data_ref,
            hyper_parameters=values, config_source=config_source, request=received or {},
            image=clean_text(image, "image", 512),
            output_dir=normalize_path(output_dir, field="output_dir") if output_dir else "",
            checkpoint_dir=clean_text(checkpoint_dir, "checkpoint_dir"),
            merge=merge and strategy == Strategy.LORA and not pretrain,
            cpu=resources.cpu, memory_gb=resources.memory_gb, gpu=resources.gpu, max_attempts=2, queue=queue,
        )
        enqueue_job(task)
    return task


def create_code_task(*, owner, command, name="", description="", type=CodeTaskType.PYTORCH, image="",
                     working_dir="", output_dir="", variables=None, resources=Resources(),
                     wall_time_seconds=DEFAULT_WALL_TIME_SECONDS, received=None, queue="training"):
    """A command run in a working folder of the private space, with limits (task-based modeling)."""
    if type not in CodeTaskType.values:
        raise InvalidInput(f"must be one of {', '.join(CodeTaskType.values)}", field="type")
    if not command or not command.strip():
        raise InvalidInput("the command to run is required", field="command")
    if len(command) > MAX_COMMAND_CHARS:
        raise InvalidInput(f"at most {MAX_COMMAND_CHARS} characters", field="command")
    if not 1 <= wall_time_seconds <= MAX_WALL_TIME_SECONDS:
        raise InvalidInput(f"must be between 1 and {MAX_WALL_TIME_SECONDS}", field="wall_time_seconds")
    working_dir = normalize_path(working_dir, field="working_dir")
    if working_dir:
        files.get_folder(owner, PRIVATE, working_dir)
    output_dir = normalize_path(output_dir, field="output_dir") if output_dir else working_dir
    backend = backends.current_backend()
    if type == CodeTaskType.MPI and backend == "local" and not backends.mpirun_path():
        raise InvalidInput("MPI: mpirun is not installed on the training workers; choose another type", field="type")
    check_quota(owner, resources)
    with transaction.atomic():
        task = CodeTask.objects.create(
            owner=owner, name=clean_name(name, "task"), description=clean_text(description, "description", 2000),
            type=type, image=clean_text(image, "image", 512), command=command, working_dir=working_dir,
            output_dir=output_dir, variables=variables or {}, nodes=resources.nodes,
            wall_time_seconds=wall_time_seconds, backend=backend, request=received or {},
            cpu=resources.cpu, memory_gb=resources.memory_gb, gpu=resources.gpu, queue=queue,
        )
        task.manifest = backends.render_manifest(task)
        task.save(update_fields=["manifest"])
        enqueue_job(task)
    return task


# --- cancel and merge -------------------------------------------------------------------------


def cancel_task(task):
    if task.is_finished:
        raise Conflict(f"task {task.pk} has already {task.status}")
    return request_cancel(task)


def request_merge(task):
    """One-click merge of a finished LoRA run's adapter into a full model (a Celery task)."""
    from config.celery import app

    if task.is_pretrain or task.strategy != Strategy.LORA:
        raise InvalidInput("only a LoRA run has an adapter to merge")
    if task.status != JobStatus.SUCCEEDED:
        raise Conflict("the run has not finished successfully")
    if task.merged_version_id:
        raise Conflict(f"already merged: registry version {task.merged_version.uid}")
    updated = LlmTask.objects.filter(pk=task.pk).exclude(merge_status="running").update(merge_status="running", merge_error="")
    if not updated:
        raise Conflict("a merge is already running")
    transaction.on_commit(lambda: app.send_task("training.merge_adapter", args=[task.pk], queue=task.queue or "training"))
    task.refresh_from_db()
    return task


# --- admission ------------------------------------------------------------------------------------


def admit(model, task_id, task_name, retry_seconds):
    """Start a queued task only when it fits beside its owner's running jobs; else try again later.

    Quota is checked at creation (a task that can never fit is refused); here the running
    jobs are what counts, so tasks beyond free capacity wait in the queue, in order of retry.
    """
    from config.celery import app

    task = model.objects.filter(pk=task_id).select_related("owner").first()
    if task is None or task.status != JobStatus.QUEUED or task.cancel_requested:
        return True  # run_job skips or cancels it
    short = capacity_shortfall(task)
    if not short:
        return True
    note = f"waiting for capacity: {short}"
    if not task.log.rstrip().endswith(note):
        model.objects.filter(pk=task_id).update(log=Concat(F("log"), Value(note + "\n")))
    app.send_task(task_name, args=[task_id], queue=task.queue or "training", countdown=retry_seconds)
    return False
