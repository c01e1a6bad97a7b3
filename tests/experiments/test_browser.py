"""The designer and the run page in a real browser, with a run on a real worker."""

import pytest

from core.models import JobStatus
from experiments.models import Experiment, ExperimentRun
from tests.experiments.conftest import ramp_and_hold
from tests.worker import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("stop_runs_after")]


def test_design_validate_start_and_watch_a_run(page, live_server, celery_worker, furnace, operator, password):
    furnace.loaded_experiment = Experiment.objects.create(
        experiment_id="SEED", furnace=furnace, raw_parameters=ramp_and_hold("BROWSER-1", hold_minutes=30),
        substrate="x", temperature_a={}, temperature_b={}, ar_flow={}, h2_flow={}, duration_s=1,
    )
    furnace.save()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", operator.username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()

    page.goto(live_server.url + "/experiments/")
    assert page.js_errors == [] and page.input_value("#p-order") == "BROWSER-1", (page.js_errors, page.content()[-3000:])
    # Zone A's second point: 400 °C at 20 min -> 400 °C at 5 min is too steep a ramp.
    cell = page.locator("[data-profile=temperature_A] tbody tr").nth(1).locator("input").first
    cell.fill("5")
    page.click("#validate")
    page.wait_for_selector("#result .errorlist")
    assert "Parameters.temperature_A.temperature" in page.inner_text("#result")
    cell.fill("20")
    page.click("#validate")
    page.wait_for_function("() => document.querySelector('#result').innerText.includes('valid')")

    page.click("#start")
    page.wait_for_url("**/experiments/runs/*/")
    run = ExperimentRun.objects.get()
    assert run.experiment.experiment_id == "BROWSER-1"
    wait_until(lambda: ExperimentRun.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED, timeout=60, message="run")
    page.wait_for_selector("[data-status=succeeded]", timeout=15_000)
    page.wait_for_selector("#run-panel video")
    # The operator downloads the run's video: a real MP4.
    with page.expect_download() as info:
        page.click("[data-testid=video-download]")
    assert info.value.suggested_filename.endswith(".mp4")
    with open(info.value.path(), "rb") as video:
        assert b"ftyp" in video.read(64)
    # The chart polls the telemetry on its own 2 s timer, apart from the status panel's: wait for it.
    page.wait_for_function("() => Chart.getChart('temperature-chart').data.datasets[1].data.length > 100",
                           timeout=15_000)
    assert page.js_errors == []
