"""The clean REST API under /api/v1/experiments/ (furnaces, experiments, runs, telemetry, audit,
agent tools): its own serializers over the same selectors and services; lists are filtered by
django-filter FilterSets and paged by `limit`/`offset` (core.pagination)."""

import django_filters
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response

from core.facades import StrictInteger

from . import selectors, tools
from .errors import in_the_table
from .models import TELEMETRY_CHANNELS, AuditEntry, Experiment, ExperimentRun, Furnace
from .profiles import validate_parameters

TAGS = ["experiments"]


class ApiView(generics.GenericAPIView):
    envelope = "experiments"  # errors as {"message"} (core.envelopes), like the facade's

    def handle_exception(self, exc):
        return super().handle_exception(in_the_table(exc))


class RunSerializer(serializers.ModelSerializer):
    furnace = serializers.CharField(source="furnace.name")
    experiment_id = serializers.CharField(source="experiment_code")
    result = serializers.CharField(source="result_text", allow_null=True)

    class Meta:
        model = ExperimentRun
        fields = ["id", "experiment_id", "furnace", "status", "phase", "progress", "result", "summary", "created_at",
                  "started_at", "finished_at"]


class RunDetailSerializer(RunSerializer):
    log = serializers.SerializerMethodField()
    latest_telemetry = serializers.SerializerMethodField()
    video_url = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = RunSerializer.Meta.fields + ["log", "latest_telemetry", "video_url"]

    def get_log(self, run) -> str:
        return run.log[-4000:]

    def get_latest_telemetry(self, run) -> dict[str, list[float]]:
        columns = selectors.run_telemetry(run, since=max(0.0, run.simulated_seconds - 5))
        return {name: values[-1:] for name, values in columns.items()} if columns["t"] else {}

    def get_video_url(self, run) -> str | None:
        return f"{reverse('experiments:download_video')}?task_id={run.pk}" if run.video else None


class FurnaceSerializer(serializers.ModelSerializer):
    limits = serializers.DictField(help_text="ranges ([min, max]) and maxima every program is checked against")
    precursors = serializers.SerializerMethodField()
    state = serializers.JSONField(source="last_state")
    loaded_experiment = serializers.CharField(source="loaded_experiment.experiment_id", allow_null=True)
    active_run = serializers.SerializerMethodField()

    class Meta:
        model = Furnace
        fields = ["name", "limits", "precursors", "state", "loaded_experiment", "active_run"]

    def get_precursors(self, furnace) -> list[str]:
        return sorted(set(selectors.known_precursors().values()))

    @extend_schema_field(RunSerializer(allow_null=True))
    def get_active_run(self, furnace):
        run = selectors.active_run(furnace)
        return RunSerializer(run).data if run else None


class ExperimentSerializer(serializers.ModelSerializer):
    furnace = serializers.CharField(source="furnace.name")
    owner = serializers.CharField(source="owner.username", allow_null=True)

    class Meta:
        model = Experiment
        fields = [
            "experiment_id", "owner", "furnace", "precursor_a", "precursor_b", "mass_a_mg", "mass_b_mg", "substrate",
            "temperature_a", "temperature_b", "ar_flow", "h2_flow", "duration_s", "raw_parameters", "created_at",
            "updated_at",
        ]


class AuditSerializer(serializers.ModelSerializer):
    furnace = serializers.CharField(source="furnace.name", allow_null=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "created_at", "username", "action", "via", "furnace", "run", "experiment_id", "payload",
                  "outcome", "status_code", "message"]


class ExperimentFilter(django_filters.FilterSet):
    furnace = django_filters.CharFilter(field_name="furnace__name")
    substrate = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Experiment
        fields = ["furnace", "substrate"]


class RunFilter(django_filters.FilterSet):
    experiment_id = django_filters.CharFilter(field_name="experiment__experiment_id")
    furnace = django_filters.CharFilter(field_name="furnace__name")

    class Meta:
        model = ExperimentRun
        fields = ["experiment_id", "furnace", "status"]


class AuditFilter(django_filters.FilterSet):
    class Meta:
        model = AuditEntry
        fields = ["action", "outcome", "via", "experiment_id"]


class FurnaceListView(ApiView, generics.ListAPIView):
    """Enabled furnaces: limits, precursors, state, loaded experiment, active run."""

    serializer_class = FurnaceSerializer
    queryset = Furnace.objects.filter(is_enabled=True).select_related("loaded_experiment").order_by("name")


class ExperimentListView(ApiView, generics.ListAPIView):
    """Your experiments (all, for operators), recently updated first."""

    serializer_class, filterset_class = ExperimentSerializer, ExperimentFilter

    def get_queryset(self):
        return selectors.visible_experiments(self.request.user).order_by("-updated_at")


class ExperimentDetailView(ApiView, generics.RetrieveAPIView):
    serializer_class, lookup_field = ExperimentSerializer, "experiment_id"

    def get_queryset(self):
        return selectors.visible_experiments(self.request.user)


class ValidateView(ApiView):
    class FurnaceValidateInput(serializers.Serializer):
        Parameters = serializers.JSONField(help_text="the parameter table: Order, A, B, mass_A, mass_B, Substrate, profiles")
        furnace = serializers.CharField(required=False, allow_null=True, help_text="omit for the default")

    class FurnaceValidateResult(serializers.Serializer):
        valid = serializers.BooleanField(help_text="always true; an invalid table answers 400")
        furnace = serializers.CharField(source="furnace.name")
        program = serializers.JSONField(help_text="the normalised program (times in seconds)")

    serializer_class = FurnaceValidateInput  # also what OPTIONS describes

    @extend_schema(tags=TAGS, summary="Check a parameter table against a furnace's limits without loading it",
                   request=FurnaceValidateInput, responses={200: FurnaceValidateResult})
    def post(self, request):
        data = self.FurnaceValidateInput(data=request.data)
        data.is_valid(raise_exception=True)
        furnace = selectors.resolve_furnace(data.validated_data.get("furnace"))
        program = validate_parameters(data.validated_data["Parameters"], furnace, selectors.known_precursors())
        return Response(self.FurnaceValidateResult({"valid": True, "furnace": furnace, "program": program}).data)


class RunListView(ApiView, generics.ListAPIView):
    """Runs, newest first."""

    serializer_class, filterset_class = RunSerializer, RunFilter

    def get_queryset(self):
        return selectors.visible_runs(self.request.user).order_by("-created_at", "-id")


class RunDetailView(ApiView, generics.RetrieveAPIView):
    """One run: status, log, summary, latest telemetry."""

    serializer_class, lookup_url_kwarg = RunDetailSerializer, "run_id"

    def get_queryset(self):
        return selectors.visible_runs(self.request.user)


class RunTelemetryView(ApiView):
    class FurnaceTelemetryInput(serializers.Serializer):
        since = serializers.FloatField(required=False, help_text="only samples after this many seconds of the run")
        step = StrictInteger(required=False, min_value=1, max_value=3600, default=1,
                             help_text="keep one sample every `step` seconds")

    class FurnaceTelemetryResult(serializers.Serializer):
        task_id = serializers.IntegerField(source="run.pk")
        status = serializers.CharField(source="run.status")
        progress = serializers.FloatField(source="run.progress", help_text="0 to 1")
        phase = serializers.CharField(source="run.phase")
        duration_s = serializers.FloatField(source="run.program.duration_s", default=None, allow_null=True)
        telemetry = serializers.DictField(child=serializers.ListField(child=serializers.FloatField()),
                                          help_text=f"one list per channel: {', '.join(TELEMETRY_CHANNELS)}")

    @extend_schema(tags=TAGS, summary="A run's telemetry as columns, one list per channel", parameters=[FurnaceTelemetryInput],
                   responses={200: FurnaceTelemetryResult})
    def get(self, request, run_id):
        run = selectors.get_visible_run(request.user, run_id)
        query = self.FurnaceTelemetryInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        telemetry = selectors.run_telemetry(run, since=query.validated_data.get("since"))
        step = query.validated_data["step"]
        if step > 1:
            keep = [i for i, t in enumerate(telemetry["t"]) if int(t) % step == 0]
            telemetry = {name: [values[i] for i in keep] for name, values in telemetry.items()}
        return Response(self.FurnaceTelemetryResult({"run": run, "telemetry": telemetry}).data)


class AuditListView(ApiView, generics.ListAPIView):
    """Audit log of furnace actions (yours; everyone's for operators), newest first."""

    serializer_class, filterset_class = AuditSerializer, AuditFilter

    def get_queryset(self):
        return AuditEntry.objects.visible_to(self.request.user).select_related("furnace").order_by("-created_at", "-id")


class ToolListView(ApiView):
    class FurnaceToolListResult(serializers.Serializer):
        furnace = serializers.CharField(source="furnace.name")
        tools = serializers.ListField(child=serializers.JSONField(), help_text="OpenAI function tools")

    @extend_schema(tags=TAGS, summary="The agent tools as OpenAI function definitions", responses={200: FurnaceToolListResult},
                   parameters=[OpenApiParameter("furnace", str, description="omit for the default furnace")])
    def get(self, request):
        furnace = selectors.resolve_furnace(request.query_params.get("furnace") or None)
        return Response(self.FurnaceToolListResult({"furnace": furnace, "tools": tools.tool_definitions(furnace)}).data)


class ToolCallView(ApiView):
    class FurnaceToolCallInput(serializers.Serializer):
        name = serializers.CharField(help_text="the tool's name, from GET tools")
        arguments = serializers.JSONField(required=False, help_text="an object, or a JSON-encoded string of one")

    class FurnaceToolCallResult(serializers.Serializer):
        name = serializers.CharField()
        ok = serializers.BooleanField()
        result = serializers.JSONField(help_text="what the tool returns (see each tool's description)")

    serializer_class = FurnaceToolCallInput  # also what OPTIONS describes

    @extend_schema(tags=TAGS, summary="Execute one agent tool call", request=FurnaceToolCallInput,
                   responses={200: FurnaceToolCallResult})
    def post(self, request):
        data = self.FurnaceToolCallInput(data=request.data)
        data.is_valid(raise_exception=True)
        name = data.validated_data["name"]
        result = tools.call_tool(request.user, name, data.validated_data.get("arguments"))
        return Response(self.FurnaceToolCallResult({"name": name, "ok": True, "result": result}).data)


urlpatterns = [
    path("api/v1/experiments/furnaces", FurnaceListView.as_view(), name="api-furnaces"),
    path("api/v1/experiments/experiments", ExperimentListView.as_view(), name="api-experiments"),
    path("api/v1/experiments/experiments/<str:experiment_id>", ExperimentDetailView.as_view(), name="api-experiment"),
    path("api/v1/experiments/validate", ValidateView.as_view(), name="api-validate"),
    path("api/v1/experiments/runs", RunListView.as_view(), name="api-runs"),
    path("api/v1/experiments/runs/<int:run_id>", RunDetailView.as_view(), name="api-run"),
    path("api/v1/experiments/runs/<int:run_id>/telemetry", RunTelemetryView.as_view(), name="api-run-telemetry"),
    path("api/v1/experiments/audit", AuditListView.as_view(), name="api-audit"),
    path("api/v1/experiments/tools", ToolListView.as_view(), name="api-tools"),
    path("api/v1/experiments/tools/call", ToolCallView.as_view(), name="api-tool-call"),
]
