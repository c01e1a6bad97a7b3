"""The clean API: its own shapes, FilterSets and limit/offset pages over the same services."""

import pytest

from experiments.models import Experiment, ExperimentRun
from tests.experiments.conftest import ramp_and_hold

pytestmark = pytest.mark.django_db


def load(client, order):
    assert client.post("/set_parameters", {"Parameters": ramp_and_hold(order)}, format="json").status_code == 200
    return Experiment.objects.get(experiment_id=order)


def test_lists_are_filtered_and_paged(operator_client, operator, furnace):
    for order in ("API-1", "API-2", "API-3"):
        experiment = load(operator_client, order)
        ExperimentRun.objects.create(owner=operator, experiment=experiment, furnace=furnace,
                                     program=experiment.program(), status="succeeded", summary={"text": "done well"})
    page = operator_client.get("/api/v1/experiments/experiments?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    runs = operator_client.get("/api/v1/experiments/runs?experiment_id=API-2").json()
    assert runs["count"] == 1
    run = runs["results"][0]
    assert (run["experiment_id"], run["furnace"], run["status"], run["result"]) == ("API-2", "test-furnace",
                                                                                     "succeeded", "done well")
    detail = operator_client.get(f"/api/v1/experiments/runs/{run['id']}").json()
    assert detail["latest_telemetry"] == {} and detail["video_url"] is None and "log" in detail
    assert operator_client.get("/api/v1/experiments/runs/999999").status_code == 404
    audit = operator_client.get("/api/v1/experiments/audit?action=set_parameters&outcome=ok").json()
    assert audit["count"] == 3
    furnaces = operator_client.get("/api/v1/experiments/furnaces").json()["results"]
    assert furnaces[0]["name"] == "test-furnace" and furnaces[0]["loaded_experiment"] == "API-3"
    assert furnaces[0]["limits"]["min_ar_for_h2_sccm"] == 50


def test_validate_answers_the_program(operator_client, furnace):
    response = operator_client.post("/api/v1/experiments/validate", {"Parameters": ramp_and_hold("V-1")}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["program"]["duration_s"] == 2400 and response.json()["furnace"] == "test-furnace"
