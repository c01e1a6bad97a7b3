"""Creating, cancelling and merging training tasks (the request side); what runs on the worker is in
training.execution, the child process is training.runner."""

from typing import NamedTuple

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from accounts.selectors import refuse_over_quota
from core.errors import Conflict, InvalidInput
from core.models import JobStatus
from core.services import enqueue_job, request_cancel
from files import selectors as files
from files.paths import normalize_path

from . import backends
from .models import CodeTask, CodeTaskType, LlmTask, Strategy
from .selectors import PRIVATE, capacity_shortfall, resolve_base, resolve_data, resolve_hyper

DEFAULT_CPU = 1
DEFAULT_MEMORY_GB = 2.0
MAX_WALL_TIME_SECONDS = 7 * 24 * 3600
DEFAULT_WALL_TIME_SECONDS = 3600
MAX_COMMAND_CHARS = 10_000


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
    refuse_over_quota(owner, cpu=resources.cpu, memory_gb=resources.memory_gb, gpu=resources.gpu)
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
    refuse_over_quota(owner, cpu=resources.cpu, memory_gb=resources.memory_gb, gpu=resources.gpu)
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
