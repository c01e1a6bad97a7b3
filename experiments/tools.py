"""The furnace operations as OpenAI function-calling tools, and their execution.

`tool_definitions(furnace)` is what GET /api/v1/experiments/tools returns: a list of
{"type": "function", "function": {"name", "description", "parameters": JSON schema}}
whose limits are the furnace's own. `call_tool(user, name, arguments)` runs one call
(POST /api/v1/experiments/tools/call) through the same services as the spec endpoints,
so permissions, validation and the audit log are the same.
"""

import json

from core.errors import InvalidInput, NotFound

from . import selectors, services
from .compat import TaskRow
from .profiles import validate_parameters


def _profile_schema(value_key, unit, minimum, maximum, description):
    return {
        "type": "object",
        "description": description,
        "properties": {
            "time": {
                "type": "array", "items": {"type": "number", "minimum": 0},
                "description": "Times from 0, strictly increasing (minutes unless time_unit is 's')",
            },
            value_key: {
                "type": "array", "items": {"type": "number", "minimum": minimum, "maximum": maximum},
                "description": f"{value_key} ({unit}) reached at the matching time; the last value holds",
            },
        },
        "required": ["time", value_key],
        "additionalProperties": False,
    }


def parameters_schema(furnace, precursors):
    t_desc = (
        f"Zone setpoint profile (°C), piecewise linear. Starts at or below {furnace.max_initial_temperature_c:g} °C; "
        f"ramps at most {furnace.max_ramp_rate_c_per_min:g} °C/min"
    )
    return {
        "type": "object",
        "properties": {
            "Order": {"type": "string", "description": "Experiment id (letters, digits, . _ -); empty to generate one"},
            "A": {"type": "string", "enum": precursors + [""], "description": "Precursor in zone A (upstream)"},
            "B": {"type": "string", "enum": precursors + [""], "description": "Precursor in zone B"},
            "mass_A": {"type": "number", "exclusiveMinimum": 0, "maximum": furnace.max_precursor_mass_mg,
                       "description": "Mass of precursor A in mg"},
            "mass_B": {"type": "number", "exclusiveMinimum": 0, "maximum": furnace.max_precursor_mass_mg,
                       "description": "Mass of precursor B in mg"},
            "Substrate": {"type": "string", "description": "Substrate downstream of zone B, e.g. SiO2/Si"},
            "time_unit": {"type": "string", "enum": ["min", "s"], "description": "Unit of every time array (default min)"},
            "temperature_A": _profile_schema(
                "temperature", "°C", furnace.min_temperature_c, furnace.max_temperature_c, t_desc + " (zone A)."
            ),
            "temperature_B": _profile_schema(
                "temperature", "°C", furnace.min_temperature_c, furnace.max_temperature_c, t_desc + " (zone B)."
            ),
            "Ar_flow": _profile_schema("flow", "sccm", 0, furnace.ar_max_sccm, "Argon flow profile (sccm)."),
            "H2_flow": _profile_schema(
                "flow", "sccm", 0, furnace.h2_max_sccm,
                f"Hydrogen flow profile (sccm). Interlock: H2 above 0 only while Ar is at least "
                f"{furnace.min_ar_for_h2_sccm:g} sccm.",
            ),
        },
        "required": ["A", "mass_A", "Substrate", "temperature_A", "temperature_B", "Ar_flow", "H2_flow"],
        "additionalProperties": False,
    }


def _function(name, description, properties=None, required=None):
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object", "properties": properties or {}, "required": required or [],
                "additionalProperties": False,
            },
        },
    }


FURNACE_ARG = {"type": "string", "description": "Furnace name; omit for the default furnace"}
TASK_ARG = {"type": "integer", "description": "Task id (任务id) returned by start_experiment"}


def tool_definitions(furnace):
    precursors = sorted(set(selectors.known_precursors().values()))
    schema = parameters_schema(furnace, precursors)
    return [
        _function(
            "get_furnace_info",
            "Limits of the two-zone CVD tube furnace (temperatures, ramp rate, gas flow ranges, H2 interlock), "
            "known precursors, its current state, the loaded parameter set and any active run. Call this first.",
            {"furnace": FURNACE_ARG},
        ),
        _function(
            "validate_parameters",
            "Check a parameter table against the furnace's limits without loading it. Returns the errors per field.",
            {"parameters": schema, "furnace": FURNACE_ARG}, ["parameters"],
        ),
        _function(
            "set_parameters",
            "Load a parameter table into the furnace (precursor A in zone A, B in zone B, substrate downstream; "
            "setpoint profiles for both zones and gas flows). Needs the operator role. Returns the experiment id.",
            {"parameters": schema, "furnace": FURNACE_ARG}, ["parameters"],
        ),
        _function(
            "start_experiment",
            "Start a run of the loaded parameter table (or of experiment_id). One run at a time per furnace. "
            "Needs the operator role. Returns the task id.",
            {"experiment_id": {"type": "string", "description": "Run this experiment instead of the loaded one"},
             "furnace": FURNACE_ARG},
        ),
        _function(
            "stop_experiment",
            "Stop the running experiment safely: H2 off at once, heaters off, argon purge until cool. "
            "Needs the operator role.",
            {"task_id": TASK_ARG, "furnace": FURNACE_ARG},
        ),
        _function(
            "get_status",
            "The task log: each run's status (queued, running, succeeded, failed, cancelled), progress and result.",
            {"experiment_id": {"type": "string"}, "task_id": TASK_ARG,
             "limit": {"type": "integer", "minimum": 1, "maximum": 200}},
        ),
        _function(
            "get_run",
            "One run in detail: status, log, tracking summary and the latest telemetry sample.",
            {"task_id": TASK_ARG}, ["task_id"],
        ),
    ]


def furnace_info(furnace):
    run = selectors.active_run(furnace)
    return {
        "name": furnace.name,
        "limits": furnace.limits,
        "precursors": sorted(set(selectors.known_precursors().values())),
        "state": furnace.last_state,
        "loaded_experiment": furnace.loaded_experiment.experiment_id if furnace.loaded_experiment_id else None,
        "active_task": TaskRow(run).data if run else None,
    }


def run_detail(run, telemetry_tail=1):
    columns = selectors.run_telemetry(run, since=max(0.0, run.simulated_seconds - 5))
    latest = {name: values[-telemetry_tail:] for name, values in columns.items()} if columns["t"] else {}
    return {
        **TaskRow(run).data,
        "furnace": run.furnace.name,
        "phase": run.phase,
        "summary": run.summary,
        "log": run.log[-4000:],
        "latest_telemetry": latest,
        "video_url": f"/download_video?task_id={run.pk}" if run.video else None,
    }


def _arguments(arguments):
    if arguments in (None, ""):
        return {}
    if isinstance(arguments, str):  # OpenAI sends the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise InvalidInput("arguments: not valid JSON") from None
    if not isinstance(arguments, dict):
        raise InvalidInput("arguments: must be a JSON object")
    return arguments


def _str(arguments, key):
    value = arguments.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"arguments.{key}: must be a string")
    return value


def call_tool(user, name, arguments):
    """Execute one tool call; returns a JSON-able result or raises a core.errors exception."""
    args = _arguments(arguments)
    allowed = {
        "get_furnace_info": {"furnace"},
        "validate_parameters": {"parameters", "furnace"},
        "set_parameters": {"parameters", "furnace"},
        "start_experiment": {"experiment_id", "furnace"},
        "stop_experiment": {"task_id", "furnace"},
        "get_status": {"experiment_id", "task_id", "limit"},
        "get_run": {"task_id"},
    }
    if name not in allowed:
        raise NotFound(f"name: unknown tool {name!r}; tools: {', '.join(sorted(allowed))}")
    unknown = sorted(set(args) - allowed[name])
    if unknown:
        raise InvalidInput(f"arguments.{unknown[0]}: unknown argument of {name}")
    furnace_name = _str(args, "furnace")
    if name in ("validate_parameters", "set_parameters") and "parameters" not in args:
        raise InvalidInput("arguments.parameters: required")
    if name == "get_furnace_info":
        return furnace_info(selectors.resolve_furnace(furnace_name))
    if name == "validate_parameters":
        furnace = selectors.resolve_furnace(furnace_name)
        program = validate_parameters(args["parameters"], furnace, selectors.known_precursors())
        return {"valid": True, "duration_minutes": program["duration_s"] / 60, "furnace": furnace.name}
    if name == "set_parameters":
        experiment = services.set_parameters(user, parameters=args["parameters"], furnace_name=furnace_name, via="tool",
                                             payload=args)
        return {"message": "参数已设定", "实验id": experiment.experiment_id}
    if name == "start_experiment":
        run = services.start_experiment(user, furnace_name=furnace_name, experiment_id=_str(args, "experiment_id"),
                                       via="tool", payload=args)
        return {"message": "实验已启动", "任务id": run.pk, "实验id": run.experiment_code}
    if name == "stop_experiment":
        run = services.stop_experiment(user, furnace_name=furnace_name, task_id=_str(args, "task_id"), via="tool",
                                      payload=args)
        return {"message": "实验已停止", "任务id": run.pk, "实验id": run.experiment_code}
    if name == "get_status":
        limit = args.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
            raise InvalidInput("arguments.limit: must be an integer from 1 to 200")
        runs = selectors.task_log(user, _str(args, "experiment_id"), _str(args, "task_id"), limit)
        return {"data": TaskRow(runs, many=True).data}
    run = selectors.get_visible_run(user, _str(args, "task_id"))
    return run_detail(run)
