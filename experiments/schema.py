"""OpenAPI shapes of the experiments facade (experiments-api.md) and the clean API, for
drf-spectacular. Documentation only: the views build their answers themselves."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from .models import TELEMETRY_CHANNELS

FACADE_TAGS = ["experiments-api"]
API_TAGS = ["experiments"]


def many(serializer):
    """A list of an inline serializer, as the same component (not a second one of the same name)."""
    return serializer.__class__(many=True)


# --- errors: {"message": ...}, plus `errors` for invalid parameters --------------------

ERROR = OpenApiResponse(
    inline_serializer(
        "ExperimentsError",
        fields={
            "message": serializers.CharField(help_text="What went wrong, naming the field"),
            "errors": serializers.DictField(
                child=serializers.CharField(),
                required=False,
                help_text="Invalid parameters only: field path -> problem",
            ),
        },
    ),
    description="Error: {message}, with `errors` (field -> problem) for invalid parameters",
)
READ_ERRORS = {400: ERROR, 401: ERROR, 404: ERROR}
WRITE_ERRORS = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR}

# --- the parameter table -----------------------------------------------------------------


def _profile(name, value_key, unit):
    return inline_serializer(
        name,
        fields={
            "time": serializers.ListField(
                child=serializers.FloatField(), help_text="From 0, increasing; minutes (or seconds with time_unit s)"
            ),
            value_key: serializers.ListField(child=serializers.FloatField(), help_text=f"{unit}, one per time"),
        },
    )


_TEMPERATURE = _profile("TemperatureProfile", "temperature", "°C")
_FLOW = _profile("FlowProfile", "flow", "sccm")
PARAMETERS = inline_serializer(
    "ExperimentParameters",
    fields={
        "Order": serializers.CharField(
            required=False, allow_blank=True, help_text="Experiment id (letters, digits, . _ -); empty: generated"
        ),
        "A": serializers.CharField(required=False, allow_blank=True, help_text="Precursor in zone A"),
        "B": serializers.CharField(required=False, allow_blank=True, help_text="Precursor in zone B"),
        "mass_A": serializers.CharField(required=False, allow_blank=True, help_text="mg, number or numeric string"),
        "mass_B": serializers.CharField(required=False, allow_blank=True, help_text="mg, number or numeric string"),
        "Substrate": serializers.CharField(help_text="e.g. SiO2/Si"),
        "time_unit": serializers.ChoiceField(choices=["min", "s"], required=False, help_text="Default min"),
        "temperature_A": _TEMPERATURE,
        "temperature_B": _TEMPERATURE.__class__(),
        "Ar_flow": _FLOW,
        "H2_flow": _FLOW.__class__(help_text="H2 above 0 only while Ar is at or above the furnace's minimum"),
    },
)
PARAMETERS_EXAMPLE = {
    "Order": "MoS2-001",
    "A": "S",
    "B": "MoO3",
    "mass_A": "150",
    "mass_B": "5",
    "Substrate": "SiO2/Si",
    "temperature_A": {"temperature": [25, 400, 400], "time": [0, 20, 40]},
    "temperature_B": {"temperature": [25, 300, 300], "time": [0, 15, 40]},
    "Ar_flow": {"time": [0, 40], "flow": [100, 100]},
    "H2_flow": {"time": [0, 20, 21, 40], "flow": [0, 0, 20, 20]},
}
FURNACE_FIELD = serializers.CharField(required=False, help_text="Furnace name; omit for the default furnace")

# --- facade requests and answers ------------------------------------------------------------

SET_PARAMETERS_REQUEST = inline_serializer(
    "SetParameters", fields={"Parameters": PARAMETERS, "furnace": FURNACE_FIELD}
)
SET_PARAMETERS_EXAMPLE = OpenApiExample("Ramp and hold", value={"Parameters": PARAMETERS_EXAMPLE}, request_only=True)
START_REQUEST = inline_serializer(
    "StartExperiment",
    fields={
        "furnace": FURNACE_FIELD,
        "experiment_id": serializers.CharField(
            required=False, help_text="Run this experiment instead of the one loaded in the furnace"
        ),
    },
)
STOP_REQUEST = inline_serializer(
    "StopExperiment",
    fields={
        "furnace": FURNACE_FIELD,
        "task_id": serializers.CharField(required=False, help_text="Task to stop; default: the furnace's active run"),
    },
)
SET_PARAMETERS_RESULT = inline_serializer(
    "SetParametersResult",
    fields={"message": serializers.CharField(help_text="参数已设定"), "实验id": serializers.CharField()},
)
RUN_RESULT = inline_serializer(
    "ExperimentRunResult",
    fields={
        "message": serializers.CharField(help_text="实验已启动 / 实验已停止"),
        "任务id": serializers.IntegerField(),
        "实验id": serializers.CharField(),
    },
)


def _task_row_fields():
    return {
        "任务id": serializers.IntegerField(),
        "任务状态": serializers.CharField(help_text="queued, running, succeeded, failed, cancelled"),
        "任务结果": serializers.CharField(allow_null=True, help_text="null until the run ends, then a sentence"),
        "实验id": serializers.CharField(),
        "开始时间": serializers.CharField(allow_null=True, help_text="YYYY-MM-DD HH:MM:SS, local time"),
        "结束时间": serializers.CharField(allow_null=True, help_text="YYYY-MM-DD HH:MM:SS, local time"),
        "进度": serializers.CharField(help_text='Percentage, e.g. "40%"'),
    }


TASK_ROW = inline_serializer("ExperimentTask", fields=_task_row_fields())
TASK_ROW_EXAMPLE = {
    "任务id": 7,
    "任务状态": "succeeded",
    "任务结果": "done",
    "实验id": "MoS2-001",
    "开始时间": "2025-01-01 10:00:00",
    "结束时间": "2025-01-01 10:40:00",
    "进度": "100%",
}
STATUS_RESULT = inline_serializer(
    "GetStatusResult", fields={"data": many(TASK_ROW), "message": serializers.CharField(help_text="查询成功")}
)
STATUS_EXAMPLE = OpenApiExample(
    "Task log", value={"data": [TASK_ROW_EXAMPLE], "message": "查询成功"}, response_only=True
)
TASK_FILTERS = [
    OpenApiParameter("experiment_id", OpenApiTypes.STR, description="Only runs of this experiment"),
    OpenApiParameter("task_id", OpenApiTypes.INT, description="Only this task"),
]
VIDEO = OpenApiResponse(OpenApiTypes.BINARY, description="The run's MP4 video (Range requests supported)")
VIDEO_RESPONSES = {
    (200, "video/mp4"): VIDEO,
    (206, "video/mp4"): OpenApiResponse(OpenApiTypes.BINARY, description="The requested byte range"),
    416: OpenApiResponse(description="Range not satisfiable (Content-Range: bytes */size)"),
    **READ_ERRORS,
}

# --- clean API --------------------------------------------------------------------------------

LIMIT = OpenApiParameter("limit", OpenApiTypes.INT, description="Most rows to return")
FURNACE_QUERY = OpenApiParameter("furnace", OpenApiTypes.STR, description="Furnace name; omit for the default")

FURNACE = inline_serializer(
    "FurnaceInfo",
    fields={
        "name": serializers.CharField(),
        "limits": inline_serializer(
            "FurnaceLimits",
            fields={
                "temperature_c": serializers.ListField(child=serializers.FloatField(), help_text="[min, max]"),
                "max_initial_temperature_c": serializers.FloatField(),
                "max_ramp_rate_c_per_min": serializers.FloatField(),
                "ar_sccm": serializers.ListField(child=serializers.FloatField(), help_text="[0, max]"),
                "h2_sccm": serializers.ListField(child=serializers.FloatField(), help_text="[0, max]"),
                "min_ar_for_h2_sccm": serializers.FloatField(),
                "max_duration_minutes": serializers.FloatField(),
                "max_precursor_mass_mg": serializers.FloatField(),
                "safe_temperature_c": serializers.FloatField(),
            },
        ),
        "precursors": serializers.ListField(child=serializers.CharField()),
        "state": serializers.DictField(help_text="The furnace's last reported state (temperatures, flows, heaters)"),
        "loaded_experiment": serializers.CharField(allow_null=True),
        "active_task": TASK_ROW.__class__(allow_null=True, help_text="The run in progress, if any"),
    },
)
FURNACE_LIST = inline_serializer("FurnaceList", fields={"furnaces": many(FURNACE)})

PROGRAM = inline_serializer(
    "ExperimentProgram",
    fields={
        "order": serializers.CharField(help_text="The experiment id; empty: one is generated"),
        "precursor_a": serializers.CharField(allow_null=True, allow_blank=True),
        "precursor_b": serializers.CharField(allow_null=True, allow_blank=True),
        "mass_a_mg": serializers.FloatField(allow_null=True),
        "mass_b_mg": serializers.FloatField(allow_null=True),
        "substrate": serializers.CharField(),
        "temperature_a": serializers.DictField(help_text="{time: [s], temperature: [°C]}"),
        "temperature_b": serializers.DictField(help_text="{time: [s], temperature: [°C]}"),
        "ar_flow": serializers.DictField(help_text="{time: [s], flow: [sccm]}"),
        "h2_flow": serializers.DictField(help_text="{time: [s], flow: [sccm]}"),
        "duration_s": serializers.FloatField(),
    },
)
VALIDATE_RESULT = inline_serializer(
    "ValidateParametersResult",
    fields={
        "valid": serializers.BooleanField(help_text="Always true; invalid tables answer 400"),
        "furnace": serializers.CharField(),
        "program": PROGRAM,
    },
)

_RUN_FIELDS = {"furnace": serializers.CharField(), "summary": serializers.DictField(help_text="Tracking summary")}
RUN_ROW = inline_serializer("ExperimentRunRow", fields={**_task_row_fields(), **_RUN_FIELDS})
RUN_LIST = inline_serializer("ExperimentRunList", fields={"runs": many(RUN_ROW)})
RUN_DETAIL = inline_serializer(
    "ExperimentRunDetail",
    fields={
        **_task_row_fields(),
        **_RUN_FIELDS,
        "phase": serializers.CharField(help_text="program, shutdown, done (empty before the start)"),
        "log": serializers.CharField(help_text="The last 4000 characters of the run's log"),
        "latest_telemetry": serializers.DictField(
            child=serializers.ListField(child=serializers.FloatField()),
            help_text="channel -> its latest value(s); {} before the first sample",
        ),
        "video_url": serializers.CharField(allow_null=True),
    },
)
TELEMETRY = inline_serializer(
    "ExperimentTelemetry",
    fields={
        name: serializers.ListField(child=serializers.FloatField(), help_text="seconds" if name == "t" else "")
        for name in TELEMETRY_CHANNELS
    },
)
RUN_TELEMETRY = inline_serializer(
    "ExperimentRunTelemetry",
    fields={
        "task_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "progress": serializers.FloatField(help_text="0 to 1"),
        "phase": serializers.CharField(),
        "duration_s": serializers.FloatField(allow_null=True),
        "telemetry": TELEMETRY,
    },
)
TELEMETRY_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.FLOAT, description="Only samples after this many seconds of the run"),
    OpenApiParameter("step", OpenApiTypes.INT, description="Keep one sample every `step` seconds (1 to 3600)"),
]

TOOL_LIST = inline_serializer(
    "ExperimentToolList",
    fields={
        "furnace": serializers.CharField(),
        "tools": serializers.ListField(
            child=serializers.DictField(),
            help_text='OpenAI function tools: {"type": "function", "function": {name, description, parameters}}',
        ),
    },
)
TOOL_CALL_REQUEST = inline_serializer(
    "ExperimentToolCall",
    fields={
        "name": serializers.CharField(help_text="The tool's name, from GET tools"),
        "arguments": serializers.JSONField(
            required=False, help_text="Object, or a JSON-encoded string of one (as OpenAI sends them)"
        ),
    },
)
TOOL_CALL_EXAMPLE = OpenApiExample(
    "Furnace info", value={"name": "get_furnace_info", "arguments": {}}, request_only=True
)
TOOL_CALL_RESULT = inline_serializer(
    "ExperimentToolCallResult",
    fields={
        "name": serializers.CharField(),
        "ok": serializers.BooleanField(),
        "result": serializers.JSONField(help_text="What the tool returns (see each tool's description)"),
    },
)
