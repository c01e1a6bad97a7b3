"""platform-api.md section 7 (model evaluation) in the eval envelope {success, code, message, data}.

The examples answer code 200 (create shows "status": 200, so create carries both); errors
carry the HTTP status as code.
"""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.views import APIView

from core.envelopes import ok
from core.errors import InvalidInput
from core.parsers import JSONParser

from . import selectors, services

SUCCESS = 200
EVAL_BODY = inline_serializer(
    "EvaluationEnvelope",
    fields={
        "success": serializers.BooleanField(),
        "code": serializers.IntegerField(help_text="200 on success, the HTTP status on error"),
        "message": serializers.CharField(),
        "data": serializers.JSONField(allow_null=True),
    },
)
ERRORS = {code: OpenApiResponse(EVAL_BODY, description="error") for code in (400, 401, 403, 404)}
TAGS = ["platform evaluation (evaluation)"]


def body_of(request):
    data = request.data
    body = dict(data.items()) if hasattr(data, "getlist") else dict(data) if isinstance(data, dict) else data
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body


class EvalView(APIView):
    envelope = "eval"
    parser_classes = [JSONParser, FormParser, MultiPartParser]


class CreateEvaluationTaskView(EvalView):
    @extend_schema(
        tags=TAGS, summary="Create an evaluation: built-in metrics (metrics) or your script (command)",
        request=inline_serializer("CreateEvaluationTask", fields={
            "name": serializers.CharField(), "command": serializers.CharField(required=False),
            "metrics": serializers.ListField(child=serializers.CharField(), required=False),
            "modelType": serializers.CharField(required=False), "aiAppVersionId": serializers.CharField(required=False),
            "modelDir": serializers.CharField(required=False), "inputType": serializers.CharField(required=False),
            "inputDir": serializers.CharField(required=False), "datasetName": serializers.CharField(required=False),
            "outputDir": serializers.CharField(), "resource": serializers.JSONField(required=False),
        }),
        responses={200: EVAL_BODY, **ERRORS},
    )
    def post(self, request):
        task = services.create_task(owner=request.user, data=body_of(request))
        response = ok("eval", {"id": str(task.uid), "taskId": str(task.uid)}, message="创建模型评估任务成功", code=SUCCESS)
        response.data["status"] = SUCCESS
        return response


class EvaluationTaskPageView(EvalView):
    @extend_schema(
        tags=TAGS, summary="Your evaluation tasks, paged (status, taskName, pageNum, pageSize)",
        request=inline_serializer("EvaluationTaskPage", fields={
            "userId": serializers.CharField(required=False), "status": serializers.CharField(required=False),
            "taskName": serializers.CharField(required=False), "pageNum": serializers.IntegerField(required=False),
            "pageSize": serializers.IntegerField(required=False),
        }),
        responses={200: EVAL_BODY, **ERRORS},
    )
    def post(self, request):
        body = body_of(request)
        return ok("eval", selectors.page_of(selectors.filtered(request.user, body), body, selectors.row_json), code=SUCCESS)


class EvaluationTaskDetailView(EvalView):
    @extend_schema(tags=TAGS, summary="An evaluation task with its results and log", request=None,
                   responses={200: EVAL_BODY, **ERRORS})
    def get(self, request, task_id):
        return ok("eval", selectors.detail_json(selectors.get_task(request.user, task_id)), code=SUCCESS)


urlpatterns = [
    path("model/evaluation/task/create", CreateEvaluationTaskView.as_view(), name="spec-create"),
    path("model/evaluation/task/page", EvaluationTaskPageView.as_view(), name="spec-page"),
    path("api/model/evaluation/task/detail/<str:task_id>", EvaluationTaskDetailView.as_view(), name="spec-detail"),
]
