"""Creating and cancelling evaluations (the request side).

What runs on the worker is in evaluation.execution; the built-in child is evaluation.runner.
"""

from django.db import transaction
from django.utils import timezone

from accounts.selectors import refuse_over_quota
from core import child_process
from core.errors import Conflict, InvalidInput, NotFound
from core.services import enqueue_job, request_cancel
from files import selectors as files
from files.paths import normalize_path
from hub import selectors as hub
from hub.models import Repository
from registry.selectors import require_imported, resolve_version
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
# Built-in settings: name -> (default, low, high)
SETTINGS = {
    "max_samples": (1000, 1, 100_000),
    "max_new_tokens": (32, 1, 1024),
    "max_length": (1024, 8, 32_768),
    "batch_size": (8, 1, 256),
}


def _is(owner, path, folder):
    """True when `path` of the owner's private space is a folder (folder=True) or a file."""
    node = files.get_node(owner, PRIVATE, path)
    return node is not None and node.is_dir == folder


def _model_folder(owner, value, field):
    """(path, is_adapter) of a save_pretrained folder of the owner's private space."""
    path = normalize_path(value, field=field)
    if not _is(owner, path, folder=True):
        raise NotFound(f"model missing: no folder /{path} in your private space", field=field)
    adapter = _is(owner, f"{path}/adapter_config.json", folder=False)
    if not (adapter or _is(owner, f"{path}/config.json", folder=False)):
        raise InvalidInput(f"model missing: /{path} has no config.json or adapter_config.json (a save_pretrained folder)",
                           field=field)
    return path, adapter


def _version(owner, ref, field):
    """An imported registry version the owner may read, by its public id or database number."""
    try:
        version = resolve_version(owner, ref, field=field)
    except NotFound:
        raise NotFound(f"model missing: no model version {ref} of yours", field=field) from None
    return require_imported(version, field)


def _is_adapter(version):
    return any(item.get("path") == "adapter_config.json" for item in version.files or [])


def _adapter_base(owner, base_version, base_model_dir, version=None):
    """(source, ref) of a LoRA adapter's base model: the folder or version given, else the base of
    the fine-tune that produced the version."""
    if base_model_dir:
        path, adapter = _model_folder(owner, base_model_dir, "base_model_dir")
        if adapter:
            raise InvalidInput("must be a full model, not another adapter", field="base_model_dir")
        return Source.FILES, path
    if base_version:
        found = _version(owner, base_version, "base_version")
        if _is_adapter(found):
            raise InvalidInput("must be a full model, not another adapter", field="base_version")
        return Source.REGISTRY, found.uid
    if version is not None and version.llm_fine_tune_task_id.isdigit():
        task = LlmTask.objects.filter(pk=int(version.llm_fine_tune_task_id), owner=owner).first()
        if task is not None:
            return task.model_source, task.model_ref
    raise InvalidInput("the model is a LoRA adapter and its base model is unknown: give a base model folder of your "
                       "private space or a base registry version", field="base_model_dir")


def _has_split(paths, split):
    """True when the split folder (or, without split folders, the dataset itself) has data files."""
    data = [p for p in paths if p.lower().endswith(DATA_SUFFIXES)]
    if any(p.startswith(f"{split}/") for p in data):
        return True
    has_splits = any(p.split("/", 1)[0] in ("train", "validate", "validation", "test") for p in paths if "/" in p)
    return not has_splits and bool(data)


def _hub_dataset(owner, name, uid, split):
    if name:
        if "/" not in name:
            raise InvalidInput("give owner/name of a hub dataset", field="dataset")
        try:
            repo = hub.find_repository(owner, name, type="dataset")
        except NotFound:
            raise NotFound(f"dataset missing: no hub dataset {name}", field="dataset") from None
    else:
        repo = Repository.objects.visible_to(owner).filter(uid=uid, type="dataset").first()
        if repo is None:
            raise NotFound(f"dataset missing: no hub dataset with id {uid}", field="dataset_id")
    paths = list(repo.head.entries.values_list("path", flat=True)) if repo.head else []
    if not _has_split(paths, split):
        raise InvalidInput(f"dataset missing: hub dataset {repo.full_name} has no {split}/ folder with .jsonl, .json or "
                           ".txt files", field="dataset")
    return repo


def _data_folder(owner, value, split):
    folder = normalize_path(value, field="data_dir")
    try:
        listing = files.walk_files(owner, PRIVATE, folder)
    except NotFound:
        raise NotFound(f"dataset missing: no folder /{folder} in your private space", field="data_dir") from None
    if not _has_split([relative for relative, node in listing if not node.is_dir], split):
        raise InvalidInput(f"dataset missing: /{folder}/{split} has no .jsonl, .json or .txt files", field="data_dir")
    return folder


def _whole(value, field, default, low, high):
    if value in (None, ""):
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"must be an integer between {low} and {high}", field=field)
    return value


def create_evaluation(*, owner, output_dir, name="", description="", metrics=(), command="", image="", work_dir="",
                      env=None, wall_time_seconds=None, version=None, version_label="", model_dir="",
                      base_version=None, base_model_dir="", dataset="", dataset_id="", data_dir="", split="test",
                      storage_medium="", resources=None, resource_group_id="", resource_group_name="",
                      resource_group_key="", max_samples=None, max_new_tokens=None, max_length=None,
                      batch_size=None):
    """Record and enqueue an evaluation: the built-in `metrics` of a model (a registry `version` or a
    `model_dir` of the owner's files) on a data split (a hub `dataset` or a `data_dir`), or the owner's
    `command`, which writes its metrics to $output_dir/metrics.json. `resources`: cpu, memory_gb, gpu
    (and GPU options, kept as given); max_samples... are the built-in metrics' settings (SETTINGS)."""
    command = (command or "").strip()
    if not metrics and not command:
        raise InvalidInput(f"give either metrics (built-in evaluation: {', '.join(builtin.METRICS)}) or a command "
                           "(your evaluation script, which writes $output_dir/metrics.json)")
    if len(command) > MAX_COMMAND_CHARS:
        raise InvalidInput(f"at most {MAX_COMMAND_CHARS} characters", field="command")
    if metrics and (not isinstance(metrics, (list, tuple)) or len(metrics) > 32
                    or not all(isinstance(m, str) for m in metrics)):
        raise InvalidInput("at most 32 metric names (strings)", field="metrics")
    try:
        metrics = builtin.canonical_names(list(metrics)) if metrics else []
    except builtin.UnknownMetric as exc:
        raise InvalidInput(str(exc), field="metrics") from None
    split = normalize_path(split or "test", field="split")
    if not split or "/" in split:
        raise InvalidInput("a folder name such as test", field="split")
    name = (name or "").strip()
    if any(ord(c) < 32 for c in name) or len(name) > 128:
        raise InvalidInput("at most 128 characters, no control characters", field="name")
    # The model, and the base of a LoRA adapter.
    model_source = model_ref = base_source = base_ref = ""
    found = None
    if version not in (None, ""):
        found = _version(owner, version, "version")
        model_source, model_ref = Source.REGISTRY, found.uid
        version_label = version_label or f"{found.application.name} {found.version}"
        if _is_adapter(found):
            base_source, base_ref = _adapter_base(owner, base_version, base_model_dir, found)
    elif model_dir:
        model_ref, adapter = _model_folder(owner, model_dir, "model_dir")
        model_source = Source.FILES
        if adapter:
            base_source, base_ref = _adapter_base(owner, base_version, base_model_dir)
    elif metrics:
        raise InvalidInput("model missing: choose a registry version or a model folder of your private space")
    # The data.
    data_source = data_ref = ""
    if dataset or dataset_id:
        repo = _hub_dataset(owner, dataset, dataset_id, split)
        data_source, data_ref, dataset_id, dataset = Source.HUB, repo.full_name, repo.uid, repo.full_name
    elif data_dir:
        data_source, data_ref = Source.FILES, _data_folder(owner, data_dir, split)
    elif metrics:
        raise InvalidInput("dataset missing: choose a data folder of your private space or a hub dataset (owner/name)")
    work_dir = normalize_path(work_dir, field="work_dir")
    if work_dir and not _is(owner, work_dir, folder=True):
        raise InvalidInput(f"no folder /{work_dir} in your private space", field="work_dir")
    output_dir = normalize_path(output_dir, field="output_dir")
    if not output_dir:
        raise InvalidInput("the folder of your private space for the results is required", field="output_dir")
    resources = dict(resources or {})
    cpu = resources.pop("cpu", None) or DEFAULT_CPU
    memory_gb = resources.pop("memory_gb", None) or DEFAULT_MEMORY_GB
    gpu = resources.pop("gpu", None) or 0
    refuse_over_quota(owner, cpu=cpu, memory_gb=memory_gb, gpu=gpu)
    given = {"max_samples": max_samples, "max_new_tokens": max_new_tokens, "max_length": max_length,
             "batch_size": batch_size}
    chosen = {key: _whole(given[key], key, *limits) for key, limits in SETTINGS.items()}
    with transaction.atomic():
        task = EvaluationTask.objects.create(
            owner=owner, name=name or f"evaluation-{timezone.now():%Y%m%d-%H%M%S}", description=description or "",
            kind=Kind.BUILTIN if metrics else Kind.CUSTOM, image=image or "", command=command, work_dir=work_dir,
            env=child_process.parse_env_variables(env, "env", reserved=RESERVED_ENV, limit=MAX_ENV) if env else {},
            wall_time_seconds=_whole(wall_time_seconds, "wall_time_seconds", DEFAULT_WALL_TIME_SECONDS, 1,
                                     MAX_WALL_TIME_SECONDS),
            model_source=model_source, model_ref=model_ref, version=found, version_label=version_label or "",
            base_source=base_source, base_ref=base_ref, data_source=data_source, data_ref=data_ref, split=split,
            storage_medium=storage_medium or "", dataset_id=dataset_id or "", dataset_name=dataset or "",
            metrics=metrics, settings=chosen if metrics else {}, output_dir=output_dir,
            resource_group_id=resource_group_id or "", resource_group_name=resource_group_name or "",
            resource_group_key=resource_group_key or "", resource=resources, cpu=cpu, memory_gb=memory_gb, gpu=gpu,
        )
        enqueue_job(task)
    return task


def cancel_evaluation(task):
    if task.is_finished:
        raise Conflict(f"evaluation {task.uid} has already {task.status}")
    return request_cancel(task)
