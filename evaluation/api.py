"""The clean JSON API of evaluation, under /api/v1/evaluation/ (also what the task page polls).

Its own serializers over the same services and selectors as the spec facades: plain JSON in the
platform's terms, errors {"detail", "type"}; lists filtered by a FilterSet and paged by DRF.
"""

import django_filters
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import JobStatus
from registry.selectors import resolve_version

from . import selectors, services
from .models import EvaluationTask, Kind

TAGS = ["evaluation"]
FIELDS = ["id", "uid", "name", "description", "kind", "status", "progress", "error", "metrics", "results",
          "model_source", "model_ref", "version", "model", "base_source", "base_ref", "data_source", "data_ref",
          "split", "output_dir", "created_at", "started_at", "finished_at", "duration_seconds"]
DETAIL = ["command", "work_dir", "image", "settings", "details", "samples", "outputs", "exit_code", "log"]


class EvaluationSerializer(serializers.ModelSerializer):
    version = serializers.SlugRelatedField(slug_field="uid", read_only=True)
    model = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model, fields = EvaluationTask, FIELDS

    def get_model(self, task) -> str:
        return selectors.model_label(task)


class EvaluationDetailSerializer(EvaluationSerializer):
    log = serializers.SerializerMethodField()

    class Meta:
        model, fields = EvaluationTask, FIELDS + DETAIL

    def get_log(self, task) -> str:
        return selectors.log_tail(task)


class ResourcesSerializer(serializers.Serializer):
    cpu = serializers.IntegerField(min_value=0, max_value=4096, required=False)
    memory_gb = serializers.FloatField(min_value=0, max_value=1e6, required=False)
    gpu = serializers.IntegerField(min_value=0, max_value=1024, required=False)


def _text(max_length):
    return serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=max_length)


# create_evaluation's arguments, by their own names.
CreateSerializer = type("NewEvaluation", (serializers.Serializer,), {
    **{name: _text(1024) for name in ("command", "work_dir", "model_dir", "base_model_dir", "data_dir")},
    "output_dir": serializers.CharField(max_length=1024, help_text="a folder of your private space for the results"),
    **{name: _text(256) for name in ("name", "image", "version", "version_label", "base_version", "dataset",
                                     "dataset_id", "split", "resource_group_id", "resource_group_name")},
    **{name: serializers.IntegerField(required=False) for name in (*services.SETTINGS, "wall_time_seconds")},
    "description": _text(2000),
    "metrics": serializers.ListField(child=serializers.CharField(), required=False, max_length=32),
    "env": serializers.DictField(child=serializers.CharField(allow_blank=True), required=False),
    "resources": ResourcesSerializer(required=False),
})


class EvaluationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    version = django_filters.CharFilter(field_name="version__uid", help_text="a registry version id")

    class Meta:
        model, fields = EvaluationTask, ["status", "name", "kind", "version"]


class MetricCatalogueView(APIView):
    class Metric(serializers.Serializer):
        name, group, definition = serializers.CharField(), serializers.CharField(), serializers.CharField()
        higherIsBetter = serializers.BooleanField(allow_null=True)

    @extend_schema(tags=TAGS, summary="The built-in metrics with their definitions",
                   responses=inline_serializer("MetricCatalogue", {"metrics": Metric(many=True)}))
    def get(self, request):
        return Response({"metrics": selectors.metric_catalogue()})


class TaskListView(generics.ListCreateAPIView):
    serializer_class, filterset_class = EvaluationSerializer, EvaluationFilter

    def get_queryset(self):
        return selectors.visible_tasks(self.request.user).order_by("-created_at", "-pk")

    @extend_schema(tags=TAGS, summary="Create an evaluation", request=CreateSerializer,
                   responses={201: EvaluationDetailSerializer})
    def post(self, request):
        arguments = CreateSerializer(data=request.data)
        arguments.is_valid(raise_exception=True)
        task = services.create_evaluation(owner=request.user, **arguments.validated_data)
        return Response(EvaluationDetailSerializer(task).data, status=201)


class TaskDetailView(generics.RetrieveAPIView):
    serializer_class = EvaluationDetailSerializer

    def get_object(self):
        return selectors.get_task(self.request.user, self.kwargs["task_id"])


class TaskCancelView(TaskDetailView):
    @extend_schema(tags=TAGS, summary="Cancel a queued or running evaluation", request=None)
    def post(self, request, task_id):
        return Response(EvaluationSerializer(services.cancel_evaluation(self.get_object())).data)


class VersionEvaluationsView(APIView):
    @extend_schema(tags=TAGS, summary="The evaluations of a registry version", responses=inline_serializer(
        "VersionEvaluations", {"versionId": serializers.CharField(), "evaluations": EvaluationSerializer(many=True)}))
    def get(self, request, version_id):
        version = resolve_version(request.user, version_id, field="version_id")
        tasks = selectors.evaluations_for_version(version, request.user)
        return Response({"versionId": version.uid, "evaluations": EvaluationSerializer(tasks, many=True).data})


class CompareView(APIView):
    class Query(serializers.Serializer):
        tasks = serializers.CharField(required=False, help_text="task ids, comma-separated")
        versions = serializers.CharField(required=False, help_text="registry version ids, comma-separated")

    @extend_schema(tags=TAGS, summary="Several evaluations side by side", parameters=[Query], responses=inline_serializer(
        "Comparison", {key: serializers.ListField(child=serializers.DictField()) for key in ("columns", "rows")}))
    def get(self, request):
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        ids = [selectors.id_list(query.validated_data.get(key)) for key in ("tasks", "versions")]
        tasks = selectors.compared_tasks(request.user, *ids)
        return Response(selectors.comparison(tasks))


urlpatterns = [
    path("api/v1/evaluation/metrics", MetricCatalogueView.as_view(), name="api-metrics"),
    path("api/v1/evaluation/tasks/", TaskListView.as_view(), name="api-tasks"),
    path("api/v1/evaluation/tasks/<str:task_id>/", TaskDetailView.as_view(), name="api-task"),
    path("api/v1/evaluation/tasks/<str:task_id>/results", TaskDetailView.as_view(), name="api-task-results"),
    path("api/v1/evaluation/tasks/<str:task_id>/cancel", TaskCancelView.as_view(), name="api-task-cancel"),
    path("api/v1/evaluation/versions/<str:version_id>/evaluations", VersionEvaluationsView.as_view(), name="api-version"),
    path("api/v1/evaluation/compare", CompareView.as_view(), name="api-compare"),
]
