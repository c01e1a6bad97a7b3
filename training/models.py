from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Job
from core.scoping import ScopedQuerySet


class TaskQuerySet(ScopedQuerySet):
    """A user's own tasks (platform admins see everyone's)."""


class Strategy(models.TextChoices):
    LORA = "LoRA", "LoRA"
    FINE_TUNE = "FineTune", _("FineTune (all weights)")


class ModelSource(models.TextChoices):
    REGISTRY = "registry", "Registry version"
    FILES = "files", "Folder in the file space"
    HUB = "hub", "Hub model repository"


class DataSource(models.TextChoices):
    FILES = "files", "Folder in the file space"
    HUB = "hub", "Hub dataset repository"


class LlmTask(Job):
    """A fine-tune (LoRA or all weights) or pretraining run of a causal language model.

    platform-api.md sections 4 and 5. The run is a child process (training.runner) started
    by the worker; its metric lines become MetricRow records.
    """

    task_name = "training.run_llm_task"
    objects = TaskQuerySet.as_manager()

    name = models.CharField(max_length=128)
    description = models.TextField(blank=True, default="")
    is_pretrain = models.BooleanField(default=False)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.LORA)
    model_source = models.CharField(max_length=16, choices=ModelSource.choices)
    model_ref = models.CharField(max_length=1024, help_text="version id, folder path or owner/name")
    data_source = models.CharField(max_length=16, choices=DataSource.choices)
    data_ref = models.CharField(max_length=1024, help_text="folder path or owner/name")
    hyper_parameters = models.JSONField(default=dict, blank=True, help_text="resolved name -> value")
    config_source = models.CharField(max_length=1024, blank=True, default="", help_text="config.json that was read")
    request = models.JSONField(default=dict, blank=True, help_text="the createTaskBO as received")
    image = models.CharField(max_length=512, blank=True, default="")
    output_dir = models.CharField(max_length=1024, blank=True, default="", help_text="folder in the private space for the result")
    checkpoint_dir = models.CharField(max_length=1024, blank=True, default="")
    merge = models.BooleanField(default=False, help_text="also merge the LoRA adapter into a full model")
    checkpoints = models.JSONField(default=list, blank=True)
    total_steps = models.PositiveIntegerField(default=0)
    current_step = models.PositiveIntegerField(default=0)
    produced_version = models.ForeignKey("registry.AiApplicationVersion", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="produced_by")
    merged_version = models.ForeignKey("registry.AiApplicationVersion", null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="merged_by")
    merge_status = models.CharField(max_length=16, blank=True, default="", help_text="'', running, done, failed")
    merge_error = models.TextField(blank=True, default="")
    schedule = models.JSONField(
        default=dict, blank=True,
        help_text="cadences the run chose (training.schedule.plan, with reasons) and its evaluation timing",
    )
    queue = models.CharField(max_length=32, default="training")

    class Meta(Job.Meta):
        verbose_name = "LLM training task"

    def __str__(self):
        kind = "pretrain" if self.is_pretrain else self.strategy
        return f"{self.name} #{self.pk} ({kind}, {self.status})"


class MetricRow(models.Model):
    """One logging step of a run: training loss and/or evaluation loss (one row per logged step, a few
    float columns; readers downsample or page them by step)."""

    task = models.ForeignKey(LlmTask, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    epoch = models.FloatField(null=True, blank=True)
    loss = models.FloatField(null=True, blank=True)
    eval_loss = models.FloatField(null=True, blank=True)
    eval_blocks = models.PositiveIntegerField(null=True, blank=True, help_text="validation blocks behind eval_loss")
    learning_rate = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    time = models.FloatField(null=True, blank=True, help_text="seconds since the run (attempt) started")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["step", "pk"]
        indexes = [models.Index(fields=["task", "step"])]

    def __str__(self):
        return f"task {self.task_id} step {self.step}"


class CodeTaskType(models.TextChoices):
    PYTORCH = "PyTorch", "PyTorch"
    TENSORFLOW = "TensorFlow", "TensorFlow"
    SKLEARN = "scikit-learn", "scikit-learn"
    MPI = "MPI", "MPI"


class CodeTask(Job):
    """Task-based modeling (platform-api.md section 6): a user's command in their working folder."""

    task_name = "training.run_code_task"
    objects = TaskQuerySet.as_manager()

    name = models.CharField(max_length=128)
    description = models.TextField(blank=True, default="")
    type = models.CharField(max_length=16, choices=CodeTaskType.choices, default=CodeTaskType.PYTORCH)
    image = models.CharField(max_length=512, blank=True, default="")
    command = models.TextField()
    working_dir = models.CharField(max_length=1024, blank=True, default="", help_text="folder in the private space")
    output_dir = models.CharField(max_length=1024, blank=True, default="", help_text="where outputs are copied back")
    variables = models.JSONField(default=dict, blank=True)
    nodes = models.PositiveIntegerField(default=1)
    wall_time_seconds = models.PositiveIntegerField(default=3600)
    backend = models.CharField(max_length=16, default="local")
    manifest = models.JSONField(default=dict, blank=True, help_text="the Kubeflow manifest of this job")
    request = models.JSONField(default=dict, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    memory_exceeded = models.BooleanField(default=False)
    outputs = models.JSONField(default=list, blank=True, help_text="files copied back to the file space")
    queue = models.CharField(max_length=32, default="training")

    class Meta(Job.Meta):
        verbose_name = "task-based modeling job"

    def __str__(self):
        return f"{self.name} #{self.pk} ({self.type}, {self.status})"
