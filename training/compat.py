"""platform-api.md sections 4-6 under /kernel/, in the kernel envelope (errors carry the HTTP status as
returnCode). Each Input reads a createTaskBO (nested or flat, query parameters too) into the services'
arguments; each Output writes the spec's task shapes."""

import math

from django.urls import path
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.child_process import parse_env_variables
from core.facades import FacadeView, PageInput, StrictInteger, Text, UserIdCheck, facade, optional_text, page
from core.selectors import STATUS_FILTER_CHOICES
from registry.selectors import public_version_id

from . import hyper, selectors, services
from .filters import CodeTaskFilter, LlmTaskFilter
from .models import CodeTaskType
from .serializers import MetricRowSerializer

TAGS = ["platform training (training)"]


def opt(source=None, max_length=1024, **kwargs):
    """An optional text field of a createTaskBO (trimmed; 1024 characters unless said)."""
    return optional_text(source=source, max_length=max_length, trim_whitespace=True, **kwargs)


class HyperItem(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField()
    description = serializers.CharField(required=False)


class HyperList(serializers.ListField):
    """commonHyperParameters / fineTuneHyperParameters: [{name, value, description}] -> {name: value}."""

    def __init__(self, **kwargs):
        super().__init__(child=HyperItem(), required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data):
        return hyper.parse_list(data, self.field_name)


class GpuResource(serializers.Serializer):
    gpuNum = StrictInteger(source="gpu", required=False, allow_null=True, min_value=0, max_value=1024)


class ResourceItem(serializers.Serializer):
    cpuNumber = StrictInteger(source="cpu", required=False, allow_null=True, min_value=0, max_value=4096)
    memory = serializers.FloatField(source="memory_gb", required=False, allow_null=True, min_value=0,
                                    max_value=1_000_000, help_text="GB")
    gpuResource = GpuResource(source="gpu_resource", required=False, allow_null=True)
    numbers = StrictInteger(source="count", required=False, allow_null=True, min_value=0, max_value=1024)


def resources(items):
    """The spec's `resource` list summed into what the task asks for."""
    counted = [(item.get("count") or 1, item) for item in items or []]
    if not counted:
        return services.Resources()
    cpu = sum(n * (services.DEFAULT_CPU if i.get("cpu") is None else i["cpu"]) for n, i in counted)
    memory = sum(n * (services.DEFAULT_MEMORY_GB if i.get("memory_gb") is None else i["memory_gb"]) for n, i in counted)
    if not math.isfinite(memory):
        raise serializers.ValidationError({"resource": "memory must be a number of GB"})
    gpu = sum(n * ((i.get("gpu_resource") or {}).get("gpu") or 0) for n, i in counted)
    return services.Resources(max(cpu, 1), max(memory, 0.1), gpu, max(sum(n for n, _ in counted), 1))


class TaskBody(serializers.Serializer):
    """The createTaskBO fields both kinds of task share."""

    createTaskBO = serializers.DictField(required=False, help_text="the same fields, nested (section 6.1)")
    name = opt(max_length=96)
    jobName = opt("job_name", 96)
    describe = opt("description", 2000)
    image = opt(max_length=512)
    outputDir = opt("output_dir")
    resource = ResourceItem(source="resources", many=True, required=False, allow_null=True, max_length=16)
    userId = UserIdCheck()
    userName = UserIdCheck()

    def to_internal_value(self, data):
        nested = data.get("createTaskBO")
        if nested is not None:
            if not isinstance(nested, dict):
                raise serializers.ValidationError({"createTaskBO": "must be an object"})
            data = {**{k: v for k, v in data.items() if k != "createTaskBO"}, **nested}
        return super().to_internal_value(data)

    def validate(self, attrs):
        attrs["name"] = attrs.get("name") or attrs.pop("job_name", None)
        attrs["resources"] = resources(attrs.get("resources"))
        return {key: value for key, value in attrs.items() if value is not None and key != "job_name"}


class FineTuneBody(TaskBody):
    isPretrain = StrictInteger(source="pretrain", required=False, allow_null=True, min_value=0, max_value=1)
    fineTuneStrategy = opt("strategy", 16, help_text="LoRA or FineTune")
    modelVersionId = opt("base_version", 64, help_text="a registry version id (section 3)")
    originModelDir = opt("base_folder", help_text="a save_pretrained folder of the private space")
    modelId = opt("base_model", 300, help_text="a registry application id, or a hub model's id or owner/name")
    modelVersion = opt("base_model_version", 32, help_text="the version of the application modelId names")
    inputType = opt("data_kind", 32, help_text="local or dataset")
    inputDir = opt("data_folder", help_text="default /Data")
    dataSetName = opt("dataset", 300, help_text="owner/name of a hub dataset")
    commonHyperParameters = HyperList(source="common_hyper")
    fineTuneHyperParameters = HyperList(source="tuning_hyper")
    profilePath = opt("config_path")
    checkPointDir = opt("checkpoint_dir")
    merge = serializers.JSONField(required=False, help_text="also merge the LoRA adapter (true or 1)")

    def validate(self, attrs):
        kind = (attrs.pop("data_kind", None) or "").lower()
        if kind == "dataset" and not attrs.get("dataset"):
            raise serializers.ValidationError(
                {"dataSetName": "the owner/name of a hub dataset is required when inputType is dataset"})
        if kind != "dataset" and (kind == "local" or "/" not in (attrs.get("dataset") or "")):
            attrs.pop("dataset", None)
        attrs["hyper"] = {**(attrs.pop("common_hyper", None) or {}), **(attrs.pop("tuning_hyper", None) or {})}
        attrs["merge"] = attrs.get("merge") in (True, 1, "1", "true")
        return super().validate(attrs)


class CodeTaskBody(TaskBody):
    type = opt(max_length=32, help_text=", ".join(CodeTaskType.values))
    command = optional_text()
    commands = serializers.ListField(child=Text(allow_blank=True), required=False, allow_null=True, max_length=100)
    mpiCommand = opt("mpi_command", services.MAX_COMMAND_CHARS)
    workingDir = opt("working_dir")
    variable = serializers.JSONField(source="variables", required=False, help_text='[{"KEY": "value"}, ...]')
    wallTimeSeconds = StrictInteger(source="wall_time_seconds", required=False, allow_null=True)

    def validate(self, attrs):
        command = attrs.get("command") or " && ".join(c for c in attrs.pop("commands", None) or [] if c.strip())
        mpi = attrs.pop("mpi_command", None)
        attrs["command"] = command or (mpi if attrs.get("type") == CodeTaskType.MPI else "") or ""
        variables = attrs.get("variables")
        attrs["variables"] = {} if variables in (None, "", []) else parse_env_variables(variables, "variable", limit=100)
        return super().validate(attrs)


class ListInput(PageInput):
    status = serializers.ChoiceField(choices=STATUS_FILTER_CHOICES, required=False, allow_blank=True, allow_null=True)
    taskName = opt("name", 128)
    userId = UserIdCheck()
    userName = UserIdCheck()


class LlmListInput(ListInput):
    isPretrain = StrictInteger(source="pretrain", required=False, allow_null=True, min_value=0, max_value=1)


class TaskIdInput(serializers.Serializer):
    taskId = StrictInteger(source="pk", min_value=0, max_value=10**18)


class Resource(serializers.Serializer):
    cpuNumber = serializers.IntegerField(source="cpu")
    memory = serializers.FloatField(source="memory_gb")
    gpuNum = serializers.IntegerField(source="gpu")


class TaskRow(serializers.Serializer):
    taskId = serializers.CharField(source="pk")
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    describe = serializers.CharField(source="description")
    status = serializers.CharField()
    progress = serializers.SerializerMethodField()
    error = serializers.CharField()
    userId = serializers.CharField(source="owner_id", allow_null=True)
    userName = serializers.CharField(source="owner.username", allow_null=True)
    image = serializers.CharField()
    createTime = serializers.DateTimeField(source="created_at")
    startTime = serializers.DateTimeField(source="started_at", allow_null=True)
    endTime = serializers.DateTimeField(source="finished_at", allow_null=True)
    duration = serializers.FloatField(source="duration_seconds", allow_null=True)
    attempts = serializers.IntegerField()
    resource = Resource(source="*")

    def get_progress(self, task) -> float:
        return round(task.progress, 4)


class Ref(serializers.CharField):
    """The task's model (or data) reference when it comes from `kind`, else null."""

    def __init__(self, kind, what="model"):
        self.kind, self.what = kind, what
        super().__init__(allow_null=True, read_only=True)

    def get_attribute(self, task):
        return getattr(task, f"{self.what}_ref") if getattr(task, f"{self.what}_source") == self.kind else None


class LlmTaskRow(TaskRow):
    isPretrain = serializers.IntegerField(source="is_pretrain")
    fineTuneStrategy = serializers.CharField(source="strategy")
    modelSource = serializers.CharField(source="model_source")
    modelVersionId = serializers.SerializerMethodField()
    originModelDir = Ref("files")
    modelId = Ref("hub")
    inputType = serializers.SerializerMethodField()
    inputDir = Ref("files", "data")
    dataSetName = Ref("hub", "data")
    outputDir = serializers.CharField(source="output_dir")
    currentStep = serializers.IntegerField(source="current_step")
    totalSteps = serializers.IntegerField(source="total_steps")
    producedVersionId = serializers.CharField(source="produced_version.uid", allow_null=True)
    mergedVersionId = serializers.CharField(source="merged_version.uid", allow_null=True)
    mergeStatus = serializers.CharField(source="merge_status")

    def get_modelVersionId(self, task) -> str | None:
        return public_version_id(task.model_ref) if task.model_source == "registry" else None

    def get_inputType(self, task) -> str:
        return "dataset" if task.data_source == "hub" else "local"


class LlmTaskDetail(LlmTaskRow):
    commonHyperParameters = serializers.SerializerMethodField()
    fineTuneHyperParameters = serializers.SerializerMethodField()
    configSource = serializers.CharField(source="config_source")
    checkPointDir = serializers.CharField(source="checkpoint_dir")
    checkpoints = serializers.ListField(child=serializers.CharField())
    metrics = serializers.SerializerMethodField()
    log = serializers.SerializerMethodField()
    mergeError = serializers.CharField(source="merge_error")

    @extend_schema_field(HyperItem(many=True))
    def get_commonHyperParameters(self, task):
        return hyper.as_config_lists(task.hyper_parameters)[0]

    @extend_schema_field(HyperItem(many=True))
    def get_fineTuneHyperParameters(self, task):
        return hyper.as_config_lists(task.hyper_parameters)[1]

    @extend_schema_field(MetricRowSerializer(many=True))
    def get_metrics(self, task):
        return MetricRowSerializer(selectors.metric_rows(task), many=True).data

    def get_log(self, task) -> str:
        return selectors.log_tail(task)


class ProducedModelRow(serializers.Serializer):
    """A row of listFineTuneTaskManage: the registry version a task produced, by its public ids."""

    taskId = serializers.CharField(source="pk")
    taskName = serializers.CharField(source="name")
    isPretrain = serializers.IntegerField(source="is_pretrain")
    fineTuneStrategy = serializers.CharField(source="strategy")
    status = serializers.CharField()
    userId = serializers.CharField(source="owner_id", allow_null=True)
    userName = serializers.CharField(source="owner.username", allow_null=True)
    modelVersionId = serializers.CharField(source="produced_version.uid")
    mergedModelVersionId = serializers.CharField(source="merged_version.uid", allow_null=True)
    createTime = serializers.SerializerMethodField()
    applicationId = serializers.CharField(source="produced_version.application.uid")
    applicationName = serializers.CharField(source="produced_version.application.name")
    version = serializers.CharField(source="produced_version.version")
    source = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField())
    def get_createTime(self, task):
        return serializers.DateTimeField().to_representation(task.finished_at or task.created_at)

    def get_source(self, task) -> int:
        return 1


class CodeTaskRow(TaskRow):
    type = serializers.CharField()
    command = serializers.CharField()
    workingDir = serializers.CharField(source="working_dir")
    outputDir = serializers.CharField(source="output_dir")
    exitCode = serializers.IntegerField(source="exit_code", allow_null=True)
    memoryExceeded = serializers.BooleanField(source="memory_exceeded")
    backend = serializers.CharField()
    nodes = serializers.IntegerField()
    wallTimeSeconds = serializers.IntegerField(source="wall_time_seconds")


class CodeTaskDetail(CodeTaskRow):
    variable = serializers.SerializerMethodField()
    outputs = serializers.ListField(child=serializers.CharField())
    manifest = serializers.DictField()
    log = serializers.SerializerMethodField()

    def get_variable(self, task) -> list[dict[str, str]]:
        return [{"name": k, "value": v} for k, v in task.variables.items()]

    def get_log(self, task) -> str:
        return selectors.log_tail(task)


def paged(row):
    """The Output of a list: {total, pageNum, pageSize, list} of `row`s."""
    fields = {"total": serializers.IntegerField(), "pageNum": serializers.IntegerField(),
              "pageSize": serializers.IntegerField(), "list": row(many=True)}
    return type(f"{row.__name__}Page", (serializers.Serializer,), fields)


class KernelView(FacadeView):
    envelope, tags, query_params = "kernel", TAGS, True

    def page(self, request, filterset, qs, row):
        """A page of `qs` narrowed by `filterset` with the request's filters, as {total, pageNum, pageSize, list}."""
        data = self.input(request)
        filters = {key: value for key, value in data.items() if key in filterset.base_filters and value is not None}
        total, items = page(filterset(filters, queryset=qs).qs, data)
        return self.answer({"total": total, "pageNum": data["pageNum"], "pageSize": data["pageSize"],
                            "list": row(items, many=True).data})


class CreateLlmFineTuneTaskView(KernelView):
    Input = FineTuneBody

    @facade(summary="Create a fine-tune (isPretrain 0) or pretraining (isPretrain 1) task", output=LlmTaskRow())
    def post(self, request):
        data = self.input(request)
        task = services.create_finetune(owner=request.user, received=dict(request.data.items()), **data)
        return self.answer(LlmTaskRow(task).data, message="任务创建成功")


class ListLlmFineTuneTaskView(KernelView):
    Input = LlmListInput

    @facade(summary="List fine-tune / pretraining tasks (isPretrain, status, taskName, pages)",
            output=paged(LlmTaskRow)())
    def post(self, request):
        return self.page(request, LlmTaskFilter, selectors.llm_tasks(request.user), LlmTaskRow)


class QueryLlmFineTuneTaskDetailView(KernelView):
    Input = TaskIdInput

    @facade(summary="A task with its hyper-parameters, metrics, checkpoints and log tail", output=LlmTaskDetail())
    def post(self, request):
        return self.answer(LlmTaskDetail(selectors.get_llm_task(request.user, self.input(request)["pk"])).data)


class ListFineTuneTaskManageView(KernelView):
    Input = LlmListInput

    @facade(summary="The models (registry versions) that tasks produced", output=paged(ProducedModelRow)())
    def post(self, request):
        return self.page(request, LlmTaskFilter, selectors.produced_models(request.user), ProducedModelRow)


class CreateTrainOperatorTaskView(KernelView):
    Input = CodeTaskBody

    @facade(summary="Create a task-based modeling job (PyTorch, TensorFlow, scikit-learn, MPI)", output=CodeTaskRow())
    def post(self, request):
        data = self.input(request)
        task = services.create_code_task(owner=request.user, received=dict(request.data.items()), **data)
        return self.answer(CodeTaskRow(task).data, message="任务创建成功")


class ListTrainOperatorTaskView(KernelView):
    Input = ListInput

    @facade(summary="List task-based modeling jobs", output=paged(CodeTaskRow)())
    def post(self, request):
        return self.page(request, CodeTaskFilter, selectors.code_tasks(request.user), CodeTaskRow)


class QueryTrainOperatorTaskInfoView(KernelView):
    Input = TaskIdInput

    @facade(summary="A task-based modeling job with its log, exit code and outputs", output=CodeTaskDetail())
    def post(self, request):
        return self.answer(CodeTaskDetail(selectors.get_code_task(request.user, self.input(request)["pk"])).data)


urlpatterns = [
    path("kernel/fineTune/createLlmFineTuneTask", CreateLlmFineTuneTaskView.as_view(), name="kernel-create-llm-task"),
    path("kernel/fineTune/listLlmFineTuneTask", ListLlmFineTuneTaskView.as_view(), name="kernel-list-llm-tasks"),
    path("kernel/fineTune/queryLlmFineTuneTaskDetail", QueryLlmFineTuneTaskDetailView.as_view(), name="kernel-llm-task-detail"),
    path("kernel/fineTuneManage/listFineTuneTaskManage", ListFineTuneTaskManageView.as_view(), name="kernel-produced-models"),
    path("kernel/trainOperator/createTask", CreateTrainOperatorTaskView.as_view(), name="kernel-create-code-task"),
    path("kernel/trainOperator/listTask", ListTrainOperatorTaskView.as_view(), name="kernel-list-code-tasks"),
    path("kernel/trainOperator/queryTaskInfo", QueryTrainOperatorTaskInfoView.as_view(), name="kernel-code-task-info"),
]
