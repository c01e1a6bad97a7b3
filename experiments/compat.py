"""The experiments-api.md facade: /set_parameters, /start_experiment, /stop_experiment,
/get_status and /download_video, answering `{"message": ...}` (plus the spec's fields). Errors use
the same shape with a message naming the field, and `errors` (field -> problem) for invalid
parameters. Built from core.facades (the "experiments" kind: no envelope around the answer)."""

from django.core.files.storage import default_storage
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.errors import InvalidInput
from core.facades import ERROR_STATUSES, FacadeView, StrictInteger, Text, error_schema, facade
from core.parsers import parse_json
from core.ranges import serve_stored_file

from . import selectors, services
from .errors import in_the_table

TAGS = ["experiments-api"]
MAX_TASK_LOG = 200


class Ident(Text):
    """An id or name: a string (or an integer) of at most 64 characters, stripped; empty is None."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_null=True, allow_blank=True, max_length=64, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        return super().to_internal_value(data).strip() or None


class StrictBody(serializers.Serializer):
    """A body that names only the spec's fields: an unknown one is a 400 naming it."""

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise InvalidInput(f"{unknown[0]}: unknown field; expected {', '.join(sorted(self.fields)) or 'no body'}")
        return super().to_internal_value(data)


class Table(serializers.JSONField):
    """The parameter table: an object, or the same JSON-encoded once more (some clients do)."""

    def to_internal_value(self, data):
        return parse_json(data, what="Parameters") if isinstance(data, str) else data


class TaskRow(serializers.Serializer):
    """One run in the task log, in the spec's words."""

    任务id = serializers.IntegerField(source="pk")
    任务状态 = serializers.CharField(source="status", help_text="queued, running, succeeded, failed, cancelled")
    任务结果 = serializers.CharField(source="result_text", allow_null=True, help_text="null until the run ends")
    实验id = serializers.CharField(source="experiment_code")
    开始时间 = serializers.DateTimeField(source="started_at", format="%Y-%m-%d %H:%M:%S", allow_null=True)
    结束时间 = serializers.DateTimeField(source="finished_at", format="%Y-%m-%d %H:%M:%S", allow_null=True)
    进度 = serializers.CharField(source="percent", help_text='percentage, e.g. "40%"')


class RunAnswer(serializers.Serializer):
    message = serializers.CharField()
    任务id = serializers.IntegerField(source="run.pk")
    实验id = serializers.CharField(source="run.experiment_code")


class ExperimentsFacade(FacadeView):
    envelope, tags = "experiments", TAGS
    error_extra = {}

    def handle_exception(self, exc):
        return super().handle_exception(in_the_table(exc))

    def answer(self, data=None, **kwargs):
        return Response(data)


class SetParametersView(ExperimentsFacade):
    class Input(StrictBody):
        Parameters = Table(source="parameters", help_text="Order, A, B, mass_A, mass_B, Substrate, time_unit "
                           "(min or s), temperature_A/B {time, temperature}, Ar_flow/H2_flow {time, flow}")
        furnace = Ident(source="furnace_name", help_text="omit for the default furnace")

    class Output(serializers.Serializer):
        message = serializers.CharField(help_text="参数已设定")
        实验id = serializers.CharField(source="experiment.experiment_id")

    spec_fields = {"order": "Parameters.Order"}

    @facade(summary="Load a parameter table (precursors, masses, substrate, zone and gas profiles) into a furnace",
            output=Output())
    def post(self, request):
        experiment = services.set_parameters(request.user, **self.input(request), via="compat", payload=request.data)
        return self.answer(self.Output({"message": "参数已设定", "experiment": experiment}).data)


class StartExperimentView(ExperimentsFacade):
    class Input(StrictBody):
        furnace = Ident(source="furnace_name", help_text="omit for the default furnace")
        experiment_id = Ident(help_text="run this experiment instead of the one loaded in the furnace")

    @facade(summary="Start a run of the loaded parameter table (or of experiment_id)", output=RunAnswer())
    def post(self, request):
        run = services.start_experiment(request.user, **self.input(request), via="compat", payload=request.data)
        return self.answer(RunAnswer({"message": "实验已启动", "run": run}).data)


class StopExperimentView(ExperimentsFacade):
    class Input(StrictBody):
        furnace = Ident(source="furnace_name", help_text="omit for the default furnace")
        task_id = Ident(help_text="the task to stop; default: the furnace's active run")

    @facade(summary="Stop the running experiment safely (H2 off, heaters off, argon purge)", output=RunAnswer())
    def post(self, request):
        run = services.stop_experiment(request.user, **self.input(request), via="compat", payload=request.data)
        return self.answer(RunAnswer({"message": "实验已停止", "run": run}).data)


class RunFilter(serializers.Serializer):
    experiment_id = Ident(help_text="only runs of this experiment")
    task_id = Ident(help_text="only this task")


class GetStatusView(ExperimentsFacade):
    error_extra = {"data": []}

    class Input(RunFilter):
        limit = StrictInteger(required=False, min_value=1, max_value=MAX_TASK_LOG, default=50)

    class Output(serializers.Serializer):
        data = TaskRow(many=True)
        message = serializers.CharField(help_text="查询成功")

    @facade(summary="The task log, newest first (errors also carry data: [])", output=Output())
    def get(self, request):
        runs = selectors.task_log(request.user, **self.input(request))
        return self.answer(self.Output({"data": runs, "message": "查询成功"}).data)


class DownloadVideoView(ExperimentsFacade):
    Input = RunFilter

    @extend_schema(
        tags=TAGS, summary="The video of a run (task_id), or of the latest run of experiment_id, or of your latest run",
        parameters=[RunFilter], responses={
            (200, "video/mp4"): OpenApiResponse(OpenApiTypes.BINARY, description="the run's MP4 video"),
            (206, "video/mp4"): OpenApiResponse(OpenApiTypes.BINARY, description="the requested byte range"),
            416: OpenApiResponse(description="range not satisfiable (Content-Range: bytes */size)"),
            **{code: error_schema("experiments") for code in ERROR_STATUSES},
        },
    )
    def get(self, request):
        run = selectors.run_for_video(request.user, **self.input(request))
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
