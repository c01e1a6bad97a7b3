import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Job
from core.scoping import ScopedQuerySet


class Kind(models.TextChoices):
    BUILTIN = "builtin", _("Built-in metrics")
    CUSTOM = "custom", _("Custom script")


class Source(models.TextChoices):
    """Where a model or a dataset comes from."""

    NONE = "", _("None")
    REGISTRY = "registry", _("Registry version")
    FILES = "files", _("Folder in the private space")
    HUB = "hub", _("Hub repository")


class EvaluationTask(Job):
    """A model evaluation (platform-api.md section 7).

    Built-in: the evaluation.runner child process computes the chosen metrics of a model
    on a dataset's test split. Custom: the user's command runs in a scratch copy of their
    work folder and the metrics it writes to outputDir/metrics.json are collected.
    """

    task_name = "evaluation.run_evaluation"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="the spec's task id")
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BUILTIN)
    # Custom scripts: what runs and where.
    image = models.CharField(max_length=512, blank=True, default="")
    command = models.TextField(blank=True, default="")
    work_dir = models.CharField(max_length=1024, blank=True, default="", help_text="folder in the private space")
    env = models.JSONField(default=dict, blank=True, help_text="environment variables: name -> value")
    wall_time_seconds = models.PositiveIntegerField(default=3600)
    # The model under evaluation (and the base model of a LoRA adapter).
    model_type = models.CharField(max_length=16, blank=True, default="", help_text="the spec's modelType: local | aiApp")
    model_source = models.CharField(max_length=16, choices=Source.choices, blank=True, default="")
    model_ref = models.CharField(max_length=1024, blank=True, default="", help_text="version id or folder path")
    version = models.ForeignKey(
        "registry.AiApplicationVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )
    version_label = models.CharField(max_length=256, blank=True, default="", help_text="aiAppVersionName")
    base_source = models.CharField(max_length=16, choices=Source.choices, blank=True, default="")
    base_ref = models.CharField(max_length=1024, blank=True, default="", help_text="base model of an adapter")
    # The dataset.
    input_type = models.CharField(max_length=16, blank=True, default="", help_text="the spec's inputType: local | dataset")
    data_source = models.CharField(max_length=16, choices=Source.choices, blank=True, default="")
    data_ref = models.CharField(max_length=1024, blank=True, default="", help_text="folder path or owner/name")
    split = models.CharField(max_length=64, default="test")
    storage_medium = models.CharField(max_length=64, blank=True, default="")
    dataset_id = models.CharField(max_length=64, blank=True, default="")
    dataset_name = models.CharField(max_length=300, blank=True, default="")
    # Built-in metrics and their settings.
    metrics = models.JSONField(default=list, blank=True, help_text="built-in metric names")
    settings = models.JSONField(default=dict, blank=True, help_text="max_samples, max_new_tokens, max_length, batch_size")
    # Where results go, and the spec's bookkeeping fields.
    output_dir = models.CharField(max_length=1024, blank=True, default="", help_text="folder in the private space")
    resource_group_id = models.CharField(max_length=64, blank=True, default="")
    resource_group_name = models.CharField(max_length=128, blank=True, default="")
    resource_group_key = models.CharField(max_length=128, blank=True, default="")
    resource = models.JSONField(default=dict, blank=True, help_text="the EvaluationResourceVO as received")
    request = models.JSONField(default=dict, blank=True, help_text="the create body as received")
    # Outcome.
    results = models.JSONField(default=dict, blank=True, help_text="metric name -> value")
    details = models.JSONField(default=dict, blank=True, help_text="counts, settings and library versions of the run")
    samples = models.PositiveIntegerField(default=0, help_text="records evaluated")
    exit_code = models.IntegerField(null=True, blank=True)
    outputs = models.JSONField(default=list, blank=True, help_text="files written to the private space")
    queue = models.CharField(max_length=32, default="evaluation")

    objects = ScopedQuerySet.as_manager()  # the owner's tasks (every task for platform admins)

    class Meta(Job.Meta):
        verbose_name = "evaluation task"

    def __str__(self):
        return f"{self.name} #{self.pk} ({self.kind}, {self.status})"


class MetricValue(models.Model):
    """One collected metric of a task: the rows that comparisons and charts read."""

    task = models.ForeignKey(EvaluationTask, on_delete=models.CASCADE, related_name="values")
    name = models.CharField(max_length=128)
    value = models.FloatField()

    class Meta:
        ordering = ["task_id", "name"]
        constraints = [models.UniqueConstraint(fields=["task", "name"], name="evaluation_metric_unique_name")]

    def __str__(self):
        return f"{self.name}={self.value:g} (task {self.task_id})"
