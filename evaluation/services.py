"""Creating and cancelling evaluation tasks (the request side).

What runs on the worker is in evaluation.execution; the built-in child is evaluation.runner.
"""

from django.db import transaction
from django.utils import timezone

from accounts.selectors import remaining_resources
from core import child_process
from core.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from core.parsers import parse_json
from core.services import enqueue_job, request_cancel
from files import selectors as files
from files.paths import normalize_path
from hub import selectors as hub
from registry.models import VersionStatus
from registry.selectors import resolve_version
from training.models import LlmTask

from . import metrics as builtin
from .models import EvaluationTask, Kind, Source

PRIVATE = "private"
DEFAULT_CPU = 1
DEFAULT_MEMORY_GB = 4.0
DEFAULT_WALL_TIME_SECONDS = 3600
MAX_WALL_TIME_SECONDS = 7 * 24 * 3600
MAX_COMMAND_CHARS = 10_000
MAX_ENV = 100
# The folders the worker passes to a custom script are not the user's to set either.
RESERVED_ENV = child_process.RESERVED_ENV | {"OUTPUT_DIR", "MODEL_DIR", "BASE_MODEL_DIR", "INPUT_DIR", "DATA_DIR"}
DATA_SUFFIXES = (".jsonl", ".json", ".txt")
MODEL_TYPES = {"local": Source.FILES, "aiapp": Source.REGISTRY}
INPUT_TYPES = ("local", "dataset")
# Built-in settings: request field -> (config key, default, low, high)
SETTINGS = {
    "maxSamples": ("max_samples", 1000, 1, 100_000),
    "maxNewTokens": ("max_new_tokens", 32, 1, 1024),
    "maxLength": ("max_length", 1024, 8, 32_768),
    "batchSize": ("batch_size", 8, 1, 256),
}


# --- field parsing ---------------------------------------------------------------------------


def text(body, field, max_length=1024, default=""):
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"{field}: must be a string")
    value = str(value).strip()
    if len(value) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters")
    return value


def integer(body, field, default, low, high):
    value = body.get(field)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{field}: must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: must be an integer") from None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{field}: must be an integer")
    if not low <= number <= high:
        raise InvalidInput(f"{field}: must be between {low} and {high}")
    return number


def number(body, field, default, low, high):
    value = body.get(field)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{field}: must be a number")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}: must be a number") from None
    if not low <= result <= high:
        raise InvalidInput(f"{field}: must be between {low:g} and {high:g}")
    return result


def private_path(value, field):
    return normalize_path(value, field=field)


def check_user_ref(user, body):
    """userId / userName may only name the caller."""
    for field in ("userId", "userName"):
        value = text(body, field, 150)
        if value and value not in (str(user.pk), user.get_username()):
            raise Forbidden(f"{field} does not match the authenticated user")


def parse_env(value):
    """The spec's env: [{"KEY": "value"}, ...], [{"name": "KEY", "value": "..."}] or a JSON string of those."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        value = parse_json(value, what="env")
    if value in (None, [], {}):
        return {}
    return child_process.parse_env_variables(value, "env", reserved=RESERVED_ENV, limit=MAX_ENV)


def parse_resource(value):
    """(cpu, memory_gb, gpu) from the EvaluationResourceVO {cpuNumber, memory (GB), gpuResource{gpuNum}}."""
    if value in (None, "", {}):
        return DEFAULT_CPU, DEFAULT_MEMORY_GB, 0
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        raise InvalidInput("resource: must be an object {cpuNumber, memory, gpuResource}")
    cpu = integer(value, "cpuNumber", DEFAULT_CPU, 0, 4096) or DEFAULT_CPU
    memory = number(value, "memory", DEFAULT_MEMORY_GB, 0, 1_000_000) or DEFAULT_MEMORY_GB
    gpu_resource = value.get("gpuResource") or {}
    if not isinstance(gpu_resource, dict):
        raise InvalidInput("resource.gpuResource: must be an object")
    gpu = integer(gpu_resource, "gpuNum", 0, 0, 1024)
    return cpu, memory, gpu


def check_quota(owner, cpu, memory_gb, gpu):
    """Refuse a request that can never fit the owner's quota."""
    status = remaining_resources(owner)
    if not status["active"]:
        raise QuotaExceeded("your resource quota is not active now (outside its time window)")
    limits = status["limits"]
    for field, asked, label in (("cpu", cpu, "CPU"), ("memory_gb", memory_gb, "GB of memory"), ("gpu", gpu, "GPU")):
        if asked > limits[field]:
            raise QuotaExceeded(f"over quota: the task asks for {asked:g} {label} but your quota allows {limits[field]:g}")


def metric_names(value):
    """The requested built-in metrics (a list or a comma-separated string), canonical and checked."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"metrics: give a non-empty list of built-in metrics: {', '.join(builtin.METRICS)}")
    if len(value) > 32 or not all(isinstance(v, str) for v in value):
        raise InvalidInput("metrics: at most 32 metric names (strings)")
    try:
        return builtin.canonical_names(value)
    except builtin.UnknownMetric as exc:
        raise InvalidInput(f"metrics: {exc}") from None


# --- the model and the dataset ------------------------------------------------------------------


def _folder_has(owner, folder, name):
    node = files.get_node(owner, PRIVATE, f"{folder}/{name}" if folder else name)
    return node is not None and not node.is_dir


def _local_model(owner, value, field):
    path = private_path(value, field)
    try:
        files.get_folder(owner, PRIVATE, path)
    except NotFound:
        raise NotFound(f"model missing: {field}: no folder /{path} in your private space") from None
    if not (_folder_has(owner, path, "config.json") or _folder_has(owner, path, "adapter_config.json")):
        raise InvalidInput(
            f"model missing: {field}: /{path} has no config.json or adapter_config.json (a save_pretrained folder)"
        )
    return path, _folder_has(owner, path, "adapter_config.json")


def _version(owner, value, field):
    """A registry version by its public id (section 3) or database number, if the owner may read it."""
    try:
        version = resolve_version(owner, value, field=field)
    except NotFound:
        raise NotFound(f"model missing: {field}: no model version {value} of yours") from None
    if version.status != VersionStatus.IMPORTED:
        raise InvalidInput(f"{field}: version {version.version} is {version.get_status_display().lower()}, not imported")
    return version


def _is_adapter(version):
    return any(item.get("path") == "adapter_config.json" for item in version.files or [])


def adapter_base(owner, body, version=None):
    """(source, ref) of a LoRA adapter's base model: baseModelDir, baseAiAppVersionId, or the
    base of the training task that produced the version."""
    base_dir = text(body, "baseModelDir")
    base_version = text(body, "baseAiAppVersionId", 64)
    if base_dir:
        path, is_adapter = _local_model(owner, base_dir, "baseModelDir")
        if is_adapter:
            raise InvalidInput("baseModelDir: must be a full model, not another adapter")
        return Source.FILES, path
    if base_version:
        found = _version(owner, base_version, "baseAiAppVersionId")
        if _is_adapter(found):
            raise InvalidInput("baseAiAppVersionId: must be a full model, not another adapter")
        return Source.REGISTRY, found.uid
    if version is not None and version.llm_fine_tune_task_id.isdigit():
        task = LlmTask.objects.filter(pk=int(version.llm_fine_tune_task_id), owner=owner).first()
        if task is not None:
            return {"registry": Source.REGISTRY, "files": Source.FILES, "hub": Source.HUB}[task.model_source], task.model_ref
    raise InvalidInput(
        "the model is a LoRA adapter and its base model is unknown: give baseModelDir (a folder of your private "
        "space) or baseAiAppVersionId"
    )


def resolve_model(owner, body, required):
    """(model_type, source, ref, version, version_label, base_source, base_ref)."""
    model_type = text(body, "modelType", 16)
    version_id = text(body, "aiAppVersionId", 64)
    model_dir = text(body, "modelDir")
    if not model_type:
        model_type = "aiApp" if version_id else "local" if model_dir else ""
    if not model_type:
        if required:
            raise InvalidInput("model missing: modelType aiApp with aiAppVersionId, or modelType local with modelDir")
        return "", "", "", None, "", "", ""
    if model_type.lower() not in MODEL_TYPES:
        raise InvalidInput("modelType: must be local or aiApp")
    if model_type.lower() == "aiapp":
        if not version_id:
            raise InvalidInput("model missing: aiAppVersionId is required when modelType is aiApp")
        version = _version(owner, version_id, "aiAppVersionId")
        base = adapter_base(owner, body, version) if _is_adapter(version) else ("", "")
        label = text(body, "aiAppVersionName", 256) or f"{version.application.name} {version.version}"
        return "aiApp", Source.REGISTRY, version.uid, version, label, *base
    if not model_dir:
        raise InvalidInput("model missing: modelDir is required when modelType is local")
    path, is_adapter = _local_model(owner, model_dir, "modelDir")
    base = adapter_base(owner, body) if is_adapter else ("", "")
    return "local", Source.FILES, path, None, "", *base


def _has_split_files(paths, split):
    """True when the split folder (or, without split folders, the dataset itself) has data files."""
    data = [p for p in paths if p.lower().endswith(DATA_SUFFIXES)]
    if any(p.startswith(f"{split}/") for p in data):
        return True
    has_splits = any(p.split("/", 1)[0] in ("train", "validate", "validation", "test") for p in paths if "/" in p)
    return not has_splits and bool(data)


def resolve_dataset(owner, body, split, required):
    """(input_type, source, ref, dataset_id, dataset_name)."""
    input_type = text(body, "inputType", 16).lower()
    input_dir = text(body, "inputDir")
    dataset_id = text(body, "datasetId", 64)
    dataset_name = text(body, "datasetName", 300)
    if not input_type:
        input_type = "dataset" if (dataset_id or dataset_name) else "local" if input_dir else ""
    if not input_type:
        if required:
            raise InvalidInput("dataset missing: inputType local with inputDir, or inputType dataset with datasetName")
        return "", "", "", "", ""
    if input_type not in INPUT_TYPES:
        raise InvalidInput("inputType: must be local or dataset")
    if input_type == "dataset":
        if dataset_name:
            if "/" not in dataset_name:
                raise InvalidInput("datasetName: give owner/name of a hub dataset")
            try:
                repo = hub.find_repository(owner, dataset_name, type="dataset")
            except NotFound:
                raise NotFound(f"dataset missing: no hub dataset {dataset_name}") from None
        elif dataset_id:
            repo = hub.visible_repositories(owner).filter(uid=dataset_id, type="dataset").first()
            if repo is None:
                raise NotFound(f"dataset missing: no hub dataset with id {dataset_id}")
        else:
            raise InvalidInput("dataset missing: datasetName (owner/name of a hub dataset) is required when inputType is dataset")
        paths = list(repo.head.entries.values_list("path", flat=True)) if repo.head else []
        if not _has_split_files(paths, split):
            raise InvalidInput(f"dataset missing: hub dataset {repo.full_name} has no {split}/ folder with .jsonl, .json or .txt files")
        return "dataset", Source.HUB, repo.full_name, repo.uid, repo.full_name

    if not input_dir:
        raise InvalidInput("dataset missing: inputDir is required when inputType is local")
    folder = private_path(input_dir, "inputDir")
    try:
        listing = files.walk_files(owner, PRIVATE, folder)
    except NotFound:
        raise NotFound(f"dataset missing: no folder /{folder} in your private space") from None
    if not _has_split_files([relative for relative, node in listing if not node.is_dir], split):
        raise InvalidInput(f"dataset missing: /{folder}/{split} has no .jsonl, .json or .txt files")
    return "local", Source.FILES, folder, dataset_id, dataset_name


# --- creating ------------------------------------------------------------------------------------


def task_name(body):
    name = text(body, "name", 128)
    if any(ord(c) < 32 for c in name):
        raise InvalidInput("name: must not contain control characters")
    return name or f"evaluation-{timezone.now():%Y%m%d-%H%M%S}"


def create_task(*, owner, data):
    """POST /model/evaluation/task/create: validate, record and enqueue an evaluation."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    body = data
    check_user_ref(owner, body)
    wants_builtin = body.get("metrics") not in (None, "", [])
    command = body.get("command")
    if command is not None and not isinstance(command, str):
        raise InvalidInput("command: must be a string")
    command = (command or "").strip()
    if not wants_builtin and not command:
        raise InvalidInput(
            "give either metrics (built-in evaluation: "
            f"{', '.join(builtin.METRICS)}) or command (your evaluation script, which writes $output_dir/metrics.json)"
        )
    if len(command) > MAX_COMMAND_CHARS:
        raise InvalidInput(f"command: at most {MAX_COMMAND_CHARS} characters")
    kind = Kind.BUILTIN if wants_builtin else Kind.CUSTOM
    metrics = metric_names(body["metrics"]) if wants_builtin else []
    split = private_path(text(body, "split", 64) or "test", "split")
    if not split or "/" in split:
        raise InvalidInput("split: a folder name such as test")
    model_type, model_source, model_ref, version, version_label, base_source, base_ref = resolve_model(
        owner, body, required=wants_builtin
    )
    input_type, data_source, data_ref, dataset_id, dataset_name = resolve_dataset(owner, body, split, required=wants_builtin)
    work_dir = private_path(text(body, "workDir"), "workDir")
    if work_dir:
        try:
            files.get_folder(owner, PRIVATE, work_dir)
        except NotFound:
            raise InvalidInput(f"workDir: no folder /{work_dir} in your private space") from None
    output_dir = private_path(text(body, "outputDir"), "outputDir")
    if not output_dir:
        raise InvalidInput("outputDir: the folder of your private space for the results is required")
    settings = {}
    for field, (key, default, low, high) in SETTINGS.items():
        settings[key] = integer(body, field, default, low, high)
    cpu, memory_gb, gpu = parse_resource(body.get("resource"))
    check_quota(owner, cpu, memory_gb, gpu)
    with transaction.atomic():
        task = EvaluationTask.objects.create(
            owner=owner,
            name=task_name(body),
            description=text(body, "description", 2000),
            kind=kind,
            image=text(body, "image", 512),
            command=command,
            work_dir=work_dir,
            env=parse_env(body.get("env")),
            wall_time_seconds=integer(body, "wallTimeSeconds", DEFAULT_WALL_TIME_SECONDS, 1, MAX_WALL_TIME_SECONDS),
            model_type=model_type,
            model_source=model_source,
            model_ref=model_ref,
            version=version,
            version_label=version_label,
            base_source=base_source,
            base_ref=base_ref,
            input_type=input_type,
            data_source=data_source,
            data_ref=data_ref,
            split=split,
            storage_medium=text(body, "storageMedium", 64),
            dataset_id=dataset_id,
            dataset_name=dataset_name,
            metrics=metrics,
            settings=settings if wants_builtin else {},
            output_dir=output_dir,
            resource_group_id=text(body, "resourceGroupId", 64),
            resource_group_name=text(body, "resourceGroupName", 128),
            resource_group_key=text(body, "resourceGroupKey", 128),
            resource=body.get("resource") if isinstance(body.get("resource"), (dict, list)) else {},
            request=body,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
        )
        enqueue_job(task)
    return task


def cancel_task(task):
    if task.is_finished:
        raise Conflict(f"evaluation {task.uid} has already {task.status}")
    return request_cancel(task)
