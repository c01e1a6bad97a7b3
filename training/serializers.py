"""The clean API's serializers (training.api): tasks, metric rows and the arguments of the services."""

from rest_framework import serializers

from . import services
from .models import CodeTask, LlmTask, MetricRow

TASK_FIELDS = ["id", "name", "description", "owner", "status", "progress", "error", "attempts", "image", "cpu",
               "memory_gb", "gpu", "created_at", "started_at", "finished_at", "output_dir"]


class MetricRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = MetricRow
        fields = ["step", "epoch", "loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second", "time"]


class LlmTaskSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", allow_null=True, read_only=True)
    produced_version = serializers.SlugRelatedField(slug_field="uid", read_only=True)
    merged_version = serializers.SlugRelatedField(slug_field="uid", read_only=True)

    class Meta:
        model = LlmTask
        fields = [*TASK_FIELDS, "is_pretrain", "strategy", "model_source", "model_ref", "data_source", "data_ref",
                  "hyper_parameters", "config_source", "checkpoints", "current_step", "total_steps",
                  "produced_version", "merged_version", "merge_status", "merge_error", "schedule"]


class CodeTaskSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", allow_null=True, read_only=True)

    class Meta:
        model = CodeTask
        fields = [*TASK_FIELDS, "type", "command", "working_dir", "variables", "nodes", "wall_time_seconds",
                  "backend", "exit_code", "memory_exceeded", "outputs", "manifest"]


class ResourcesInput(serializers.Serializer):
    cpu = serializers.IntegerField(min_value=1, max_value=4096, default=services.DEFAULT_CPU)
    memory_gb = serializers.FloatField(min_value=0.1, max_value=1_000_000, default=services.DEFAULT_MEMORY_GB)
    gpu = serializers.IntegerField(min_value=0, max_value=1024, default=0)
    nodes = serializers.IntegerField(min_value=1, max_value=1024, default=1)

    def to_internal_value(self, data):
        return services.Resources(**super().to_internal_value(data))


class TaskInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=96)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    image = serializers.CharField(required=False, allow_blank=True, max_length=512)
    output_dir = serializers.CharField(required=False, allow_blank=True, max_length=1024)
    resources = ResourcesInput(required=False)


class FineTuneInput(TaskInput):
    pretrain = serializers.BooleanField(default=False)
    base_version = serializers.CharField(required=False, allow_blank=True, help_text="a registry version id")
    base_folder = serializers.CharField(required=False, allow_blank=True, help_text="a folder of your files")
    base_model = serializers.CharField(required=False, allow_blank=True,
                                       help_text="a registry application id, or a hub model's id or owner/name")
    base_model_version = serializers.CharField(required=False, allow_blank=True)
    dataset = serializers.CharField(required=False, allow_blank=True, help_text="a hub dataset, owner/name")
    data_folder = serializers.CharField(required=False, allow_blank=True, help_text="default Data")
    strategy = serializers.CharField(required=False, help_text="LoRA or FineTune")
    hyper = serializers.DictField(required=False, help_text="hyper-parameter name -> value")
    config_path = serializers.CharField(required=False, allow_blank=True)
    checkpoint_dir = serializers.CharField(required=False, allow_blank=True)
    merge = serializers.BooleanField(default=False)


class CodeTaskInput(TaskInput):
    command = serializers.CharField(max_length=services.MAX_COMMAND_CHARS)
    type = serializers.CharField(required=False, help_text="PyTorch, TensorFlow, scikit-learn or MPI")
    working_dir = serializers.CharField(required=False, allow_blank=True)
    variables = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    wall_time_seconds = serializers.IntegerField(min_value=1, max_value=services.MAX_WALL_TIME_SECONDS, required=False)


class MetricsInput(serializers.Serializer):
    since = serializers.IntegerField(min_value=0, required=False, help_text="only the rows logged after this step")


class LlmTaskMetricsSerializer(LlmTaskSerializer):
    """A run with a page of its metric rows (the answer is built in the view; this documents it)."""

    metrics = MetricRowSerializer(many=True)
    since = serializers.IntegerField(allow_null=True)
    last_step = serializers.IntegerField(allow_null=True, help_text="the `since` of the next poll")
    log = serializers.CharField()

    class Meta(LlmTaskSerializer.Meta):
        fields = [*LlmTaskSerializer.Meta.fields, "metrics", "since", "last_step", "log"]
