"""Runs on a real worker, in the simulator with accelerated time."""

import imageio
import imageio_ffmpeg
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from core.models import JobStatus
from experiments.models import ExperimentRun, Furnace
from experiments.selectors import run_telemetry
from experiments.video import video_duration_seconds
from tests.experiments.conftest import ramp_and_hold
from tests.worker import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.usefixtures("stop_runs_after")]


def start(client, parameters):
    response = client.post("/set_parameters", {"Parameters": parameters}, format="json")
    assert response.status_code == 200, response.content
    response = client.post("/start_experiment", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["message"] == "实验已启动"
    return ExperimentRun.objects.get(pk=response.json()["任务id"])


def refreshed(run):
    run.refresh_from_db()
    return run


def task_row(client, run):
    rows = client.get(f"/get_status?task_id={run.pk}").json()["data"]
    assert len(rows) == 1
    return rows[0]


def test_ramp_and_hold_completes_tracks_its_setpoint_and_makes_a_video(celery_worker, operator_client, furnace):
    run = start(operator_client, ramp_and_hold("RAMP-HOLD"))
    first = task_row(operator_client, run)
    assert first["任务状态"] in ("queued", "running")
    wait_until(lambda: refreshed(run).status == JobStatus.SUCCEEDED, timeout=60, message="run to succeed")

    # The task log, from queued to done.
    row = task_row(operator_client, run)
    assert row["任务状态"] == "succeeded" and row["进度"] == "100%" and row["实验id"] == "RAMP-HOLD"
    assert row["开始时间"] and row["结束时间"]
    assert row["任务结果"].startswith("completed")
    lines = [line.split("] ", 1)[1] for line in run.log.splitlines()]
    assert lines[0].startswith("queued by olga")
    assert lines[1].startswith("started: experiment RAMP-HOLD")
    assert any(line.startswith("program complete after 40") for line in lines)
    assert lines[-1].startswith("video saved")

    # Tracking: zone A ramps 25 -> 400 °C at 18.75 °C/min and holds; the stated error is
    # RMS below 3 °C, overshoot below 5 °C, and the hold settled within the 2 °C band.
    zone_a, zone_b = run.summary["zone_a"], run.summary["zone_b"]
    assert zone_a["rms_error_c"] < 3.0 and zone_b["rms_error_c"] < 3.0
    assert zone_a["max_overshoot_c"] < 5.0
    assert zone_a["time_at_target_s"] > 1000  # of the 1200 s hold at 400 °C
    assert run.summary["shutdown"]["cooled"] is True

    # Telemetry: one sample per furnace second through the program, then the cool-down.
    telemetry = run_telemetry(run)
    assert telemetry["t"][:3] == [0.0, 1.0, 2.0]
    program = [i for i, t in enumerate(telemetry["t"]) if t <= 2400]
    assert len(program) == 2401
    assert max(telemetry["h2_flow"][i] for i in program) == pytest.approx(20, abs=0.5)
    assert telemetry["heaters"][-1] == 0 and telemetry["h2_flow"][-1] == 0
    assert max(telemetry["temperature_a"][-1], telemetry["temperature_b"][-1]) < furnace.safe_temperature_c

    # The video: a valid MP4 whose length follows the run's length.
    response = operator_client.get(f"/download_video?experiment_id=RAMP-HOLD&task_id={run.pk}")
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4" and response["Accept-Ranges"] == "bytes"
    content = b"".join(response.streaming_content)
    assert content[4:8] == b"ftyp"
    path = default_storage.path(run.video.name)
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(path)
    expected = video_duration_seconds(telemetry["t"][-1])
    assert seconds == pytest.approx(expected, abs=0.25)
    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        assert reader.get_meta_data()["size"] == (480, 270)
        frame = reader.get_data(frames - 1)
        assert frame.shape == (270, 480, 3) and frame.std() > 10  # drawn, not blank
    finally:
        reader.close()

    # A Range request gets 206 with exactly the bytes asked for.
    response = operator_client.get(f"/download_video?task_id={run.pk}", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(content)}"
    assert b"".join(response.streaming_content) == content[100:200]
    response = operator_client.get(f"/download_video?task_id={run.pk}", HTTP_RANGE=f"bytes={len(content)}-")
    assert response.status_code == 416


def test_stop_mid_run_shuts_down_safely_in_order(celery_worker, operator_client, furnace):
    run = start(operator_client, ramp_and_hold("STOP-ME", hold_minutes=600))
    # Wait until hydrogen flows and the zones are hot (H2 starts at 21 min).
    wait_until(lambda: refreshed(run).simulated_seconds > 1800, timeout=60, message="run to reach its hold")
    response = operator_client.post("/stop_experiment", {}, format="json")
    assert response.status_code == 200
    assert response.json()["message"] == "实验已停止"
    wait_until(lambda: refreshed(run).status == JobStatus.CANCELLED, timeout=60, message="run to stop")

    lines = [line.split("] ", 1)[1] for line in run.log.splitlines()]
    expected_order = [
        "stop requested by olga",
        "shutdown (stop requested by olga",
        "shutdown step 2/4: heaters off",
        "shutdown step 3/4: Ar purge",
        "shutdown step 4/4: cooled",
        "cancelled: stop requested by olga",
    ]
    positions = [next(i for i, line in enumerate(lines) if line.startswith(prefix)) for prefix in expected_order]
    assert positions == sorted(positions)
    assert "H2 off: flow 20.0 -> 0.0 sccm" in lines[positions[1]]

    telemetry = run_telemetry(run)
    stop_index = next(i for i, h in enumerate(telemetry["heaters"]) if h == 0)
    assert telemetry["h2_flow"][stop_index - 1] > 19  # flowing right before the stop
    assert all(flow == 0 for flow in telemetry["h2_flow"][stop_index:])  # off at once, and stays off
    assert all(power == 0 for power in telemetry["power_a"][stop_index:] + telemetry["power_b"][stop_index:])
    assert telemetry["temperature_a"][stop_index] > 300  # it was hot when stopped
    assert run.summary["shutdown"]["final_h2_sccm"] == 0 and run.summary["shutdown"]["heaters_enabled"] is False
    assert run.safe_state_confirmed
    state = Furnace.objects.get(pk=furnace.pk).last_state
    assert state["h2_flow"] == 0 and state["heaters_enabled"] is False
    row = task_row(operator_client, run)
    assert row["任务状态"] == "cancelled" and row["任务结果"].startswith("stopped")
    assert run.video  # the video covers what ran


def test_second_start_while_one_runs_is_refused(celery_worker, operator_client, furnace):
    run = start(operator_client, ramp_and_hold("BUSY", hold_minutes=600))
    response = operator_client.post("/start_experiment", {}, format="json")
    assert response.status_code == 409
    assert "busy" in response.json()["message"] and str(run.pk) in response.json()["message"]
    assert ExperimentRun.objects.count() == 1
    assert operator_client.post("/stop_experiment", {}, format="json").status_code == 200
    wait_until(lambda: not refreshed(run).is_active, timeout=60, message="run to stop")


def test_a_run_lost_with_its_worker_leaves_the_furnace_safe_and_failed(celery_worker, operator, furnace):
    from experiments.models import Experiment
    from experiments.profiles import validate_parameters
    from experiments.selectors import known_precursors

    program = validate_parameters(ramp_and_hold("LOST"), furnace, known_precursors())
    program.pop("order")
    experiment = Experiment.objects.create(experiment_id="LOST", furnace=furnace, owner=operator, **program)
    # A worker claimed the run, drove the furnace hot with H2 flowing, and died.
    run = ExperimentRun.objects.create(
        owner=operator, experiment=experiment, furnace=furnace, program={**program, "experiment_id": "LOST"},
        status=JobStatus.RUNNING, attempts=1, max_attempts=1, phase="program", worker="gone@nowhere:1",
        started_at=timezone.now(), heartbeat_at="2000-01-01T00:00:00Z",
    )
    Furnace.objects.filter(pk=furnace.pk).update(last_state={
        "temperature_a": 400.0, "temperature_b": 300.0, "setpoint_a": 400.0, "setpoint_b": 300.0,
        "heaters_enabled": True, "ar_setpoint": 100.0, "ar_flow": 100.0, "h2_setpoint": 20.0, "h2_flow": 20.0,
    })
    # The live worker's sweep fails the run (core reaper) and then makes its furnace safe.
    wait_until(lambda: "put in safe state" in refreshed(run).log, timeout=30, message="recovery")
    assert run.status == JobStatus.FAILED and "lost" in run.error and run.finished_at
    assert "[recovery] furnace test-furnace put in safe state" in run.log
    state = Furnace.objects.get(pk=furnace.pk).last_state
    assert state["h2_flow"] == 0 and state["heaters_enabled"] is False
    assert state["ar_setpoint"] == furnace.purge_ar_sccm
