"""The experiments-api.md facade: /set_parameters, /start_experiment, /stop_experiment,
/get_status and /download_video, answering `{"message": ...}` (plus `data` for the
task log). Errors use the same shape with a message naming the field, and `errors`
(field -> problem) for invalid parameters."""

from django.core.files.storage import default_storage
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.envelopes import flatten_detail
from core.errors import DomainError, InvalidInput
from core.parsers import parse_json
from core.ranges import serve_stored_file

from . import schema, selectors, services
from .profiles import ParameterErrors

MAX_TASK_LOG = 200


def experiments_exception_handler(exc, context):
    view = context.get("view")
    extra = dict(getattr(view, "error_extra", {}) or {})
    if isinstance(exc, DomainError):
        body = {"message": exc.message, **extra}
        if isinstance(exc, ParameterErrors):
            body["errors"] = exc.errors
        return Response(body, status=exc.status_code)
    if not isinstance(exc, exceptions.APIException):
        return None
    status_code = exc.status_code
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        status_code = status.HTTP_401_UNAUTHORIZED
    headers = {"Retry-After": str(int(exc.wait))} if getattr(exc, "wait", None) else {}
    return Response({"message": flatten_detail(exc.detail), **extra}, status=status_code, headers=headers)


def _body(request, allowed):
    data = request.data
    if data in (None, "") or (hasattr(data, "keys") and not data):
        return {}
    if not isinstance(data, dict):
        if hasattr(data, "dict"):
            data = data.dict()
        else:
            raise InvalidInput("body: must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field; expected {', '.join(sorted(allowed)) or 'no body'}")
    return data


def _text(data, key):
    value = data.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput(f"{key}: must be a string of at most 64 characters")
    return value.strip()


class ExperimentsView(APIView):
    error_extra = {}

    def get_exception_handler(self):
        return experiments_exception_handler


class SetParametersView(ExperimentsView):
    @extend_schema(
        tags=schema.FACADE_TAGS,
        summary="Load a parameter table (precursors, masses, substrate, zone and gas profiles) into a furnace",
        request=schema.SET_PARAMETERS_REQUEST,
        examples=[schema.SET_PARAMETERS_EXAMPLE],
        responses={200: schema.SET_PARAMETERS_RESULT, **schema.WRITE_ERRORS},
    )
    def post(self, request):
        data = _body(request, {"Parameters", "furnace"})
        if "Parameters" not in data:
            raise InvalidInput("Parameters: required (an object with Order, A, B, mass_A, mass_B, Substrate and profiles)")
        parameters = data["Parameters"]
        if isinstance(parameters, str):  # some clients send the table JSON-encoded twice
            parameters = parse_json(parameters, what="Parameters")
        experiment = services.set_parameters(
            request.user, parameters, furnace_name=_text(data, "furnace"), via="compat", payload=data
        )
        return Response({"message": "参数已设定", "实验id": experiment.experiment_id})


class StartExperimentView(ExperimentsView):
    @extend_schema(
        tags=schema.FACADE_TAGS,
        summary="Start a run of the loaded parameter table (or of experiment_id)",
        request=schema.START_REQUEST,
        responses={200: schema.RUN_RESULT, **schema.WRITE_ERRORS},
    )
    def post(self, request):
        data = _body(request, {"furnace", "experiment_id"})
        run = services.start_experiment(
            request.user, furnace_name=_text(data, "furnace"), experiment_id=_text(data, "experiment_id"),
            via="compat", payload=data,
        )
        return Response({"message": "实验已启动", "任务id": run.pk, "实验id": run.experiment_code})


class StopExperimentView(ExperimentsView):
    @extend_schema(
        tags=schema.FACADE_TAGS,
        summary="Stop the running experiment safely (H2 off, heaters off, argon purge)",
        request=schema.STOP_REQUEST,
        responses={200: schema.RUN_RESULT, **schema.WRITE_ERRORS},
    )
    def post(self, request):
        data = _body(request, {"furnace", "task_id"})
        run = services.stop_experiment(
            request.user, furnace_name=_text(data, "furnace"), task_id=_text(data, "task_id"), via="compat", payload=data
        )
        return Response({"message": "实验已停止", "任务id": run.pk, "实验id": run.experiment_code})


def _limit(value, default=50):
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("limit: must be an integer") from None
    if not 1 <= limit <= MAX_TASK_LOG:
        raise InvalidInput(f"limit: must be between 1 and {MAX_TASK_LOG}")
    return limit


class GetStatusView(ExperimentsView):
    error_extra = {"data": []}

    @extend_schema(
        tags=schema.FACADE_TAGS,
        summary="The task log, newest first (errors also carry data: [])",
        parameters=[
            *schema.TASK_FILTERS,
            OpenApiParameter("limit", int, description=f"Most rows, 1 to {MAX_TASK_LOG} (default 50)"),
        ],
        responses={200: schema.STATUS_RESULT, **schema.READ_ERRORS},
        examples=[schema.STATUS_EXAMPLE],
    )
    def get(self, request):
        runs = selectors.task_log(
            request.user,
            experiment_id=request.query_params.get("experiment_id") or None,
            task_id=request.query_params.get("task_id") or None,
            limit=_limit(request.query_params.get("limit")),
        )
        return Response({"data": [selectors.task_row(run) for run in runs], "message": "查询成功"})


class DownloadVideoView(ExperimentsView):
    @extend_schema(
        tags=schema.FACADE_TAGS,
        summary="The video of a run (task_id), or of the latest run of experiment_id, or of your latest run",
        parameters=schema.TASK_FILTERS,
        responses=schema.VIDEO_RESPONSES,
    )
    def get(self, request):
        run = selectors.run_for_video(
            request.user,
            experiment_id=request.query_params.get("experiment_id") or None,
            task_id=request.query_params.get("task_id") or None,
        )
        # Video players seek with Range requests (core.ranges: 206, 416, If-Range, HEAD, proxy hand-off).
        response, _ = serve_stored_file(
            request, storage_name=run.video.name, size=default_storage.size(run.video.name), etag=None,
            content_type="video/mp4", filename=f"{run.experiment_code}-task{run.pk}.mp4",
        )
        return response


urlpatterns = [
    path("set_parameters", SetParametersView.as_view(), name="set_parameters"),
    path("start_experiment", StartExperimentView.as_view(), name="start_experiment"),
    path("stop_experiment", StopExperimentView.as_view(), name="stop_experiment"),
    path("get_status", GetStatusView.as_view(), name="get_status"),
    path("download_video", DownloadVideoView.as_view(), name="download_video"),
]
