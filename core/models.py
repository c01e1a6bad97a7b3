from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .scoping import ScopedQuerySet


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """The database record of any long-running thing (training run, import, evaluation...).

    The record, not Celery, is the truth: status, progress, log, error and a heartbeat
    that the running worker refreshes. `core.services.reap_stale_jobs` fails or requeues
    a job whose heartbeat stopped (its worker died). Concrete subclasses set `task_name`,
    the Celery task that runs them with the job's primary key as its only argument.
    """

    task_name: str = ""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    log = models.TextField(blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1, help_text="Runs allowed before a lost job is failed")
    cancel_requested = models.BooleanField(default=False)
    # Resources the job holds while queued or running; they count against the owner's quota.
    cpu = models.PositiveIntegerField(default=0)
    gpu = models.PositiveIntegerField(default=0)
    memory_gb = models.FloatField(default=0.0)
    mig = models.PositiveIntegerField(default=0)
    vgpu = models.PositiveIntegerField(default=0)

    # Jobs are their owner's: `Model.objects.visible_to(user)` / `owned_by(user)` (core.scoping).
    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_active(self):
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self):
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self):
        if not self.started_at:
            return None

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class DiagnosticJob(Job):
    """A job that only waits: used to check that workers run jobs, and by the recovery tests."""

    task_name = "core.run_diagnostic_job"

    seconds = models.FloatField(default=1.0)
    queue = models.CharField(max_length=32, default="default")

    class Meta(Job.Meta):
        verbose_name = "diagnostic job"

    def __str__(self):
        return f"diagnostic #{self.pk} ({self.status})"


class WorkerHeartbeat(models.Model):
    """Written by every worker process every WORKER_HEARTBEAT_SECONDS; /healthz reads it."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField(default=0)
    queues = models.CharField(max_length=255, blank=True, default="")
    sandbox = models.CharField(max_length=255, blank=True, default="", help_text="how its jobs' code is boxed")
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self):
        return self.hostname
