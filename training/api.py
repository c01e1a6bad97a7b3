"""The clean JSON API of training, under /api/v1/training/ (also what the pages poll).

Same services and selectors as the /kernel/ facades; plain JSON, errors as
{"detail", "type"} with the HTTP status.
"""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import CodeTask, LlmTask

TAGS = ["training"]


class LlmTaskListView(APIView):
    @extend_schema(tags=TAGS, summary="Your fine-tune and pretraining tasks (filters: isPretrain, status, taskName)", responses=dict,
                   operation_id="api_v1_training_llm_tasks_list")
    def get(self, request):
        qs = selectors.filtered(LlmTask, request.user, request.query_params)
        return Response(selectors.page_of(qs, request.query_params, selectors.llm_task_json))

    @extend_schema(tags=TAGS, summary="Create a task (the createTaskBO fields)", request=dict, responses=dict)
    def post(self, request):
        task = services.create_llm_task(owner=request.user, data=request.data)
        return Response(selectors.llm_task_json(task), status=201)


class LlmTaskDetailView(APIView):
    @extend_schema(tags=TAGS, summary="A task with metrics, checkpoints and log tail", responses=dict)
    def get(self, request, pk):
        task = selectors.get_llm_task(request.user, pk)
        data = selectors.llm_task_json(task, detail=True)
        data["schedule"] = task.schedule
        return Response(data)


class LlmTaskMetricsView(APIView):
    @extend_schema(
        tags=TAGS, responses=dict,
        summary="Status, progress, metric rows and log tail (for live charts): the whole run downsampled to "
                "200 points, or with ?since=<step> only the rows logged after that step",
    )
    def get(self, request, pk):
        task = selectors.get_llm_task(request.user, pk)
        since = selectors.parse_since(request.query_params.get("since"))
        rows = selectors.metric_rows(task, since=since)
        data = selectors.llm_task_json(task)
        data["metrics"] = [selectors.metric_json(row) for row in rows]
        data["since"] = since
        # The step to send as the next `since`. While the run is active, rows of its last step may still
        # come (the evaluation is logged after the training loss of the same step; the final full
        # evaluation after the last step): the next poll then starts one step earlier, and the reader
        # replaces rows it already has by (step, kind).
        last = rows[-1].step if rows else since
        data["lastStep"] = max(last - 1, 0) if last and task.is_active else last
        data["schedule"] = task.schedule
        data["log"] = selectors.log_tail(task, 6000)
        return Response(data)


class LlmTaskCancelView(APIView):
    @extend_schema(tags=TAGS, summary="Cancel a queued or running task", request=None, responses=dict)
    def post(self, request, pk):
        task = services.cancel_task(selectors.get_llm_task(request.user, pk))
        return Response(selectors.llm_task_json(task))


class LlmTaskMergeView(APIView):
    @extend_schema(tags=TAGS, summary="Merge a finished LoRA run's adapter into a full model (new registry version)",
                   request=None, responses=dict)
    def post(self, request, pk):
        task = services.request_merge(selectors.get_llm_task(request.user, pk))
        return Response(selectors.llm_task_json(task), status=202)


class CodeTaskListView(APIView):
    @extend_schema(tags=TAGS, summary="Your task-based modeling jobs", responses=dict,
                   operation_id="api_v1_training_code_tasks_list")
    def get(self, request):
        qs = selectors.filtered(CodeTask, request.user, request.query_params)
        return Response(selectors.page_of(qs, request.query_params, selectors.code_task_json))

    @extend_schema(tags=TAGS, summary="Create a task-based modeling job", request=dict, responses=dict)
    def post(self, request):
        task = services.create_code_task(owner=request.user, data=request.data)
        return Response(selectors.code_task_json(task), status=201)


class CodeTaskDetailView(APIView):
    @extend_schema(tags=TAGS, summary="A job with log, exit code, outputs and its Kubeflow manifest", responses=dict)
    def get(self, request, pk):
        return Response(selectors.code_task_json(selectors.get_code_task(request.user, pk), detail=True))


class CodeTaskCancelView(APIView):
    @extend_schema(tags=TAGS, summary="Cancel a queued or running job", request=None, responses=dict)
    def post(self, request, pk):
        task = services.cancel_task(selectors.get_code_task(request.user, pk))
        return Response(selectors.code_task_json(task))


urlpatterns = [
    path("api/v1/training/llm-tasks/", LlmTaskListView.as_view(), name="api-llm-tasks"),
    path("api/v1/training/llm-tasks/<int:pk>/", LlmTaskDetailView.as_view(), name="api-llm-task"),
    path("api/v1/training/llm-tasks/<int:pk>/metrics", LlmTaskMetricsView.as_view(), name="api-llm-task-metrics"),
    path("api/v1/training/llm-tasks/<int:pk>/cancel", LlmTaskCancelView.as_view(), name="api-llm-task-cancel"),
    path("api/v1/training/llm-tasks/<int:pk>/merge", LlmTaskMergeView.as_view(), name="api-llm-task-merge"),
    path("api/v1/training/code-tasks/", CodeTaskListView.as_view(), name="api-code-tasks"),
    path("api/v1/training/code-tasks/<int:pk>/", CodeTaskDetailView.as_view(), name="api-code-task"),
    path("api/v1/training/code-tasks/<int:pk>/cancel", CodeTaskCancelView.as_view(), name="api-code-task-cancel"),
]
