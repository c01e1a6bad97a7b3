"""Writes of serving: services and their versions (VersionSpec), deploy/stop/delete
jobs, replica lifecycle on the serving host, and the OpenAI-shaped calls of the gateway."""

import base64
import json
import logging
import secrets
import shutil
import struct
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotFound
from core.services import enqueue_job
from hub import selectors as hub_selectors
from registry.models import AiApplicationVersion
from registry.models import VersionStatus as RegistryStatus
from registry.selectors import materialize_version, resolve_version
from training.execution import materialize_model
from training.models import LlmTask

from . import conf, gateway, kserve, processes, selectors
from .models import (
    ACTIVE_VERSION_STATUSES,
    LIVE_REPLICA_STATUSES,
    Metric,
    ModelService,
    Replica,
    ReplicaStatus,
    ServiceEvent,
    ServiceKind,
    ServiceVersion,
    ServingAction,
    ServingJob,
    Sharing,
    VersionStatus,
)

logger = logging.getLogger(__name__)

NAME_MAX = 64
TEXT_MAX = 2000
# Bounds of a version's numbers: (low, high); replicas are bounded by conf.MAX_REPLICAS at use.
LIMITS = {"rate": (0, 100), "cpu": (0, 256), "memory": (0, 4096), "gpu": (0, 16)}
# The longest text a version keeps in each of its text settings.
TEXT_LIMITS = {"command": 1000, "image": 300, "image_ports": 100, "gpu_share": 32, "req_method": 8,
               "resource_group_id": 64, "resource_group_name": 100, "resource_group_key": 100, "envs": TEXT_MAX,
               "volumes": TEXT_MAX, "hyper_parameters": 20000}


@dataclass(frozen=True)
class VersionSpec:
    """What one version of a service serves and how: a registry version (its public id, or the version
    itself), its traffic weight among the running versions, its replica bounds and autoscaling (scale
    on `metric` above `threshold` per replica), the resources it asks for, and the container settings a
    cluster would read (kept as given; `envs`, `volumes` and `hyper_parameters` are JSON text).
    `extra`: other settings a client gave, kept and shown back as they are."""

    registry_version: str | AiApplicationVersion
    rate: int = 100
    min_replicas: int = 1
    max_replicas: int | None = None  # default: min_replicas
    metric: int = Metric.RPS
    threshold: float = 100.0
    cpu: int = 1
    memory: int = 1
    gpu: int = 0
    gpu_share: str = "none"
    req_method: str = "rest"
    command: str = ""
    image: str = ""
    image_ports: str = ""
    envs: str = "[]"
    volumes: str = "[]"
    hyper_parameters: str = "null"
    resource_group_id: str = ""
    resource_group_name: str = ""
    resource_group_key: str = ""
    extra: dict = field(default_factory=dict)


# --- validation ------------------------------------------------------------------------


def _bounded(value, name, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"must be an integer from {low} to {high}", field=name)
    return value


def check_scaling(min_replicas, max_replicas, metric, threshold, prefix=""):
    """Replica bounds and autoscaling of a version: (low, high, metric, threshold) or InvalidInput."""
    low = _bounded(min_replicas, f"{prefix}min_replicas", 1, conf.MAX_REPLICAS)
    high = _bounded(low if max_replicas is None else max_replicas, f"{prefix}max_replicas", 1, conf.MAX_REPLICAS)
    if high < low:
        raise InvalidInput(f"must be at least the minimum of replicas ({low})", field=f"{prefix}max_replicas")
    if metric not in Metric.values:
        raise InvalidInput("1 (requests per second), 2 (concurrency) or 3 (GPU use)", field=f"{prefix}metric")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1_000_000:
        raise InvalidInput("must be a number greater than 0 (at most 1000000)", field=f"{prefix}threshold")
    return low, high, metric, float(threshold)


def clean_service_name(value):
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > NAME_MAX or not name[0].isalnum() or not all(c.isalnum() or c in "-_." for c in name):
        raise InvalidInput(f"1 to {NAME_MAX} letters, digits, '-', '_' and '.', starting with a letter or digit",
                           field="name")
    return name


def kind_of_files(paths):
    paths = set(paths)
    if "adapter_config.json" in paths:
        return ServiceKind.GENERATE
    if "modules.json" in paths or "sentence_bert_config.json" in paths:
        return ServiceKind.EMBEDDING
    if "config.json" in paths:
        return ServiceKind.GENERATE
    raise InvalidInput("the registry version has no config.json: not a Hugging Face model folder")


def has_gpu():
    return shutil.which("nvidia-smi") is not None


def _version_fields(owner, spec, prefix):
    """The model fields of a new version from its VersionSpec (`prefix` names it in errors)."""
    app_version = spec.registry_version
    if not isinstance(app_version, AiApplicationVersion):
        app_version = resolve_version(owner, app_version, f"{prefix}registry_version")
    if app_version.status != RegistryStatus.IMPORTED:
        raise InvalidInput(f"version {app_version.version} is not imported yet", field=f"{prefix}registry_version")
    for name, (low, high) in LIMITS.items():
        _bounded(getattr(spec, name), f"{prefix}{name}", low, high)
    texts = {name: str(getattr(spec, name) or "").strip() for name in TEXT_LIMITS}
    for name, text in texts.items():
        if len(text) > TEXT_LIMITS[name]:
            raise InvalidInput(f"at most {TEXT_LIMITS[name]} characters", field=f"{prefix}{name}")
    if texts["req_method"] not in ("", "rest"):
        raise InvalidInput("this platform serves rest only (HTTP, OpenAI-compatible)", field=f"{prefix}req_method")
    if spec.gpu and not has_gpu():
        raise InvalidInput("this serving host has no GPU; ask for 0", field=f"{prefix}gpu")
    if len(json.dumps(spec.extra)) > TEXT_MAX:
        raise InvalidInput("too large", field=f"{prefix}extra")
    low, high, metric, threshold = check_scaling(spec.min_replicas, spec.max_replicas, spec.metric, spec.threshold,
                                                 prefix)
    return {**texts, "req_method": texts["req_method"] or "rest", "gpu_share": texts["gpu_share"] or "none",
            "application_version": app_version, "rate": spec.rate, "cpu": spec.cpu, "memory": spec.memory,
            "gpu": spec.gpu, "predict_min_replicas": low, "predict_max_replicas": high, "metric": metric,
            "monitor_threshold": threshold, "extra": dict(spec.extra),
            "kind": kind_of_files(f["path"] for f in app_version.files)}


# --- services and versions ---------------------------------------------------------------


def on_cluster():
    """SERVING_BACKEND=kserve: versions run as InferenceServices, not as replicas of this host."""
    return settings.SERVING_BACKEND == "kserve"


def log_event(service, message, version=None):
    ServiceEvent.objects.create(service=service, version=version, message=message[:1000])
    logger.info("service %s: %s", service.pk, message)


def create_service(*, owner, name, versions, description="", path="", deploy=False, sharing=None):
    """A service `name` of `owner` serving `versions` (VersionSpecs); deployed at once with `deploy`.

    A service of that name the owner already has gets the versions added (a canary is a second
    version with its own rate). `sharing`: who else may call it (set_sharing); None leaves it as it
    is (private for a new service). Returns (service, [new versions]).
    """
    name = clean_service_name(name)
    description, path = str(description or "").strip(), str(path or "").strip()
    for text, label, limit in ((description, "description", TEXT_MAX), (path, "path", 255)):
        if len(text) > limit:
            raise InvalidInput(f"at most {limit} characters", field=label)
    if not 1 <= len(versions) <= 10:
        raise InvalidInput("from 1 to 10 versions", field="versions")
    cleaned = [_version_fields(owner, spec, "versions.") for spec in versions]
    kinds = {c.pop("kind") for c in cleaned}
    if len(kinds) > 1:
        raise InvalidInput("all versions of a service must be the same kind of model", field="versions")
    kind = kinds.pop()
    with transaction.atomic():
        service = ModelService.objects.select_for_update().filter(owner=owner, name=name).first()
        if service is None:
            service = ModelService.objects.create(owner=owner, name=name, description=description, path=path,
                                                  kind=kind)
            log_event(service, f"created by {owner.username}")
        else:
            if service.deleting:
                raise Conflict(f"service {name} is being deleted")
            if service.kind != kind:
                raise InvalidInput(f"service {name} serves {service.kind} models; this version is {kind}")
            service.description, service.path = description or service.description, path or service.path
            service.save()
        last = service.versions.order_by("-number").first()
        number = last.number if last else 0
        created = []
        for fields in cleaned:
            number += 1
            version = ServiceVersion.objects.create(service=service, number=number, created_by=owner, **fields)
            log_event(service, f"version {number} saved: {fields['application_version']} at rate {fields['rate']}",
                      version)
            created.append(version)
        if sharing is not None:
            set_sharing(actor=owner, service=service, sharing=sharing)
        if deploy:
            for version in created:
                deploy_version(version, owner)
    return service, created


def set_sharing(*, actor, service, sharing):
    """Who may call the service besides its owner: "private", "team" (the members of the owner's
    team) or "everyone". Only the owner (or a platform admin) decides."""
    if service.owner_id != actor.pk and not getattr(actor, "is_platform_admin", False):
        raise NotFound(f"model service {service.uid} not found")
    if not isinstance(sharing, str) or sharing not in Sharing.values:
        raise InvalidInput(f"sharing: one of {', '.join(Sharing.values)}")
    team = None
    if sharing == Sharing.TEAM:
        team = service.owner.team
        if team is None:
            raise InvalidInput(f"sharing: {service.owner.username} is in no team; share with everyone or keep it private")
    if service.sharing == sharing and service.shared_team_id == getattr(team, "pk", None):
        return service
    ModelService.objects.filter(pk=service.pk).update(sharing=sharing, shared_team=team, modified_at=timezone.now())
    service.sharing, service.shared_team = sharing, team
    whom = {Sharing.PRIVATE: "private to its owner", Sharing.TEAM: f"shared with team {getattr(team, 'name', '')}",
            Sharing.EVERYONE: "shared with everyone"}[sharing]
    log_event(service, f"{whom} (set by {actor.username})")
    gateway.forget_routes()  # this process's cached lookups; other processes see it within conf.ROUTE_CACHE_S
    return service


def deploy_version(version, actor=None):
    """Mark the version deploying and enqueue the job that starts its replicas."""
    with transaction.atomic():
        updated = ServiceVersion.objects.filter(pk=version.pk).exclude(status__in=ACTIVE_VERSION_STATUSES).update(
            status=VersionStatus.DEPLOYING, error="", desired_replicas=version.predict_min_replicas,
            modified_at=timezone.now(),
        )
        if not updated:
            return None
        job = ServingJob.objects.create(
            owner=actor or version.service.owner, action=ServingAction.DEPLOY, service=version.service,
            version=version, service_uid=version.service.uid, cpu=version.cpu, memory_gb=version.memory,
        )
        log_event(version.service, f"version {version.number} deploying", version)
        enqueue_job(job)
    return job


def start_service(*, actor, service):
    """Deploy every version that is not running or deploying."""
    if service.deleting:
        raise Conflict("the service is being deleted")
    jobs = [deploy_version(v, actor) for v in service.versions.order_by("number")]
    if not any(jobs):
        raise Conflict("the service is already running")
    return [j for j in jobs if j]


def _stop_job(actor, service, action):
    with transaction.atomic():
        ServiceVersion.objects.filter(service=service).exclude(status=VersionStatus.STOPPED).exclude(
            status=VersionStatus.SAVED
        ).update(status=VersionStatus.STOPPING, modified_at=timezone.now())
        job = ServingJob.objects.create(owner=actor, action=action, service=service, service_uid=service.uid)
        log_event(service, f"{action} requested by {actor.username}")
        enqueue_job(job)
    return job


def stop_service(*, actor, service):
    if service.deleting:
        raise Conflict("the service is being deleted")
    return _stop_job(actor, service, ServingAction.STOP)


def delete_service(*, actor, service):
    """Stops the replicas, then the job deletes the rows; the service disappears from lists at once."""
    ModelService.objects.filter(pk=service.pk).update(deleting=True)
    return _stop_job(actor, service, ServingAction.DELETE)


def _apply_on_cluster(version):
    """KServe splits traffic by canaryTrafficPercent of the newest revision: apply it again."""
    if on_cluster() and version.status in ACTIVE_VERSION_STATUSES:
        newest = version.service.versions.filter(status__in=ACTIVE_VERSION_STATUSES).order_by("-number").first()
        kserve.apply(kserve.render_inference_service(newest))


def update_rate(*, actor, version, rate):
    """A version's traffic weight (0 to 100) among the service's running versions."""
    rate = _bounded(rate, "rate", *LIMITS["rate"])
    ServiceVersion.objects.filter(pk=version.pk).update(rate=rate)
    log_event(version.service, f"version {version.number} rate set to {rate} by {actor.username}", version)
    version.refresh_from_db()
    _apply_on_cluster(version)
    return version


def deploy_registry_version(*, actor, version, name="", service=None, sharing=None, deploy=True):
    """A registry version (VersionSpec `version`) served as a new service `name` of the actor, or,
    with `service` (one the actor manages), as one more version of it (a canary with its own traffic
    weight). A new service's name must not be one of the actor's services already (create_service
    would add to it). Returns (service, version)."""
    if service is None:
        name = clean_service_name(name)
        if ModelService.objects.filter(owner=actor, name=name, deleting=False).exists():
            raise Conflict(f"you already have a service named {name}; add the version on its page")
        owner = actor
    else:
        service = selectors.get_service_for_user(actor, service.uid)
        name, owner = service.name, service.owner
    service, created = create_service(owner=owner, name=name, versions=[version], deploy=deploy, sharing=sharing)
    return service, created[0]


METRIC_WORDS = {Metric.RPS: "requests per second", Metric.CONCURRENCY: "concurrency", Metric.GPU: "GPU use"}


def update_scaling(*, actor, version, min_replicas, max_replicas, metric, threshold):
    """A version's replica bounds and autoscaling (metric, per-replica threshold). The supervisor reads
    them at its next sweep; on a cluster the InferenceService is applied again."""
    low, high, metric, threshold = check_scaling(min_replicas, max_replicas, metric, threshold)
    ServiceVersion.objects.filter(pk=version.pk).update(
        predict_min_replicas=low, predict_max_replicas=high, metric=metric, monitor_threshold=threshold,
        modified_at=timezone.now(),
    )
    log_event(version.service, f"version {version.number} replicas {low}..{high}, scaling on "
              f"{METRIC_WORDS[metric]} above {threshold:g} per replica (set by {actor.username})", version)
    version.refresh_from_db()
    _apply_on_cluster(version)
    return version


# --- the serving host: model folders, replicas, jobs ------------------------------------------


def models_dir():
    path = processes.serving_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _materialize_once(dest, fill):
    """Fill `dest` through a temporary sibling and an atomic rename; reuse it if it exists."""
    if (dest / ".complete").exists():
        return dest
    tmp = dest.with_name(f"{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        fill(tmp)
        (tmp / ".complete").write_text("ok")
        try:
            tmp.rename(dest)
        except OSError:  # another deploy got there first
            if not (dest / ".complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def detect_kind(folder):
    folder = Path(folder)
    if (folder / "adapter_config.json").exists():
        return ServiceKind.GENERATE
    if (folder / "modules.json").exists() or (folder / "sentence_bert_config.json").exists():
        return ServiceKind.EMBEDDING
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        raise InvalidInput("the model folder has no readable config.json") from None
    architectures = config.get("architectures") or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return ServiceKind.GENERATE
    if config.get("model_type") in ("bert", "roberta", "xlm-roberta", "mpnet", "distilbert", "nomic_bert"):
        return ServiceKind.EMBEDDING
    raise InvalidInput(f"unsupported model ({', '.join(architectures) or config.get('model_type') or 'unknown'}): "
                       "serving runs causal language models, LoRA adapters of them, and sentence-embedding models")


def resolve_adapter_base(app_version, folder, handle):
    """The base model folder of a LoRA adapter: its recorded local path if still there, else the
    base of the training task that produced it, else the hub model its config names."""
    config = json.loads((folder / "adapter_config.json").read_text())
    base = str(config.get("base_model_name_or_path") or "")
    if base and Path(base).is_dir() and (Path(base) / "config.json").exists():
        return Path(base)
    dest = models_dir() / f"{app_version.uid}-base"
    owner = app_version.application.owner
    task = LlmTask.objects.filter(produced_version_id=app_version.pk).first()
    if task is not None:
        handle.log(f"adapter base: the base model of training task {task.pk}")
        return _materialize_once(dest, lambda tmp: materialize_model(task, tmp))
    if base.count("/") == 1:
        repo = hub_selectors.find_repository(owner, base, type="model")
        handle.log(f"adapter base: hub model {repo.full_name}")
        return _materialize_once(dest, lambda tmp: hub_selectors.materialize(repo, tmp))
    raise InvalidInput(f"the adapter's base model {base or '(none)'} is neither a local folder nor a hub model")


def prepare_model(version, handle):
    app_version = version.application_version
    if app_version is None:
        raise InvalidInput("the registry version of this service version was deleted")
    folder = _materialize_once(models_dir() / app_version.uid, lambda tmp: materialize_version(app_version, tmp))
    kind = detect_kind(folder)
    if kind != version.service.kind:
        raise InvalidInput(f"the model is a {kind} model but the service serves {version.service.kind}")
    base = resolve_adapter_base(app_version, folder, handle) if (folder / "adapter_config.json").exists() else ""
    ServiceVersion.objects.filter(pk=version.pk).update(model_dir=str(folder), base_dir=str(base))
    version.model_dir, version.base_dir = str(folder), str(base)
    handle.log(f"model files in {folder}{f' (adapter on {base})' if base else ''}")


def spawn_replica(version, replica=None):
    """Start one replica process (status starting); the caller or the supervisor sees it healthy."""
    salt = secrets.token_hex(16)  # a new token for each process
    if replica is None:
        replica = Replica.objects.create(version=version, host=processes.host_name(), status=ReplicaStatus.STARTING,
                                         address=processes.advertised_address(), token_salt=salt)
    else:
        Replica.objects.filter(pk=replica.pk).update(address=processes.advertised_address(), token_salt=salt)
        replica.address, replica.token_salt = processes.advertised_address(), salt
    try:
        pid, port = processes.spawn(version, replica)
    except RuntimeError as exc:
        Replica.objects.filter(pk=replica.pk).update(status=ReplicaStatus.FAILED, error=str(exc)[:2000], pid=None)
        replica.refresh_from_db()
        return replica
    Replica.objects.filter(pk=replica.pk).update(
        pid=pid, port=port, started_at=timezone.now(), failed_checks=0, status=ReplicaStatus.STARTING, error=""
    )
    replica.refresh_from_db()
    return replica


def mark_replica_running(replica, report=None):
    values = {"status": ReplicaStatus.RUNNING, "checked_at": timezone.now(), "failed_checks": 0}
    if report:
        values.update(requests=report.get("requests", 0), in_flight=report.get("in_flight", 0))
    Replica.objects.filter(pk=replica.pk, status=ReplicaStatus.STARTING, pid=replica.pid).update(**values)


def stop_replica(replica, status=ReplicaStatus.STOPPED):
    processes.stop_pid(replica.pid, replica)
    Replica.objects.filter(pk=replica.pk).update(status=status, in_flight=0)


def deploy(job, handle):
    version = ServiceVersion.objects.select_related("service", "application_version__application__owner").get(
        pk=job.version_id
    )
    if version.status != VersionStatus.DEPLOYING:
        handle.log(f"version {version.number} is {version.status}, not deploying; nothing to do")
        return None
    if on_cluster():
        return deploy_on_cluster(version, handle)
    try:
        prepare_model(version, handle)
        count = max(1, version.predict_min_replicas)
        handle.log(f"starting {count} replica{'s' if count > 1 else ''}")
        replicas = [spawn_replica(version) for _ in range(count)]
        healthy = 0
        for replica in replicas:
            if replica.status == ReplicaStatus.FAILED:
                handle.log(f"replica {replica.pk} failed to start: {replica.error}")
                continue
            handle.log(f"replica {replica.pk}: pid {replica.pid}, port {replica.port}; waiting for its model")
            if processes.wait_healthy(replica, conf.START_TIMEOUT_S):
                report = processes.health(replica) or {}
                mark_replica_running(replica, report)
                if report.get("max_context"):
                    ServiceVersion.objects.filter(pk=version.pk).update(max_context=report["max_context"])
                healthy += 1
            else:
                reason = processes.tail(replica)
                stop_replica(replica, ReplicaStatus.FAILED)
                Replica.objects.filter(pk=replica.pk).update(error=reason[:2000])
                handle.log(f"replica {replica.pk} did not become healthy: {reason}")
        if not healthy:
            raise RuntimeError("no replica became healthy; see the replica logs")
    except Exception as exc:
        for replica in version.replicas.filter(status__in=LIVE_REPLICA_STATUSES):
            stop_replica(replica, ReplicaStatus.FAILED)
        ServiceVersion.objects.filter(pk=version.pk, status=VersionStatus.DEPLOYING).update(
            status=VersionStatus.FAILED, error=str(exc)[:2000]
        )
        log_event(version.service, f"version {version.number} failed to deploy: {exc}", version)
        raise
    updated = ServiceVersion.objects.filter(pk=version.pk, status=VersionStatus.DEPLOYING).update(
        status=VersionStatus.RUNNING, scaled_at=timezone.now()
    )
    if not updated:  # stopped while deploying: the stop job or the supervisor ends the replicas
        handle.log("the version was stopped while deploying")
        return None
    log_event(version.service, f"version {version.number} running with {healthy} replica(s)", version)
    handle.log(f"running: {healthy} replica(s)")
    return healthy


def deploy_on_cluster(version, handle):
    """SERVING_BACKEND=kserve: the model folder in the data folder (which the cluster mounts), then
    the version's InferenceService applied and watched until Ready."""
    try:
        prepare_model(version, handle)
        status = kserve.deploy(version, handle)
    except Exception as exc:
        ServiceVersion.objects.filter(pk=version.pk, status=VersionStatus.DEPLOYING).update(
            status=VersionStatus.FAILED, error=str(exc)[:2000]
        )
        log_event(version.service, f"version {version.number} failed to deploy on the cluster: {exc}", version)
        raise
    if status == VersionStatus.RUNNING:
        ServiceVersion.objects.filter(pk=version.pk).update(scaled_at=timezone.now())
        log_event(version.service, f"version {version.number} running on the cluster at {version.endpoint_url}",
                  version)
    return status


def stop(job, handle):
    """Stop every replica of the service on this host, then mark its versions stopped."""
    service = ModelService.objects.filter(uid=job.service_uid).first()
    if service is None:
        handle.log("the service is gone")
        return None
    ServiceVersion.objects.filter(service=service, status__in=ACTIVE_VERSION_STATUSES).update(
        status=VersionStatus.STOPPING
    )
    if on_cluster():
        kserve.delete_service(service)
        handle.log(f"deleted the InferenceService {kserve.resource_name(service)}")
        ServiceVersion.objects.filter(service=service).update(endpoint_url="")
    deadline = time.monotonic() + 60
    while True:
        live = list(Replica.objects.filter(version__service=service, status__in=LIVE_REPLICA_STATUSES))
        mine = [r for r in live if r.host == processes.host_name()]
        for replica in mine:
            stop_replica(replica)
            handle.log(f"stopped replica {replica.pk} (pid {replica.pid}, port {replica.port})")
        if len(mine) == len(live) or time.monotonic() > deadline:
            break
        time.sleep(1)  # replicas on other hosts: their supervisors stop them
    ServiceVersion.objects.filter(service=service, status=VersionStatus.STOPPING).update(
        status=VersionStatus.STOPPED, desired_replicas=0
    )
    if job.action == ServingAction.DELETE:
        uid = service.uid
        service.delete()
        handle.log(f"deleted service {uid}")
        return None
    log_event(service, "stopped")
    return None


def run_serving_job(job, handle):
    if job.action == ServingAction.DEPLOY:
        return deploy(job, handle)
    return stop(job, handle)


# --- OpenAI-shaped calls ------------------------------------------------------------------------


def _clean_sampling(max_tokens, temperature, top_p=1.0):
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= conf.MAX_TOKENS_LIMIT:
        raise gateway.ModelError(f"max_tokens must be an integer from 1 to {conf.MAX_TOKENS_LIMIT}", param="max_tokens")
    for name, value, high in (("temperature", temperature, 2.0), ("top_p", top_p, 1.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
            raise gateway.ModelError(f"{name} must be a number from 0 to {high:g}", param=name)
    if top_p == 0:
        raise gateway.ModelError("top_p must be greater than 0", param="top_p")


def clean_stop(stop):
    if stop is None:
        return []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and 0 < len(s) <= 100 for s in stop):
        raise gateway.ModelError("stop must be a string or a list of up to 4 non-empty strings", param="stop")
    return stop


def clean_messages(messages):
    if not isinstance(messages, list) or not messages:
        raise gateway.ModelError("messages must be a non-empty list", param="messages")
    if len(messages) > conf.MAX_MESSAGES:
        raise gateway.ModelError(f"at most {conf.MAX_MESSAGES} messages", param="messages")
    cleaned, total = [], 0
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise gateway.ModelError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise gateway.ModelError(f"messages[{i}].role must be system, user, assistant or tool",
                                     param=f"messages[{i}].role")
        if isinstance(content, list):  # [{"type": "text", "text": ...}]
            parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            if len(parts) != len(content) or not all(isinstance(p, str) for p in parts):
                raise gateway.ModelError(f"messages[{i}].content: only text parts are supported",
                                         param=f"messages[{i}].content")
            content = "".join(parts)
        if content is None and role == "assistant":
            content = ""
        if not isinstance(content, str):
            raise gateway.ModelError(f"messages[{i}].content must be a string", param=f"messages[{i}].content")
        total += len(content)
        cleaned.append({"role": "system" if role == "developer" else role, "content": content})
    if total > conf.MAX_PROMPT_CHARS:
        raise gateway.ModelError(f"messages hold more than {conf.MAX_PROMPT_CHARS} characters", param="messages",
                                 code="context_length_exceeded")
    return cleaned


def _generation_service(user, model):
    service = gateway.callable_service(user, model)
    if service.kind != ServiceKind.GENERATE:
        raise gateway.ModelError(f"`{model}` is an embedding model; use /v1/embeddings", param="model")
    return service


def _usage(counts):
    return {"prompt_tokens": counts["prompt_tokens"], "completion_tokens": counts["completion_tokens"],
            "total_tokens": counts["prompt_tokens"] + counts["completion_tokens"]}


def _generate(service, kind, payload, stream):
    """A generation service's answer as OpenAI writes it: a chat.completion (`kind` "chat") or a
    text_completion ("completion") dict, or with `stream` an iterator of its chunk dicts."""
    if on_cluster():
        return kserve.openai_call(service, kind, payload, stream=stream)
    version, replica = gateway.route(service)
    chat = kind == "chat"
    base = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": service.name, "system_fingerprint": f"{service.name}-v{version.number}"}
    if not stream:
        result = gateway.call(replica, "/generate", payload)
        return {**base, "choices": [_choice(chat, result["text"], result["finish_reason"], whole=True)],
                "usage": _usage(result)}
    return _chunks(gateway.stream(replica, "/generate", {**payload, "stream": True}), base, chat)


def _choice(chat, text, finish_reason, whole=False):
    if not chat:
        content = {"text": text}
    elif whole:
        content = {"message": {"role": "assistant", "content": text}}
    else:
        content = {"delta": {} if text is None else {"content": text}}
    return {"index": 0, **content, "logprobs": None, "finish_reason": finish_reason}


def _chunks(events, base, chat):
    if chat:
        base = {**base, "object": "chat.completion.chunk"}
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                    "finish_reason": None}]}
    for event in events:
        if event.get("done"):
            yield {**base, "choices": [_choice(chat, None if chat else "", event["finish_reason"])],
                   "usage": _usage(event)}
            return
        yield {**base, "choices": [_choice(chat, event["text"], None)]}


def chat_completion(*, user, model, messages, max_tokens=128, temperature=0.7, stream=False, top_p=1.0, stop=None,
                    seed=None):
    """OpenAI chat.completion dict, or (stream=True) an iterator of chat.completion.chunk dicts.

    `model` is a service name the user may call. Raises NotFound (unknown or not yours),
    InvalidInput (bad parameters, prompt too long: gateway.ModelError), Unavailable (503).
    """
    messages = clean_messages(messages)
    _clean_sampling(max_tokens, temperature, top_p)
    stop = clean_stop(stop)
    service = _generation_service(user, model)
    return _generate(service, "chat", {"messages": messages, "max_tokens": max_tokens, "temperature": temperature,
                                       "top_p": top_p, "stop": stop, "seed": seed}, stream)


def completion(*, user, model, prompt, max_tokens=16, temperature=1.0, stream=False, top_p=1.0, stop=None, seed=None):
    """OpenAI text_completion dict (or an iterator of its stream chunks). One prompt per request."""
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise gateway.ModelError("prompt: give one string (lists of prompts and token ids are not supported)",
                                     param="prompt")
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise gateway.ModelError("prompt must be a string", param="prompt")
    if len(prompt) > conf.MAX_PROMPT_CHARS:
        raise gateway.ModelError(f"prompt is longer than {conf.MAX_PROMPT_CHARS} characters", param="prompt",
                                 code="context_length_exceeded")
    _clean_sampling(max_tokens, temperature, top_p)
    stop = clean_stop(stop)
    service = _generation_service(user, model)
    return _generate(service, "completion", {"prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
                                             "top_p": top_p, "stop": stop, "seed": seed}, stream)


def embeddings(*, user, model, input, encoding_format="float"):
    if isinstance(input, str):
        input = [input]
    if not isinstance(input, list) or not input or not all(isinstance(t, str) for t in input):
        raise gateway.ModelError("input must be a string or a non-empty list of strings", param="input")
    if len(input) > conf.MAX_EMBED_INPUTS:
        raise gateway.ModelError(f"at most {conf.MAX_EMBED_INPUTS} inputs per request", param="input")
    if sum(len(t) for t in input) > conf.MAX_PROMPT_CHARS:
        raise gateway.ModelError(f"input holds more than {conf.MAX_PROMPT_CHARS} characters", param="input")
    if encoding_format not in ("float", "base64"):
        raise gateway.ModelError("encoding_format must be float or base64", param="encoding_format")
    service = gateway.callable_service(user, model)
    if service.kind != ServiceKind.EMBEDDING:
        raise gateway.ModelError(f"`{model}` is not an embedding model", param="model")
    if on_cluster():
        return kserve.openai_call(service, "embedding", {"input": input, "encoding_format": encoding_format})
    version, replica = gateway.route(service)
    result = gateway.call(replica, "/embed", {"input": input})
    data = []
    for index, vector in enumerate(result["data"]):
        if encoding_format == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    return {"object": "list", "data": data, "model": service.name,
            "usage": {"prompt_tokens": result["prompt_tokens"], "total_tokens": result["prompt_tokens"]}}


def stop_host_replica_processes():
    """Stop the replica processes of this host, leaving their records as they are.

    For shutting a host down (bin/up does it on exit): replicas are detached so that they
    outlive worker restarts, so without this they would outlive the platform too. The
    supervisor of the next serving worker finds them dead and starts them again.
    """
    stopped = 0
    for replica in Replica.objects.filter(host=processes.host_name(), status__in=LIVE_REPLICA_STATUSES):
        if replica.pid and processes.stop_pid(replica.pid, replica):
            stopped += 1
    return stopped
