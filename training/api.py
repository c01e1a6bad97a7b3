"""The clean JSON API of training, under /api/v1/training/ (also what the run page polls): the same
services and selectors as the /kernel/ facades, in the platform's own words (training.serializers);
plain JSON, errors as {"detail", "type"} with the HTTP status; lists filtered by training.filters and
paged by DRF."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .filters import CodeTaskFilter, LlmTaskFilter
from .serializers import (CodeTaskInput, CodeTaskSerializer, FineTuneInput, LlmTaskMetricsSerializer, LlmTaskSerializer,
                          MetricRowSerializer, MetricsInput)

TAGS = ["training"]


def valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema(tags=TAGS)
class LlmTaskListView(generics.ListAPIView):
    serializer_class, filterset_class = LlmTaskSerializer, LlmTaskFilter

    def get_queryset(self):
        return selectors.llm_tasks(self.request.user)

    @extend_schema(tags=TAGS, summary="Start a fine-tune or pretraining run", request=FineTuneInput,
                   responses={201: LlmTaskSerializer})
    def post(self, request):
        task = services.create_finetune(owner=request.user, **valid(FineTuneInput, request.data))
        return Response(LlmTaskSerializer(task).data, status=201)


@extend_schema(tags=TAGS)
class CodeTaskListView(generics.ListAPIView):
    serializer_class, filterset_class = CodeTaskSerializer, CodeTaskFilter

    def get_queryset(self):
        return selectors.code_tasks(self.request.user)

    @extend_schema(tags=TAGS, summary="Start a task-based modeling job", request=CodeTaskInput,
                   responses={201: CodeTaskSerializer})
    def post(self, request):
        task = services.create_code_task(owner=request.user, **valid(CodeTaskInput, request.data))
        return Response(CodeTaskSerializer(task).data, status=201)


class LlmTaskDetailView(APIView):
    @extend_schema(tags=TAGS, summary="A run with its hyper-parameters, checkpoints and cadences",
                   responses=LlmTaskSerializer)
    def get(self, request, pk):
        return Response(LlmTaskSerializer(selectors.get_llm_task(request.user, pk)).data)


class LlmTaskMetricsView(APIView):
    @extend_schema(
        tags=TAGS, parameters=[MetricsInput], responses=LlmTaskMetricsSerializer,
        summary="Status, progress, metric rows and log tail (for live charts): the whole run downsampled to "
                "200 points, or with ?since=<step> only the rows logged after that step",
    )
    def get(self, request, pk):
        task = selectors.get_llm_task(request.user, pk)
        since = valid(MetricsInput, request.query_params).get("since")
        rows = selectors.metric_rows(task, since=since)
        # The step to send as the next `since`. While the run is active, rows of its last step may still
        # come (the evaluation is logged after the training loss of the same step; the final full
        # evaluation after the last step): the next poll then starts one step earlier, and the reader
        # replaces rows it already has by (step, kind).
        last = rows[-1].step if rows else since
        return Response({**LlmTaskSerializer(task).data, "metrics": MetricRowSerializer(rows, many=True).data,
                         "since": since, "last_step": max(last - 1, 0) if last and task.is_active else last,
                         "log": selectors.log_tail(task, 6000)})


class TaskActionView(APIView):
    """Cancel a queued or running task; merge a finished LoRA run's adapter into a full model (202)."""

    do = get_task = serializer = None
    status = 200

    @extend_schema(tags=TAGS, request=None, responses={200: LlmTaskSerializer, 202: LlmTaskSerializer})
    def post(self, request, pk):
        task = self.do(self.get_task(request.user, pk))
        return Response(self.serializer(task).data, status=self.status)


def action(do, get_task, serializer, status=200):
    return TaskActionView.as_view(do=staticmethod(do), get_task=staticmethod(get_task), serializer=serializer,
                                  status=status)


class CodeTaskDetailView(APIView):
    @extend_schema(tags=TAGS, summary="A job with log, exit code, outputs and its Kubeflow manifest",
                   responses=CodeTaskSerializer)
    def get(self, request, pk):
        return Response(CodeTaskSerializer(selectors.get_code_task(request.user, pk)).data)


urlpatterns = [
    path("api/v1/training/llm-tasks/", LlmTaskListView.as_view(), name="api-llm-tasks"),
    path("api/v1/training/llm-tasks/<int:pk>/", LlmTaskDetailView.as_view(), name="api-llm-task"),
    path("api/v1/training/llm-tasks/<int:pk>/metrics", LlmTaskMetricsView.as_view(), name="api-llm-task-metrics"),
    path("api/v1/training/llm-tasks/<int:pk>/cancel", action(services.cancel_task, selectors.get_llm_task,
                                                             LlmTaskSerializer), name="api-llm-task-cancel"),
    path("api/v1/training/llm-tasks/<int:pk>/merge", action(services.request_merge, selectors.get_llm_task,
                                                            LlmTaskSerializer, 202), name="api-llm-task-merge"),
    path("api/v1/training/code-tasks/", CodeTaskListView.as_view(), name="api-code-tasks"),
    path("api/v1/training/code-tasks/<int:pk>/", CodeTaskDetailView.as_view(), name="api-code-task"),
    path("api/v1/training/code-tasks/<int:pk>/cancel", action(services.cancel_task, selectors.get_code_task,
                                                              CodeTaskSerializer), name="api-code-task-cancel"),
]
