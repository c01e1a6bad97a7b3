"""The spec endpoints without a worker: validation, roles, the audit log, the task log, tools."""

import pytest

from experiments.models import AuditEntry, Experiment, ExperimentRun, Furnace
from tests.experiments.conftest import ramp_and_hold

pytestmark = pytest.mark.django_db


def set_parameters(client, parameters, **extra):
    return client.post("/set_parameters", {"Parameters": parameters, **extra}, format="json")


def test_set_parameters_stores_the_table_and_loads_it(operator_client, furnace):
    response = set_parameters(operator_client, ramp_and_hold("MOS2-001"))
    assert response.status_code == 200, response.content
    assert response.json() == {"message": "参数已设定", "实验id": "MOS2-001"}
    experiment = Experiment.objects.get(experiment_id="MOS2-001")
    assert experiment.mass_a_mg == 150 and experiment.precursor_b == "MoO3"
    # Times are minutes by default and stored in seconds.
    assert experiment.temperature_a == {"time": [0, 1200, 2400], "temperature": [25, 400, 400]}
    assert experiment.duration_s == 2400
    furnace.refresh_from_db()
    assert furnace.loaded_experiment == experiment
    entry = AuditEntry.objects.get(action="set_parameters")
    assert (entry.username, entry.outcome, entry.experiment_id) == ("olga", "ok", "MOS2-001")
    assert entry.payload["Parameters"]["A"] == "S"


def test_setting_the_same_order_again_updates_it(operator_client, furnace):
    set_parameters(operator_client, ramp_and_hold("SAME"))
    response = set_parameters(operator_client, ramp_and_hold("SAME", Substrate="sapphire"))
    assert response.status_code == 200
    assert Experiment.objects.get(experiment_id="SAME").substrate == "sapphire"


def test_empty_order_gets_a_generated_experiment_id(operator_client, furnace):
    response = set_parameters(operator_client, ramp_and_hold(""))
    assert response.json()["实验id"].startswith("EXP-")


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"temperature_A": {"temperature": [25, 400], "time": [0, 20, 40]}}, "Parameters.temperature_A", "equal"),
        ({"temperature_A": {"temperature": [25, 400, 400], "time": [5, 20, 40]}}, "Parameters.temperature_A.time", "start at 0"),
        ({"temperature_B": {"temperature": [25, 300, 300], "time": [0, 20, 20]}}, "Parameters.temperature_B.time", "strictly increasing"),
        ({"temperature_A": {"temperature": [25, 1500, 1500], "time": [0, 100, 120]}}, "Parameters.temperature_A.temperature", "range"),
        ({"temperature_A": {"temperature": [25, 800, 800], "time": [0, 10, 40]}}, "Parameters.temperature_A.temperature", "°C/min"),
        ({"temperature_B": {"temperature": [500, 500], "time": [0, 40]}}, "Parameters.temperature_B.temperature", "start"),
        ({"Ar_flow": {"time": [0, 40], "flow": [100, 900]}}, "Parameters.Ar_flow.flow", "range"),
        ({"H2_flow": {"time": [0, 40], "flow": [0, 150]}}, "Parameters.H2_flow.flow", "range"),
        ({"Ar_flow": {"time": [0, 40], "flow": [20, 20]}}, "Parameters.H2_flow", "interlock"),
        ({"mass_A": -3}, "Parameters.mass_A", "positive"),
        ({"mass_B": "lots"}, "Parameters.mass_B", "number"),
        ({"A": "unobtainium"}, "Parameters.A", "known precursors"),
        ({"Substrate": ""}, "Parameters.Substrate", "required"),
        ({"temperature_A": {"temperature": [25, "hot", 400], "time": [0, 20, 40]}}, "Parameters.temperature_A.temperature", "not a number"),
        ({"Ar_flow": None}, "Parameters.Ar_flow", "object"),
        ({"Colour": "blue"}, "Parameters.Colour", "unknown field"),
        ({"time_unit": "hours"}, "Parameters.time_unit", "min"),
    ],
)
def test_invalid_parameters_answer_400_naming_the_field(operator_client, furnace, change, field, words):
    response = set_parameters(operator_client, ramp_and_hold(**change))
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["errors"], body
    assert words in body["errors"][field]
    assert field in body["message"]
    assert not Experiment.objects.exists()
    assert AuditEntry.objects.get(action="set_parameters").outcome == "refused"


def test_hydrogen_after_argon_stops_breaks_the_interlock(operator_client, furnace):
    parameters = ramp_and_hold(Ar_flow={"time": [0, 30], "flow": [100, 0]})
    response = set_parameters(operator_client, parameters)
    assert response.status_code == 400
    assert "interlock" in response.json()["errors"]["Parameters.H2_flow"]


def test_seconds_can_be_the_time_unit(operator_client, furnace):
    parameters = ramp_and_hold(
        time_unit="s",
        temperature_A={"temperature": [25, 100], "time": [0, 600]},
        temperature_B={"temperature": [25, 25], "time": [0, 600]},
        Ar_flow={"time": [0, 600], "flow": [100, 100]},
        H2_flow={"time": [0, 600], "flow": [0, 0]},
    )
    assert set_parameters(operator_client, parameters).status_code == 200
    assert Experiment.objects.get().duration_s == 600


def test_body_errors_are_400_with_a_message(operator_client, furnace):
    response = operator_client.post("/set_parameters", {"Params": {}}, format="json")
    assert response.status_code == 400
    assert "Params" in response.json()["message"]
    response = operator_client.post("/set_parameters", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"]
    response = operator_client.post("/set_parameters", {}, format="json")
    assert response.status_code == 400 and "Parameters" in response.json()["message"]


@pytest.mark.parametrize("path", ["/set_parameters", "/start_experiment", "/stop_experiment"])
def test_researcher_without_operator_role_is_refused(researcher_client, furnace, path):
    body = {"Parameters": ramp_and_hold()} if path == "/set_parameters" else {}
    response = researcher_client.post(path, body, format="json")
    assert response.status_code == 403
    assert "operator" in response.json()["message"]
    entry = AuditEntry.objects.get()
    assert (entry.username, entry.outcome, entry.status_code) == ("alice", "refused", 403)
    assert not ExperimentRun.objects.exists()


@pytest.mark.parametrize("method, path", [("post", "/set_parameters"), ("post", "/start_experiment"),
                                          ("post", "/stop_experiment"), ("get", "/get_status"),
                                          ("get", "/download_video"), ("get", "/api/v1/experiments/tools")])
def test_every_endpoint_needs_authentication(api_client, furnace, method, path):
    response = getattr(api_client, method)(path, {}, format="json") if method == "post" else api_client.get(path)
    assert response.status_code == 401
    assert response.json()["message"]


def test_start_without_parameters_is_refused(operator_client, furnace):
    response = operator_client.post("/start_experiment", {}, format="json")
    assert response.status_code == 409
    assert "set_parameters" in response.json()["message"]


def test_stop_with_nothing_running_is_409(operator_client, furnace):
    response = operator_client.post("/stop_experiment", {}, format="json")
    assert response.status_code == 409
    assert "no experiment is running" in response.json()["message"]


def test_unknown_furnace_is_404_naming_it(operator_client, furnace):
    response = operator_client.post("/start_experiment", {"furnace": "nope"}, format="json")
    assert response.status_code == 404
    assert "furnace" in response.json()["message"] and "test-furnace" in response.json()["message"]


def test_get_status_answers_in_the_spec_shape(operator_client, furnace, operator):
    set_parameters(operator_client, ramp_and_hold("LOG-1"))
    experiment = Experiment.objects.get()
    ExperimentRun.objects.create(owner=operator, experiment=experiment, furnace=furnace, program=experiment.program())
    response = operator_client.get("/get_status")
    assert response.status_code == 200
    body = response.json()
    assert body["message"]
    assert len(body["data"]) == 1
    row = body["data"][0]
    assert set(row) == {"任务id", "任务状态", "任务结果", "实验id", "开始时间", "结束时间", "进度"}
    assert row["任务状态"] == "queued" and row["实验id"] == "LOG-1" and row["进度"] == "0%"
    assert row["任务结果"] is None and row["结束时间"] is None


def test_task_log_is_scoped_to_the_owner(operator_client, furnace, operator, other_user):
    set_parameters(operator_client, ramp_and_hold("MINE"))
    experiment = Experiment.objects.get()
    ExperimentRun.objects.create(owner=operator, experiment=experiment, furnace=furnace, program=experiment.program())
    from tests.experiments.conftest import _client_for

    other_user.team = None
    other_user.save()
    assert _client_for(other_user).get("/get_status").json()["data"] == []
    bad = operator_client.get("/get_status?task_id=abc")
    assert bad.status_code == 400 and "task_id" in bad.json()["message"] and bad.json()["data"] == []


def test_download_video_without_runs_is_404(operator_client, furnace):
    response = operator_client.get("/download_video?experiment_id=missing")
    assert response.status_code == 404
    assert "experiment_id" in response.json()["message"]


def test_tools_are_published_as_openai_functions(researcher_client, furnace):
    response = researcher_client.get("/api/v1/experiments/tools")
    assert response.status_code == 200
    tools = response.json()["tools"]
    names = {tool["function"]["name"] for tool in tools}
    assert {"set_parameters", "start_experiment", "stop_experiment", "get_status", "get_furnace_info"} <= names
    for tool in tools:
        assert tool["type"] == "function"
        assert tool["function"]["parameters"]["type"] == "object"
    set_tool = next(t for t in tools if t["function"]["name"] == "set_parameters")
    schema = set_tool["function"]["parameters"]["properties"]["parameters"]
    assert "S" in schema["properties"]["A"]["enum"]
    assert schema["properties"]["temperature_A"]["properties"]["temperature"]["items"]["maximum"] == 1100


def test_tool_calls_run_the_same_services(operator_client, researcher_client, furnace):
    call = {"name": "validate_parameters", "arguments": '{"parameters": {"A": "S"}}'}
    response = operator_client.post("/api/v1/experiments/tools/call", call, format="json")
    assert response.status_code == 400
    assert "Parameters.temperature_A" in response.json()["errors"]
    call = {"name": "set_parameters", "arguments": {"parameters": ramp_and_hold("TOOL-1")}}
    response = operator_client.post("/api/v1/experiments/tools/call", call, format="json")
    assert response.status_code == 200 and response.json()["result"]["实验id"] == "TOOL-1"
    assert AuditEntry.objects.get(experiment_id="TOOL-1").via == "tool"
    response = researcher_client.post("/api/v1/experiments/tools/call", {"name": "start_experiment"}, format="json")
    assert response.status_code == 403
    response = operator_client.post("/api/v1/experiments/tools/call", {"name": "self_destruct"}, format="json")
    assert response.status_code == 404 and "unknown tool" in response.json()["message"]
    info = operator_client.post("/api/v1/experiments/tools/call", {"name": "get_furnace_info"}, format="json").json()
    assert info["result"]["loaded_experiment"] == "TOOL-1"
    assert info["result"]["limits"]["min_ar_for_h2_sccm"] == 50


def test_limits_come_from_the_furnace_record(operator_client, furnace):
    Furnace.objects.filter(pk=furnace.pk).update(max_temperature_c=350)
    response = set_parameters(operator_client, ramp_and_hold())
    assert response.status_code == 400
    assert "350" in response.json()["errors"]["Parameters.temperature_A.temperature"]


def test_parameters_sent_as_a_json_string_are_accepted(operator_client, furnace):
    import json

    response = operator_client.post("/set_parameters", {"Parameters": json.dumps(ramp_and_hold("STR-1"))}, format="json")
    assert response.status_code == 200 and response.json()["实验id"] == "STR-1"


def test_admin_lists_every_model(client, furnace):
    from tests.factories import UserFactory

    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for model in ("furnace", "precursor", "experiment", "experimentrun", "telemetrychunk", "auditentry"):
        assert client.get(f"/admin/experiments/{model}/").status_code == 200
    assert client.get(f"/admin/experiments/furnace/{furnace.pk}/change/").status_code == 200
