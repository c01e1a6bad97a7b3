import pytest

from experiments.models import ExperimentRun, TelemetryChunk
from tests.experiments.conftest import ramp_and_hold

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(operator_client, furnace, operator):
    from experiments.models import Experiment

    operator_client.post("/set_parameters", {"Parameters": ramp_and_hold("PAGE-1")}, format="json")
    experiment = Experiment.objects.get()
    run = ExperimentRun.objects.create(
        owner=operator, experiment=experiment, furnace=furnace, program=experiment.program(), progress=0.5,
        status="running",
    )
    TelemetryChunk.objects.create(run=run, index=0, t_start=0, t_end=2, data={
        "t": [0, 1, 2], "setpoint_a": [25, 25.3, 25.6], "temperature_a": [25, 25.1, 25.5], "power_a": [0, 300, 400],
        "setpoint_b": [25, 25, 25], "temperature_b": [25, 25, 25], "power_b": [0, 0, 0], "ar_setpoint": [100] * 3,
        "ar_flow": [0, 50, 80], "h2_setpoint": [0] * 3, "h2_flow": [0] * 3, "heaters": [1] * 3,
    })
    return run


def test_pages_need_a_login(client, furnace):
    response = client.get("/experiments/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_designer_shows_the_furnace_and_loaded_parameters(client, operator, run):
    client.force_login(operator)
    response = client.get("/experiments/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "test-furnace" in html and "PAGE-1" in html and "Load and start" in html
    assert 'id="temperature-chart"' in html


def test_designer_hides_commands_from_researchers(client, user, furnace):
    client.force_login(user)
    html = client.get("/experiments/").content.decode()
    assert "need the operator role" in html and "Load and start" not in html


def test_run_page_panel_and_telemetry(client, operator, run):
    client.force_login(operator)
    assert "Stop safely" in client.get(f"/experiments/runs/{run.pk}/").content.decode()
    panel = client.get(f"/experiments/runs/{run.pk}/panel").content.decode()
    assert 'data-status="running"' in panel and "50%" in panel
    data = client.get(f"/api/v1/experiments/runs/{run.pk}/telemetry?since=0").json()
    assert data["telemetry"]["t"] == [1, 2] and data["telemetry"]["temperature_a"] == [25.1, 25.5]
    assert client.get("/api/v1/experiments/runs/999999/telemetry").status_code == 404
    type(run).objects.filter(pk=run.pk).update(status="succeeded", video="experiments/videos/run.mp4")
    assert "Stop safely" not in client.get(f"/experiments/runs/{run.pk}/").content.decode()  # finished
    panel = client.get(f"/experiments/runs/{run.pk}/panel").content.decode()
    assert f'href="/download_video?task_id={run.pk}" download=' in panel  # the video can be saved


def test_history_lists_runs(client, operator, run):
    client.force_login(operator)
    html = client.get("/experiments/history/").content.decode()
    assert "PAGE-1" in html and f"/experiments/runs/{run.pk}/" in html
