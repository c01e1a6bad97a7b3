"""The clean REST API under /api/v1/experiments/ (furnaces, runs, telemetry, audit, agent tools)."""

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput, NotFound

from . import schema, selectors, tools
from .compat import experiments_exception_handler
from .models import AuditEntry, Experiment, Furnace
from .profiles import validate_parameters


class ApiView(APIView):
    def get_exception_handler(self):
        return experiments_exception_handler


class ExperimentSerializer(serializers.ModelSerializer):
    furnace = serializers.CharField(source="furnace.name")
    owner = serializers.CharField(source="owner.username", default=None)

    class Meta:
        model = Experiment
        fields = [
            "experiment_id", "owner", "furnace", "precursor_a", "precursor_b", "mass_a_mg", "mass_b_mg", "substrate",
            "temperature_a", "temperature_b", "ar_flow", "h2_flow", "duration_s", "raw_parameters", "created_at",
            "updated_at",
        ]


class AuditSerializer(serializers.ModelSerializer):
    furnace = serializers.CharField(source="furnace.name", default=None)

    class Meta:
        model = AuditEntry
        fields = [
            "id", "created_at", "username", "action", "via", "furnace", "run", "experiment_id", "payload", "outcome",
            "status_code", "message",
        ]


def _int_param(request, name, default, low, high):
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name}: must be an integer") from None
    if not low <= number <= high:
        raise InvalidInput(f"{name}: must be between {low} and {high}")
    return number


class FurnaceListView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="Enabled furnaces: limits, precursors, state, loaded experiment, active run",
        responses={200: schema.FURNACE_LIST, **schema.READ_ERRORS},
    )
    def get(self, request):
        return Response({"furnaces": [tools.furnace_info(f) for f in Furnace.objects.filter(is_enabled=True)]})


class ExperimentListView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="Your experiments (all, for operators), recently updated first",
        operation_id="api_v1_experiments_experiments_list",
        parameters=[schema.LIMIT],
        responses={
            200: inline_serializer("ExperimentList", fields={"experiments": ExperimentSerializer(many=True)}),
            **schema.READ_ERRORS,
        },
    )
    def get(self, request):
        limit = _int_param(request, "limit", 50, 1, 200)
        experiments = selectors.visible_experiments(request.user).order_by("-updated_at")[:limit]
        return Response({"experiments": ExperimentSerializer(experiments, many=True).data})


class ExperimentDetailView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="One experiment", responses={200: ExperimentSerializer, **schema.READ_ERRORS}
    )
    def get(self, request, experiment_id):
        experiment = selectors.visible_experiments(request.user).filter(experiment_id=experiment_id).first()
        if experiment is None:
            raise NotFound(f"experiment_id: no experiment {experiment_id!r}")
        return Response(ExperimentSerializer(experiment).data)


class ValidateView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="Check a parameter table against a furnace's limits without loading it",
        request=schema.SET_PARAMETERS_REQUEST, examples=[schema.SET_PARAMETERS_EXAMPLE],
        responses={200: schema.VALIDATE_RESULT, **schema.READ_ERRORS},
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        if "Parameters" not in data:
            raise InvalidInput("Parameters: required")
        furnace = selectors.resolve_furnace(data.get("furnace"))
        program = validate_parameters(data["Parameters"], furnace, selectors.known_precursors())
        return Response({"valid": True, "furnace": furnace.name, "program": program})


class RunListView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="Runs, newest first", operation_id="api_v1_experiments_runs_list",
        parameters=[schema.LIMIT, schema.TASK_FILTERS[0]],
        responses={200: schema.RUN_LIST, **schema.READ_ERRORS},
    )
    def get(self, request):
        limit = _int_param(request, "limit", 50, 1, 200)
        runs = selectors.task_log(request.user, request.query_params.get("experiment_id") or None, limit=limit)
        return Response({"runs": [{**selectors.task_row(r), "furnace": r.furnace.name, "summary": r.summary} for r in runs]})


class RunDetailView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS,
        summary="One run: status, log, summary, latest telemetry",
        responses={200: schema.RUN_DETAIL, **schema.READ_ERRORS},
    )
    def get(self, request, run_id):
        return Response(tools.run_detail(selectors.get_visible_run(request.user, run_id)))


class RunTelemetryView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="A run's telemetry as columns, one list per channel",
        parameters=schema.TELEMETRY_PARAMETERS, responses={200: schema.RUN_TELEMETRY, **schema.READ_ERRORS},
    )
    def get(self, request, run_id):
        run = selectors.get_visible_run(request.user, run_id)
        since = request.query_params.get("since")
        if since not in (None, ""):
            try:
                since = float(since)
            except ValueError:
                raise InvalidInput("since: must be a number of seconds") from None
        else:
            since = None
        step = _int_param(request, "step", 1, 1, 3600)
        telemetry = selectors.run_telemetry(run, since=since)
        if step > 1:
            keep = [i for i, t in enumerate(telemetry["t"]) if int(t) % step == 0]
            telemetry = {name: [values[i] for i in keep] for name, values in telemetry.items()}
        return Response({
            "task_id": run.pk, "status": run.status, "progress": run.progress, "phase": run.phase,
            "duration_s": run.program.get("duration_s"), "telemetry": telemetry,
        })


class AuditListView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="Audit log of furnace actions (yours; everyone's for operators), newest first",
        parameters=[schema.LIMIT],
        responses={
            200: inline_serializer("AuditList", fields={"entries": AuditSerializer(many=True)}),
            **schema.READ_ERRORS,
        },
    )
    def get(self, request):
        limit = _int_param(request, "limit", 100, 1, 500)
        entries = AuditEntry.objects.select_related("furnace").order_by("-created_at", "-id")
        if not request.user.is_operator:
            entries = entries.filter(user=request.user)
        return Response({"entries": AuditSerializer(entries[:limit], many=True).data})


class ToolListView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="The agent tools as OpenAI function definitions",
        parameters=[schema.FURNACE_QUERY], responses={200: schema.TOOL_LIST, **schema.READ_ERRORS},
    )
    def get(self, request):
        furnace = selectors.resolve_furnace(request.query_params.get("furnace") or None)
        return Response({"furnace": furnace.name, "tools": tools.tool_definitions(furnace)})


class ToolCallView(ApiView):
    @extend_schema(
        tags=schema.API_TAGS, summary="Execute one agent tool call",
        request=schema.TOOL_CALL_REQUEST, examples=[schema.TOOL_CALL_EXAMPLE],
        responses={200: schema.TOOL_CALL_RESULT, **schema.WRITE_ERRORS},
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise InvalidInput("body: must be a JSON object {\"name\": ..., \"arguments\": {...}}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput("name: required (the tool's name)")
        result = tools.call_tool(request.user, name, data.get("arguments"))
        return Response({"name": name, "ok": True, "result": result})


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
