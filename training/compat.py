"""platform-api.md sections 4, 5 and 6 under /kernel/, in the kernel envelope
{success, returnCode, message, data}. Errors carry the HTTP status as returnCode."""

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.views import APIView

from core.envelopes import ok
from core.errors import InvalidInput
from core.parsers import JSONParser

from . import selectors, services
from .models import CodeTask, LlmTask

KERNEL_BODY = inline_serializer(
    "TrainingKernelBody",
    fields={
        "success": serializers.BooleanField(),
        "returnCode": serializers.IntegerField(help_text="0 on success, the HTTP status on error"),
        "message": serializers.CharField(),
        "data": serializers.JSONField(allow_null=True),
    },
)
ERRORS = {code: OpenApiResponse(KERNEL_BODY, description="error") for code in (400, 401, 403, 404, 409)}
TAGS = ["platform training (training)"]


def body_of(request):
    """The JSON (or form) body as a plain dict; query parameters fill what it lacks."""
    data = request.data
    body = dict(data.items()) if hasattr(data, "getlist") else dict(data) if isinstance(data, dict) else data
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    for key, value in request.query_params.items():
        body.setdefault(key, value)
    return body


class KernelView(APIView):
    envelope = "kernel"
    parser_classes = [JSONParser, FormParser, MultiPartParser]


class CreateLlmFineTuneTaskView(KernelView):
    @extend_schema(tags=TAGS, summary="Create a fine-tune (isPretrain 0) or pretraining (isPretrain 1) task",
                   request=inline_serializer("CreateTaskBO", fields={"createTaskBO": serializers.JSONField()}),
                   responses={200: KERNEL_BODY, **ERRORS})
    def post(self, request):
        task = services.create_llm_task(owner=request.user, data=body_of(request))
        return ok("kernel", selectors.llm_task_json(task), message="任务创建成功")


class ListLlmFineTuneTaskView(KernelView):
    @extend_schema(tags=TAGS, summary="List fine-tune / pretraining tasks (isPretrain, status, taskName, pages)",
                   request=inline_serializer("ListLlmTasks", fields={"isPretrain": serializers.IntegerField(required=False)}),
                   responses={200: KERNEL_BODY, **ERRORS})
    def post(self, request):
        body = body_of(request)
        qs = selectors.filtered(LlmTask, request.user, body)
        return ok("kernel", selectors.page_of(qs, body, selectors.llm_task_json))


class QueryLlmFineTuneTaskDetailView(KernelView):
    @extend_schema(tags=TAGS, summary="A task with its hyper-parameters, metrics, checkpoints and log tail",
                   parameters=[OpenApiParameter("taskId", str, required=True)], request=None,
                   responses={200: KERNEL_BODY, **ERRORS})
    def post(self, request):
        task = selectors.get_llm_task(request.user, body_of(request).get("taskId"))
        return ok("kernel", selectors.llm_task_json(task, detail=True))

    get = post


class ListFineTuneTaskManageView(KernelView):
    @extend_schema(tags=TAGS, summary="The models (registry versions) that tasks produced",
                   request=inline_serializer("ListProducedModels", fields={"isPretrain": serializers.IntegerField(required=False)}),
                   responses={200: KERNEL_BODY, **ERRORS})
    def post(self, request):
        body = body_of(request)
        qs = selectors.produced_models(request.user, body)
        return ok("kernel", selectors.page_of(qs, body, selectors.produced_model_json))


class CreateTrainOperatorTaskView(KernelView):
    @extend_schema(tags=TAGS, summary="Create a task-based modeling job (PyTorch, TensorFlow, scikit-learn, MPI)",
                   request=inline_serializer("CreateCodeTaskBO", fields={"createTaskBO": serializers.JSONField()}),
                   responses={200: KERNEL_BODY, **ERRORS})
    def post(self, request):
        task = services.create_code_task(owner=request.user, data=body_of(request))
        return ok("kernel", selectors.code_task_json(task), message="任务创建成功")


class ListTrainOperatorTaskView(KernelView):
    @extend_schema(tags=TAGS, summary="List task-based modeling jobs",
                   request=inline_serializer("ListCodeTasks", fields={"taskName": serializers.CharField(required=False)}),
                   responses={200: KERNEL_BODY, **ERRORS})
    def post(self, request):
        body = body_of(request)
        qs = selectors.filtered(CodeTask, request.user, body)
        return ok("kernel", selectors.page_of(qs, body, selectors.code_task_json))


class QueryTrainOperatorTaskInfoView(KernelView):
    @extend_schema(tags=TAGS, summary="A task-based modeling job with its log, exit code and outputs",
                   request=inline_serializer("QueryCodeTask", fields={"taskId": serializers.CharField()}),
                   responses={200: KERNEL_BODY, **ERRORS})
    def post(self, request):
        task = selectors.get_code_task(request.user, body_of(request).get("taskId"))
        return ok("kernel", selectors.code_task_json(task, detail=True))

    get = post


urlpatterns = [
    path("kernel/fineTune/createLlmFineTuneTask", CreateLlmFineTuneTaskView.as_view(), name="kernel-create-llm-task"),
    path("kernel/fineTune/listLlmFineTuneTask", ListLlmFineTuneTaskView.as_view(), name="kernel-list-llm-tasks"),
    path("kernel/fineTune/queryLlmFineTuneTaskDetail", QueryLlmFineTuneTaskDetailView.as_view(), name="kernel-llm-task-detail"),
    path("kernel/fineTuneManage/listFineTuneTaskManage", ListFineTuneTaskManageView.as_view(), name="kernel-produced-models"),
    path("kernel/trainOperator/createTask", CreateTrainOperatorTaskView.as_view(), name="kernel-create-code-task"),
    path("kernel/trainOperator/listTask", ListTrainOperatorTaskView.as_view(), name="kernel-list-code-tasks"),
    path("kernel/trainOperator/queryTaskInfo", QueryTrainOperatorTaskInfoView.as_view(), name="kernel-code-task-info"),
]
