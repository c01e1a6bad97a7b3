"""Creating, cancelling and merging training tasks (the request side).

What runs on the worker is in training.execution; the child process is training.runner.
"""

import re
import shutil

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from accounts.selectors import remaining_resources
from core.child_process import parse_env_variables
from core.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
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
MAX_VARIABLES = 100
PRIVATE = "private"
HUB_ID_RE = re.compile(r"^[0-9a-f]{24}\Z")


# --- request parsing ------------------------------------------------------------------------


def task_body(data):
    """The createTaskBO of a request: nested under "createTaskBO" (6.1) or flat (the examples)."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    body = dict(data)
    nested = body.pop("createTaskBO", None)
    if nested is not None:
        if not isinstance(nested, dict):
            raise InvalidInput("createTaskBO: must be an object")
        body.update(nested)
    return body


def text(body, field, max_length=1024, default=""):
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, (str, int)):
        raise InvalidInput(f"{field}: must be a string")
    value = str(value).strip()
    if len(value) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters")
    return value


def integer(body, field, default=0, low=0, high=2**31 - 1):
    value = body.get(field)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: must be an integer") from None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{field}: must be an integer")
    if not low <= number <= high:
        raise InvalidInput(f"{field}: must be between {low} and {high}")
    return number


def check_user_ref(user, body):
    """userId / userName may only name the caller (platform admins may name anyone in filters)."""
    for field in ("userId", "userName"):
        value = text(body, field, 150)
        if value and value not in (str(user.pk), user.get_username()):
            raise Forbidden(f"{field} does not match the authenticated user")


def private_path(value, field):
    return normalize_path(value, field=field)


def resources_of(body):
    """(cpu, memory_gb, gpu, nodes) from the spec's `resource` list; memory is in GB."""
    items = body.get("resource")
    if items in (None, "", []):
        return DEFAULT_CPU, DEFAULT_MEMORY_GB, 0, 1
    if not isinstance(items, list) or len(items) > 16:
        raise InvalidInput("resource: must be a list of at most 16 {cpuNumber, memory, gpuResource, numbers}")
    cpu = gpu = nodes = 0
    memory = 0.0
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"resource[{index}]: must be an object")
        count = integer(item, "numbers", default=1, low=0, high=1024) or 1
        cpu += count * integer(item, "cpuNumber", default=DEFAULT_CPU, low=0, high=4096)
        try:
            memory += count * float(item.get("memory") if item.get("memory") not in (None, "") else DEFAULT_MEMORY_GB)
        except (TypeError, ValueError):
            raise InvalidInput(f"resource[{index}].memory: must be a number of GB") from None
        gpu_resource = item.get("gpuResource") or {}
        if not isinstance(gpu_resource, dict):
            raise InvalidInput(f"resource[{index}].gpuResource: must be an object")
        gpu += count * integer(gpu_resource, "gpuNum", default=0, low=0, high=1024)
        nodes += count
    if memory < 0 or memory > 1_000_000:
        raise InvalidInput("resource.memory: out of range")
    return max(cpu, 1), max(memory, 0.1), gpu, max(nodes, 1)


def check_quota(owner, cpu, memory_gb, gpu):
    """Refuse a request that can never fit the owner's quota; one that only waits is accepted."""
    status = remaining_resources(owner)
    if not status["active"]:
        raise QuotaExceeded("your resource quota is not active now (outside its time window)")
    limits = status["limits"]
    for field, asked, label in (("cpu", cpu, "CPU"), ("memory_gb", memory_gb, "GB of memory"), ("gpu", gpu, "GPU")):
        if asked > limits[field]:
            raise QuotaExceeded(f"over quota: the task asks for {asked:g} {label} but your quota allows {limits[field]:g}")
    if limits["job_slots"] < 1:
        raise QuotaExceeded("over quota: your quota allows no running jobs")


# --- base model and data --------------------------------------------------------------------


def imported(version, field):
    """The public id of a registry version whose files are in (an import may still run)."""
    if version.status != VersionStatus.IMPORTED:
        raise InvalidInput(f"{field}: version {version.version} is {version.get_status_display().lower()}, not imported")
    return version.uid


def resolve_model(owner, body, is_pretrain):
    """(source, ref) of the base model, checked to exist and be readable by the owner.

    modelVersionId: a registry version (its public id from section 3, or its database number);
    modelId: a registry application id (its version `modelVersion`, else the latest imported one)
    or a hub model, owner/name; originModelDir: a folder of the private space. A registry
    version is recorded by its public id.
    """
    version_id = text(body, "modelVersionId", 64)
    folder = text(body, "originModelDir")
    model_id = text(body, "modelId", 300)
    if version_id:
        return ModelSource.REGISTRY, imported(resolve_version(owner, version_id, field="modelVersionId"), "modelVersionId")
    if folder:
        path = private_path(folder, "originModelDir")
        files.get_folder(owner, PRIVATE, path)
        if files.get_node(owner, PRIVATE, f"{path}/config.json" if path else "config.json") is None:
            raise InvalidInput(f"originModelDir: /{path} has no config.json (a save_pretrained folder is expected)")
        return ModelSource.FILES, path
    if model_id:
        if looks_like_id(model_id):
            version = resolve_application_version(owner, model_id, text(body, "modelVersion", 32), field="modelId")
            return ModelSource.REGISTRY, imported(version, "modelId")

        if HUB_ID_RE.match(model_id):  # the `id` hub-api.md answers for a repository
            repo = hub.visible_repositories(owner).filter(uid=model_id, type="model").select_related("head").first()
            if repo is None:
                raise NotFound(f"modelId: hub model {model_id} not found")
        elif "/" in model_id:
            repo = hub.find_repository(owner, model_id, type="model")
        else:
            raise InvalidInput(
                "modelId: give the id of a registry application (section 3), the id or owner/name of a hub model, "
                "or use modelVersionId for a registry version"
            )
        if repo.head is None or not repo.head.entries.filter(path="config.json").exists():
            raise InvalidInput(f"modelId: hub model {model_id} has no config.json")
        return ModelSource.HUB, repo.full_name
    what = "a model to take the architecture and tokenizer from" if is_pretrain else "a base model"
    raise InvalidInput(
        f"model path missing: {what} is required: modelVersionId (a registry version id), "
        "originModelDir (a folder of your private space) or modelId (a registry application id, "
        "or the id or owner/name of a hub model)"
    )


def _has_training_files(paths):
    return any(p.startswith("train/") and p.lower().endswith(hyper_suffixes()) for p in paths)


def hyper_suffixes():
    return TEXT_SUFFIXES


def resolve_data(owner, body):
    """(source, ref) of the data: a hub dataset, or a folder with train/ (default /Data)."""
    input_type = text(body, "inputType", 32).lower()
    name = text(body, "dataSetName", 300)
    if input_type == "dataset" or (name and "/" in name and input_type != "local"):
        if not name:
            raise InvalidInput("dataSetName: the owner/name of a hub dataset is required when inputType is dataset")

        repo = hub.find_repository(owner, name, type="dataset")
        paths = list(repo.head.entries.values_list("path", flat=True)) if repo.head else []
        if not _has_training_files(paths):
            raise InvalidInput(f"dataset missing: hub dataset {name} has no train/ folder with .jsonl, .json or .txt files")
        return DataSource.HUB, repo.full_name

    folder = private_path(text(body, "inputDir") or "Data", "inputDir")
    try:
        listing = files.walk_files(owner, PRIVATE, folder)
    except NotFound:
        raise InvalidInput(f"dataset missing: no folder /{folder} in your private space") from None
    if not _has_training_files([relative for relative, node in listing if not node.is_dir]):
        raise InvalidInput(
            f"dataset missing: /{folder}/train has no .jsonl, .json or .txt files "
            "(the layout is train/, validate/, test/)"
        )
    return DataSource.FILES, folder


def read_config_json(owner, path):
    with files.open_file(owner, PRIVATE, path) as handle:
        raw = handle.read(1024 * 1024 + 1)
    if len(raw) > 1024 * 1024:
        raise InvalidInput(f"/{path}: larger than 1 MB")
    return parse_json(raw, what=f"/{path}")


def strategy_config(owner, strategy, profile_path):
    """(path read or "", strategy, {name: raw}) from profilePath or Config/<strategy>/config.json."""
    if profile_path:
        path = private_path(profile_path, "profilePath")
        if files.get_node(owner, PRIVATE, path) is None:
            raise InvalidInput(f"profilePath: no file /{path} in your private space")
        candidates = [path]
    else:
        candidates = [f"{root}/{strategy}/config.json" for root in ("Config", "config")]
    for path in candidates:
        node = files.get_node(owner, PRIVATE, path)
        if node is not None and not node.is_dir:
            found_strategy, values = hyper.parse_config(read_config_json(owner, path), f"/{path}")
            return path, found_strategy, values
    return "", None, {}


def resolve_hyper(owner, body, is_pretrain):
    """(strategy, typed values, config path): config.json first, the request's lists over it."""
    requested = text(body, "fineTuneStrategy", 16)
    if requested and requested not in hyper.STRATEGIES:
        raise InvalidInput("fineTuneStrategy: must be LoRA or FineTune")
    from_request = hyper.parse_list(body.get("commonHyperParameters"), "commonHyperParameters")
    from_request.update(hyper.parse_list(body.get("fineTuneHyperParameters"), "fineTuneHyperParameters"))
    strategy = requested or Strategy.LORA
    config_path, config_strategy, values = strategy_config(owner, strategy, text(body, "profilePath"))
    if not requested and config_strategy:
        strategy = config_strategy
    values.update(from_request)
    if is_pretrain:
        strategy = Strategy.FINE_TUNE
        lora = sorted(name for name in from_request if name.startswith("lora_") or name == "merge_adapter")
        if lora:
            raise InvalidInput(f"{', '.join(lora)}: LoRA hyper-parameters do not apply to pretraining")
        values = {k: v for k, v in values.items() if not (k.startswith("lora_") or k == "merge_adapter")}
    elif "pretrain_init" in from_request:
        raise InvalidInput("pretrain_init: applies to pretraining (isPretrain 1) only")
    if not is_pretrain:
        values.pop("pretrain_init", None)
    return strategy, hyper.typed(values), config_path


# --- creating tasks ---------------------------------------------------------------------------


def task_name(body, default_prefix):
    name = text(body, "name", 96) or text(body, "jobName", 96)
    if "/" in name or any(ord(c) < 32 for c in name):
        raise InvalidInput("name: must not contain '/' or control characters")
    if not name:
        name = f"{default_prefix}-{timezone.now():%Y%m%d-%H%M%S}"
    return name


def create_llm_task(*, owner, data, queue="training"):
    """POST /kernel/fineTune/createLlmFineTuneTask: validate, record and enqueue a run."""
    body = task_body(data)
    check_user_ref(owner, body)
    is_pretrain = integer(body, "isPretrain", default=0, low=0, high=1) == 1
    model_source, model_ref = resolve_model(owner, body, is_pretrain)
    data_source, data_ref = resolve_data(owner, body)
    strategy, values, config_path = resolve_hyper(owner, body, is_pretrain)
    cpu, memory_gb, gpu, _nodes = resources_of(body)
    check_quota(owner, cpu, memory_gb, gpu)
    merge = bool(values.pop("merge_adapter", False)) or body.get("merge") in (True, 1, "1", "true")
    output_dir = private_path(text(body, "outputDir"), "outputDir") if text(body, "outputDir") else ""
    with transaction.atomic():
        task = LlmTask.objects.create(
            owner=owner,
            name=task_name(body, "pretrain" if is_pretrain else "finetune"),
            description=text(body, "describe", 2000),
            is_pretrain=is_pretrain,
            strategy=strategy,
            model_source=model_source,
            model_ref=model_ref,
            data_source=data_source,
            data_ref=data_ref,
            hyper_parameters=values,
            config_source=config_path,
            request=body,
            image=text(body, "image", 512),
            output_dir=output_dir,
            checkpoint_dir=text(body, "checkPointDir"),
            merge=merge and strategy == Strategy.LORA and not is_pretrain,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            max_attempts=2,
            queue=queue,
        )
        enqueue_job(task)
    return task


def parse_variables(value):
    """The spec's `variable` list: [{"KEY": "value"}, ...] or [{"name": "KEY", "value": "..."}]."""
    if value in (None, "", []):
        return {}
    return parse_env_variables(value, "variable", limit=MAX_VARIABLES)


def create_code_task(*, owner, data, queue="training"):
    """POST /kernel/trainOperator/createTask: a command in a working folder, with limits."""
    body = task_body(data)
    check_user_ref(owner, body)
    kind = text(body, "type", 32) or CodeTaskType.PYTORCH
    if kind not in CodeTaskType.values:
        raise InvalidInput(f"type: must be one of {', '.join(CodeTaskType.values)}")
    command = body.get("command") or ""
    if not command and isinstance(body.get("commands"), list):
        command = " && ".join(str(c) for c in body["commands"] if str(c).strip())
    if kind == CodeTaskType.MPI and text(body, "mpiCommand", MAX_COMMAND_CHARS):
        command = command or text(body, "mpiCommand", MAX_COMMAND_CHARS)
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput("command: the command to run is required")
    if len(command) > MAX_COMMAND_CHARS:
        raise InvalidInput(f"command: at most {MAX_COMMAND_CHARS} characters")
    working_dir = private_path(text(body, "workingDir"), "workingDir")
    if working_dir:
        files.get_folder(owner, PRIVATE, working_dir)
    output_dir = private_path(text(body, "outputDir"), "outputDir") if text(body, "outputDir") else working_dir
    cpu, memory_gb, gpu, nodes = resources_of(body)
    backend = backends.current_backend()
    if kind == CodeTaskType.MPI and backend == "local" and not backends.mpirun_path():
        raise InvalidInput("type MPI: mpirun is not installed on the training workers; choose another type")
    check_quota(owner, cpu, memory_gb, gpu)
    wall_time = integer(body, "wallTimeSeconds", default=DEFAULT_WALL_TIME_SECONDS, low=1, high=MAX_WALL_TIME_SECONDS)
    with transaction.atomic():
        task = CodeTask.objects.create(
            owner=owner,
            name=task_name(body, "task"),
            description=text(body, "describe", 2000),
            type=kind,
            image=text(body, "image", 512),
            command=command,
            working_dir=working_dir,
            output_dir=output_dir,
            variables=parse_variables(body.get("variable")),
            nodes=nodes,
            wall_time_seconds=wall_time,
            backend=backend,
            request=body,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            queue=queue,
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
        raise Conflict(f"already merged: registry version {task.merged_version_id}")
    updated = LlmTask.objects.filter(pk=task.pk).exclude(merge_status="running").update(merge_status="running", merge_error="")
    if not updated:
        raise Conflict("a merge is already running")
    transaction.on_commit(lambda: app.send_task("training.merge_adapter", args=[task.pk], queue=task.queue or "training"))
    task.refresh_from_db()
    return task


def remove_task_files(task_dir):
    shutil.rmtree(task_dir, ignore_errors=True)


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
