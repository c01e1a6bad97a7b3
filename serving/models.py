"""Inference services (the spec's ModelServer), their versions, replicas and events.

A service has a name its owner calls it by (the OpenAI `model`); each version serves one
registry version with a traffic weight (`rate`) and replica bounds. Each replica is a
`serving.replica` process on the serving host; the rows are the truth the supervisor
(serving.supervisor) works from: it restarts dead replicas and scales versions.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import Job
from core.scoping import ScopedQuerySet


def new_uid():
    return uuid.uuid4().hex


class ServiceKind(models.TextChoices):
    GENERATE = "generate", _("Text generation (chat, completions)")
    EMBEDDING = "embedding", _("Embeddings")


class VersionStatus(models.TextChoices):
    SAVED = "saved", _("Saved (not deployed)")
    DEPLOYING = "deploying", _("Deploying")
    RUNNING = "running", _("Running")
    FAILED = "failed", _("Failed")
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")


ACTIVE_VERSION_STATUSES = (VersionStatus.DEPLOYING, VersionStatus.RUNNING)


class Metric(models.IntegerChoices):
    RPS = 1, _("Requests per second")
    CONCURRENCY = 2, _("Concurrency")
    GPU = 3, _("GPU use (GPU hosts only)")


class Sharing(models.TextChoices):
    PRIVATE = "private", _("Private (only the owner)")
    TEAM = "team", _("The owner's team")
    EVERYONE = "everyone", _("Everyone on the platform")


class ServiceQuerySet(ScopedQuerySet):
    """visible_to(user): the services a user may call (their own, and those shared with everyone or
    with their team); owned_by(user): those they manage."""

    @staticmethod
    def shared(user):
        condition = Q(sharing=Sharing.EVERYONE)
        if getattr(user, "team_id", None):
            condition |= Q(sharing=Sharing.TEAM, shared_team_id=user.team_id)
        return condition


class ModelService(models.Model):
    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="model_services")
    name = models.CharField(max_length=64, help_text="what clients pass as `model`")
    description = models.TextField(blank=True, default="")
    path = models.CharField(max_length=255, blank=True, default="", help_text="the spec's internal access path")
    kind = models.CharField(max_length=16, choices=ServiceKind.choices, default=ServiceKind.GENERATE)
    # Who else may call it (through /v1, the playground and chat); only the owner manages it.
    sharing = models.CharField(
        max_length=16, choices=Sharing.choices, default=Sharing.PRIVATE,
        help_text="who may call it besides its owner: nobody, the members of the owner's team, or everyone",
    )
    shared_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="shared_services",
        help_text="with sharing 'team': the team whose members may call it (the owner's team when it was shared)",
    )
    deleting = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="serving_service_unique_owner_name")]

    def __str__(self):
        return f"{self.owner.username}/{self.name}"

    @property
    def request_count(self):
        """Requests routed to any of its versions (prefetch `versions` to avoid a query)."""
        return sum(v.request_count for v in self.versions.all())


class ServiceVersion(models.Model):
    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    service = models.ForeignKey(ModelService, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    application_version = models.ForeignKey(
        "registry.AiApplicationVersion", null=True, on_delete=models.SET_NULL, related_name="service_versions"
    )
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.SAVED, db_index=True)
    error = models.TextField(blank=True, default="")
    rate = models.PositiveIntegerField(default=100, help_text="traffic weight among the service's running versions")
    predict_min_replicas = models.PositiveIntegerField(default=1)
    predict_max_replicas = models.PositiveIntegerField(default=1)
    metric = models.PositiveSmallIntegerField(choices=Metric.choices, default=Metric.RPS)
    monitor_threshold = models.FloatField(default=100.0, help_text="per-replica target of the metric")
    desired_replicas = models.PositiveIntegerField(default=0)
    # Resources and the spec's container fields, kept as given (this host runs processes).
    cpu = models.PositiveIntegerField(default=1)
    memory = models.PositiveIntegerField(default=1)
    gpu = models.PositiveIntegerField(default=0)
    gpu_share = models.CharField(max_length=32, blank=True, default="none")
    command = models.CharField(max_length=1000, blank=True, default="")
    image = models.CharField(max_length=300, blank=True, default="")
    image_ports = models.CharField(max_length=100, blank=True, default="")
    envs = models.TextField(blank=True, default="[]")
    volumes = models.TextField(blank=True, default="[]")
    req_method = models.CharField(max_length=8, default="rest")
    resource_group_id = models.CharField(max_length=64, blank=True, default="")
    resource_group_name = models.CharField(max_length=100, blank=True, default="")
    resource_group_key = models.CharField(max_length=100, blank=True, default="")
    hyper_parameters = models.TextField(blank=True, default="null")
    extra = models.JSONField(default=dict, blank=True, help_text="other spec fields, as given")
    # Filled at deploy.
    model_dir = models.CharField(max_length=1024, blank=True, default="")
    base_dir = models.CharField(max_length=1024, blank=True, default="", help_text="base model of a LoRA adapter")
    max_context = models.PositiveIntegerField(null=True, blank=True)
    endpoint_url = models.CharField(
        max_length=500, blank=True, default="",
        help_text="SERVING_BACKEND=kserve: the InferenceService's URL, read back from the cluster",
    )
    request_count = models.PositiveBigIntegerField(default=0)
    scaled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service_id", "number"]
        constraints = [models.UniqueConstraint(fields=["service", "number"], name="serving_version_unique_number")]

    def __str__(self):
        return f"{self.service} v{self.number}"


class ReplicaStatus(models.TextChoices):
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"


LIVE_REPLICA_STATUSES = (ReplicaStatus.STARTING, ReplicaStatus.RUNNING)


class Replica(models.Model):
    version = models.ForeignKey(ServiceVersion, on_delete=models.CASCADE, related_name="replicas")
    host = models.CharField(max_length=255, help_text="serving host that runs the process")
    address = models.CharField(max_length=255, default="127.0.0.1", help_text="where the gateway reaches it")
    token_salt = models.CharField(max_length=64, blank=True, default="", help_text="salt of this process's bearer token")
    pid = models.PositiveIntegerField(null=True, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ReplicaStatus.choices, default=ReplicaStatus.STARTING, db_index=True)
    restarts = models.PositiveIntegerField(default=0)
    failed_checks = models.PositiveIntegerField(default=0)
    requests = models.PositiveBigIntegerField(default=0, help_text="served since the process started")
    in_flight = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version_id", "id"]

    def __str__(self):
        return f"{self.version} replica {self.pk} ({self.status})"

    @property
    def url(self):
        return f"http://{self.address}:{self.port}"


class ServiceEvent(models.Model):
    """What happened to a service: deploys, restarts, scaling, stops."""

    service = models.ForeignKey(ModelService, on_delete=models.CASCADE, related_name="events")
    version = models.ForeignKey(ServiceVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    message = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.message


class ServingAction(models.TextChoices):
    DEPLOY = "deploy", "Deploy"
    STOP = "stop", "Stop"
    DELETE = "delete", "Delete"


class ServingJob(Job):
    """Deploys a version, or stops (and maybe deletes) a service, on the serving host."""

    task_name = "serving.run_serving_job"
    queue = "serving"

    action = models.CharField(max_length=8, choices=ServingAction.choices)
    service = models.ForeignKey(ModelService, null=True, on_delete=models.SET_NULL, related_name="jobs")
    version = models.ForeignKey(ServiceVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    service_uid = models.CharField(max_length=32, blank=True, default="")

    class Meta(Job.Meta):
        verbose_name = "serving job"

    def __str__(self):
        return f"{self.action} {self.service_uid} ({self.status})"
