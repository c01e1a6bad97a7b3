"""platform-api.md section 7 (model evaluation) in the eval envelope {success, code, message, data}.

The examples answer code 200 (create shows "status": 200, so create carries both); errors carry
the HTTP status as code. The Input serializers translate the spec's fields (modelType + aiAppVersionId
or modelDir, inputType + inputDir or datasetName, resource{cpuNumber, memory, gpuResource}) into
evaluation.services.create_evaluation's arguments; the Output serializers write the spec's shapes.
"""

import json

from django.urls import path
from rest_framework import serializers

from core.facades import FacadeView, PageInput, StrictInteger, UserIdCheck, facade, optional_text, page
from core.parsers import parse_json
from registry.selectors import public_version_id

from . import selectors, services

SUCCESS = 200
TIME = "%Y-%m-%d %H:%M:%S"
TAGS = ["platform evaluation (evaluation)"]
MODEL_TYPES = {"registry": "aiApp", "files": "local"}
INPUT_TYPES = {"hub": "dataset", "files": "local"}


class EvaluationGpu(serializers.Serializer):
    gpuNum = StrictInteger(source="gpu", required=False, allow_null=True, min_value=0, max_value=1024)
    gpuShare = optional_text(source="gpu_share", max_length=64)
    gpuMem = serializers.JSONField(source="gpu_memory", required=False)
    gpuCores = serializers.JSONField(source="gpu_cores", required=False)
    migRes = optional_text(source="mig", max_length=256)


class EvaluationResource(serializers.Serializer):
    """EvaluationResourceVO: {cpuNumber, memory (GB), gpuResource{gpuNum, ...}}."""

    cpuNumber = StrictInteger(source="cpu", required=False, allow_null=True, min_value=0, max_value=4096)
    memory = serializers.FloatField(source="memory_gb", required=False, allow_null=True, min_value=0, max_value=1e6)
    gpuResource = EvaluationGpu(source="*", required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict) and data.get("gpuResource") is None:
            data = {k: v for k, v in data.items() if k != "gpuResource"}
        return {k: v for k, v in super().to_internal_value(data).items() if v is not None}


class CreateEvaluationView(FacadeView):
    """POST /model/evaluation/task/create: built-in metrics (metrics) or the caller's script (command)."""

    envelope, tags = "eval", TAGS

    class Input(serializers.Serializer):
        userId = UserIdCheck()
        userName = UserIdCheck()
        name = optional_text(max_length=128)
        description = optional_text(max_length=2000)
        metrics = serializers.JSONField(required=False, help_text="built-in metric names (a list or comma-separated)")
        command = optional_text(max_length=services.MAX_COMMAND_CHARS)
        image = optional_text(max_length=512)
        workDir = optional_text(source="work_dir", max_length=1024)
        env = serializers.JSONField(required=False, help_text='[{"KEY": "value"}] or its JSON text')
        wallTimeSeconds = StrictInteger(source="wall_time_seconds", required=False, allow_null=True)
        modelType = optional_text(max_length=16, help_text="local (modelDir) or aiApp (aiAppVersionId)")
        aiAppVersionId = optional_text(source="version", max_length=64, help_text="a section 3 version id")
        aiAppVersionName = optional_text(source="version_label", max_length=256)
        modelDir = optional_text(source="model_dir", max_length=1024)
        baseModelDir = optional_text(source="base_model_dir", max_length=1024, help_text="base model of a LoRA adapter")
        baseAiAppVersionId = optional_text(source="base_version", max_length=64, help_text="base version of a LoRA adapter")
        inputType = optional_text(max_length=16, help_text="local (inputDir) or dataset (datasetName or datasetId)")
        inputDir = optional_text(source="data_dir", max_length=1024)
        datasetId = optional_text(source="dataset_id", max_length=64)
        datasetName = optional_text(source="dataset", max_length=300, help_text="owner/name of a hub dataset")
        storageMedium = optional_text(source="storage_medium", max_length=64)
        split = optional_text(max_length=64, help_text="default test")
        outputDir = optional_text(source="output_dir", max_length=1024)
        resource = EvaluationResource(source="resources", required=False, allow_null=True)
        resourceGroupId = optional_text(source="resource_group_id", max_length=64)
        resourceGroupName = optional_text(source="resource_group_name", max_length=128)
        resourceGroupKey = optional_text(source="resource_group_key", max_length=128)
        maxSamples = StrictInteger(source="max_samples", required=False, allow_null=True)
        maxNewTokens = StrictInteger(source="max_new_tokens", required=False, allow_null=True)
        maxLength = StrictInteger(source="max_length", required=False, allow_null=True)
        batchSize = StrictInteger(source="batch_size", required=False, allow_null=True)

        def validate_metrics(self, value):
            return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

        def validate_env(self, value):
            return parse_json(value, what="env") if isinstance(value, str) and value.strip() else value

        def validate(self, attrs):
            """modelType and inputType choose which of the model and data fields count."""
            attrs = {k: v for k, v in attrs.items() if v is not None}
            model = (attrs.pop("modelType", "") or ("aiApp" if attrs.get("version") else "local")).lower()
            if model not in ("local", "aiapp"):
                raise serializers.ValidationError({"modelType": "must be local or aiApp"})
            if model == "aiapp" and not attrs.get("version"):
                raise serializers.ValidationError("model missing: aiAppVersionId is required when modelType is aiApp")
            attrs.pop("model_dir" if model == "aiapp" else "version", None)
            data = (attrs.pop("inputType", "") or "").lower()
            if data not in ("", "local", "dataset"):
                raise serializers.ValidationError({"inputType": "must be local or dataset"})
            if data == "dataset" and not (attrs.get("dataset") or attrs.get("dataset_id")):
                raise serializers.ValidationError("dataset missing: datasetName (owner/name of a hub dataset) is "
                                                  "required when inputType is dataset")
            if data == "local":
                attrs.pop("dataset", None), attrs.pop("dataset_id", None)
            attrs.setdefault("output_dir", "")
            return attrs

    class Output(serializers.Serializer):
        id = serializers.CharField(source="uid")
        taskId = serializers.CharField(source="uid")

    @facade(summary="Create an evaluation: built-in metrics (metrics) or your script (command)", output=Output())
    def post(self, request):
        task = services.create_evaluation(owner=request.user, **self.input(request))
        response = self.answer(self.Output(task).data, message="创建模型评估任务成功", code=SUCCESS)
        response.data["status"] = SUCCESS
        return response


class EvaluationTaskRow(serializers.Serializer):
    """A row of /model/evaluation/task/page."""

    id = serializers.CharField(source="uid")
    name = serializers.CharField()
    status = serializers.SerializerMethodField()
    runTime = serializers.SerializerMethodField()
    description = serializers.CharField()
    creatorId = serializers.SerializerMethodField()
    createTime = serializers.DateTimeField(source="created_at", format=TIME)

    def get_status(self, task) -> str:
        return selectors.STATUS_WORDS[task.status]

    def get_runTime(self, task) -> str:
        return selectors.run_time(task)

    def get_creatorId(self, task) -> str | None:
        return str(task.owner_id) if task.owner_id else None


class Folder(serializers.CharField):
    """A folder of the private space as the spec writes it: "/Model", or "" for none."""

    def to_representation(self, value):
        return "/" + value if value else ""


class TaskPageView(FacadeView):
    """POST /model/evaluation/task/page"""

    envelope, tags = "eval", TAGS

    class Input(PageInput):
        userId = UserIdCheck()
        status = optional_text(max_length=32, help_text="Pending, Running, Succeeded, Failed or Stopped")
        taskName = optional_text(source="name", max_length=1000)
        kind = optional_text(max_length=16, help_text="builtin or custom")
        versionId = optional_text(source="version", max_length=64, help_text="a section 3 version id")

    class Output(serializers.Serializer):
        pageNum = serializers.IntegerField()
        pageSize = serializers.IntegerField()
        totalPage = serializers.IntegerField()
        total = serializers.IntegerField()
        rows = EvaluationTaskRow(many=True)

    @facade(summary="Your evaluation tasks, paged (status, taskName, pageNum, pageSize)", output=Output())
    def post(self, request):
        data = self.input(request)
        filters = {key: data.get(key) or "" for key in ("status", "name", "kind", "version")}
        total, tasks = page(selectors.search_tasks(request.user, **filters), data)
        size = data["pageSize"]
        answer = {"pageNum": data["pageNum"], "pageSize": size, "totalPage": -(-total // size), "total": total,
                  "rows": tasks}
        return self.answer(self.Output(answer).data, code=SUCCESS)


class TaskDetailView(FacadeView):
    """GET /api/model/evaluation/task/detail/{taskId}: the spec's fields, then what ran and came out."""

    envelope, tags = "eval", TAGS
    spec_fields = {"task_id": "taskId"}

    class Output(EvaluationTaskRow):
        resourceGroupId = serializers.CharField(source="resource_group_id")
        resourceGroupName = serializers.CharField(source="resource_group_name")
        command = serializers.CharField()
        endTime = serializers.DateTimeField(source="finished_at", format=TIME, allow_null=True)
        image = serializers.CharField()
        resource = serializers.SerializerMethodField()
        inputType = serializers.SerializerMethodField()
        inputDir = serializers.SerializerMethodField()
        datasetId = serializers.CharField(source="dataset_id", allow_null=True)
        datasetName = serializers.CharField(source="dataset_name", allow_null=True)
        modelType = serializers.SerializerMethodField()
        modelDir = serializers.SerializerMethodField()
        aiAppVersionId = serializers.SerializerMethodField()
        aiAppVersionName = serializers.CharField(source="version_label")
        outputDir = Folder(source="output_dir")
        env = serializers.SerializerMethodField()
        workDir = Folder(source="work_dir")
        # Beyond the spec: what ran and what came out.
        taskId = serializers.IntegerField(source="pk")
        kind = serializers.CharField()
        metrics = serializers.ListField(child=serializers.CharField())
        split = serializers.CharField()
        progress = serializers.FloatField()
        error = serializers.CharField()
        results = serializers.DictField(child=serializers.FloatField())
        details = serializers.DictField()
        outputs = serializers.ListField(child=serializers.JSONField())
        log = serializers.SerializerMethodField()

        def to_representation(self, task):
            data = super().to_representation(task)
            data["datasetId"], data["datasetName"] = data["datasetId"] or None, data["datasetName"] or None
            return data

        def get_resource(self, task) -> dict:
            gpu = task.resource if isinstance(task.resource, dict) else {}
            return {"cpuNumber": task.cpu, "memory": task.memory_gb, "gpuResource": {
                "gpuShare": gpu.get("gpu_share", "none"), "gpuNum": task.gpu, "gpuMem": gpu.get("gpu_memory"),
                "gpuCores": gpu.get("gpu_cores"), "migRes": gpu.get("mig", "")}}

        def get_inputType(self, task) -> str:
            return INPUT_TYPES.get(task.data_source, "")

        def get_inputDir(self, task) -> str:
            return "/" + task.data_ref if task.data_source == "files" else ""

        def get_modelType(self, task) -> str:
            return MODEL_TYPES.get(task.model_source, "")

        def get_modelDir(self, task) -> str:
            return "/" + task.model_ref if task.model_source == "files" else ""

        def get_aiAppVersionId(self, task) -> str:
            return (public_version_id(task.model_ref) or "") if task.model_source == "registry" else ""

        def get_env(self, task) -> str:
            return json.dumps([{name: value} for name, value in task.env.items()])

        def get_log(self, task) -> str:
            return selectors.log_tail(task)

    @facade(summary="An evaluation task with its results and log", output=Output())
    def get(self, request, task_id):
        return self.answer(self.Output(selectors.get_task(request.user, task_id)).data, code=SUCCESS)


urlpatterns = [
    path("model/evaluation/task/create", CreateEvaluationView.as_view(), name="spec-create"),
    path("model/evaluation/task/page", TaskPageView.as_view(), name="spec-page"),
    path("api/model/evaluation/task/detail/<str:task_id>", TaskDetailView.as_view(), name="spec-detail"),
]
