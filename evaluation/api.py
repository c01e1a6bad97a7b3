"""The clean JSON API of evaluation, under /api/v1/evaluation/ (also what the pages poll).

Same services and selectors as the spec facades; plain JSON, errors {"detail", "type"}.
"""

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.selectors import resolve_version

from . import selectors, services

TAGS = ["evaluation"]


class MetricCatalogueView(APIView):
    @extend_schema(tags=TAGS, summary="The built-in metrics with their definitions", responses=dict)
    def get(self, request):
        return Response({"metrics": selectors.metric_catalogue()})


class TaskListView(APIView):
    @extend_schema(tags=TAGS, summary="Your evaluations (filters: status, taskName, kind, versionId; pageNum, pageSize)",
                   operation_id="evaluation_tasks_list", responses=dict)
    def get(self, request):
        qs = selectors.filtered(request.user, request.query_params)
        return Response(selectors.page_of(qs, request.query_params, selectors.api_json))

    @extend_schema(tags=TAGS, summary="Create an evaluation (the spec's create fields)", request=dict, responses=dict)
    def post(self, request):
        task = services.create_task(owner=request.user, data=request.data)
        return Response(selectors.api_json(task, detail=True), status=201)


class TaskDetailView(APIView):
    @extend_schema(tags=TAGS, summary="An evaluation with results, details and log tail", responses=dict)
    def get(self, request, task_id):
        return Response(selectors.api_json(selectors.get_task(request.user, task_id), detail=True))


class TaskResultsView(APIView):
    @extend_schema(tags=TAGS, summary="Status and results only (for polling)", responses=dict)
    def get(self, request, task_id):
        task = selectors.get_task(request.user, task_id)
        return Response({"id": task.pk, "status": task.status, "progress": round(task.progress, 4),
                         "error": task.error, "results": task.results, "details": task.details,
                         "log": selectors.log_tail(task, 6000)})


class TaskCancelView(APIView):
    @extend_schema(tags=TAGS, summary="Cancel a queued or running evaluation", request=None, responses=dict)
    def post(self, request, task_id):
        task = services.cancel_task(selectors.get_task(request.user, task_id))
        return Response(selectors.api_json(task))


class VersionEvaluationsView(APIView):
    @extend_schema(tags=TAGS, summary="The evaluations of a registry version", responses=dict)
    def get(self, request, version_id):
        version = resolve_version(request.user, version_id, field="version_id")
        tasks = selectors.evaluations_for_version(version).filter(pk__in=selectors.visible(request.user))
        return Response({"versionId": version.uid, "evaluations": [selectors.api_json(t) for t in tasks]})


class CompareView(APIView):
    @extend_schema(
        tags=TAGS, summary="Several evaluations side by side (tasks=1,2 and/or versions=3,4)",
        parameters=[OpenApiParameter("tasks", str), OpenApiParameter("versions", str)], responses=dict,
    )
    def get(self, request):
        tasks = selectors.compared_tasks(
            request.user,
            selectors.parse_ids(request.query_params.get("tasks"), "tasks"),
            selectors.parse_ids(request.query_params.get("versions"), "versions"),
        )
        return Response(selectors.comparison(tasks))


urlpatterns = [
    path("api/v1/evaluation/metrics", MetricCatalogueView.as_view(), name="api-metrics"),
    path("api/v1/evaluation/tasks/", TaskListView.as_view(), name="api-tasks"),
    path("api/v1/evaluation/tasks/<str:task_id>/", TaskDetailView.as_view(), name="api-task"),
    path("api/v1/evaluation/tasks/<str:task_id>/results", TaskResultsView.as_view(), name="api-task-results"),
    path("api/v1/evaluation/tasks/<str:task_id>/cancel", TaskCancelView.as_view(), name="api-task-cancel"),
    path("api/v1/evaluation/versions/<str:version_id>/evaluations", VersionEvaluationsView.as_view(), name="api-version"),
    path("api/v1/evaluation/compare", CompareView.as_view(), name="api-compare"),
]
