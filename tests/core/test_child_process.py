import sys
import threading
import time

import pytest
from django.db import connection

from core import child_process, sandbox
from core.child_process import child_env, parse_env_variables, read_log_tail, run_child
from core.errors import InvalidInput
from core.jobs import JobHandle
from core.models import DiagnosticJob, JobStatus
from tests.worker import processes_running

MARKER = "@@crucible "


def _job():
    return DiagnosticJob.objects.create(status=JobStatus.RUNNING, attempts=1)


def _box(job, tmp_path, **options):
    work = tmp_path / "work"
    return sandbox.Spec(label=sandbox.label_for(job), writable=[work], cwd=str(work), env=child_env(), **options)


def _run(job, script, tmp_path, **options):
    return run_child(
        ["/bin/bash", "-c", script], job=job, handle=JobHandle(DiagnosticJob, job.pk),
        log_file=tmp_path / "logs" / "child.log", box=_box(job, tmp_path), **options,
    )


@pytest.mark.django_db
def test_output_goes_to_the_log_file_and_job_log_and_events_to_the_callback(tmp_path):
    job = _job()
    events = []
    script = f"""echo first line; echo '{MARKER}{{"event": "progress", "step": 2}}'; echo '{MARKER}not json'
echo 'the real error' >&2; exit 3"""
    result = _run(job, script, tmp_path, on_event=events.append, event_marker=MARKER)

    assert result.returncode == 3
    assert not result.cancelled and not result.timed_out
    assert events == [{"event": "progress", "step": 2}]
    assert result.tail == ["first line", f"{MARKER}not json", "the real error"]
    assert result.last_line == "the real error"
    job.refresh_from_db()
    assert "first line" in job.log and "the real error" in job.log
    assert '"progress"' not in job.log  # event lines stay out of the job log
    written = (tmp_path / "logs" / "child.log").read_text()
    assert '"event": "progress"' in written  # ... but the file keeps every line
    assert written.startswith("=== attempt 1 started") and written.endswith("=== exit code 3 ===\n")


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_sleeping_child_within_seconds(tmp_path):
    job = _job()

    def cancel():
        time.sleep(1.5)
        DiagnosticJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        connection.close()

    threading.Thread(target=cancel).start()
    started = time.monotonic()
    result = _run(job, "echo sleeping; sleep 60", tmp_path)

    assert result.cancelled and not result.timed_out
    assert time.monotonic() - started < 10
    assert result.returncode == -15  # SIGTERM
    job.refresh_from_db()
    assert "cancel requested: stopping the child process" in job.log


@pytest.mark.django_db
def test_wall_time_stops_the_child_and_a_child_ignoring_sigterm_is_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(child_process, "GRACE_SECONDS", 1)
    job = _job()
    started = time.monotonic()
    # bash and its sleep both ignore SIGTERM: the box goes all the same, everything in it killed.
    result = _run(job, "trap '' TERM; sleep 6061 & wait", tmp_path, wall_time=1)

    assert result.timed_out and not result.cancelled
    assert result.returncode in (-15, -9)
    assert not processes_running("sleep\x006061")
    assert time.monotonic() - started < 10
    job.refresh_from_db()
    assert "wall time of 1 s reached" in job.log


@pytest.mark.django_db
def test_memory_limit_is_reported_as_running_out_of_memory(tmp_path):
    job = _job()
    limits = sandbox.Limits.for_job(memory_gb=0.25, cpu=1, wall_time_seconds=30)
    result = run_child(
        [sys.executable, "-c", "x = bytearray(1024 ** 3)"], job=job, handle=JobHandle(DiagnosticJob, job.pk),
        log_file=tmp_path / "child.log", box=_box(job, tmp_path, limits=limits),
    )

    assert result.returncode == 1
    assert result.ran_out_of_memory
    assert "MemoryError" in result.last_line


def test_env_variables_are_checked():
    assert parse_env_variables([{"A": "1"}, {"name": "B", "value": 2}], "env") == {"A": "1", "B": "2"}
    with pytest.raises(InvalidInput, match=r"env\[0\]: PATH may not be set"):
        parse_env_variables([{"PATH": "/tmp"}], "env")
    with pytest.raises(InvalidInput, match="is not an environment variable name"):
        parse_env_variables([{"1BAD": "x"}], "env")
    with pytest.raises(InvalidInput, match="at most 2 variables"):
        parse_env_variables([{"A": "1", "B": "2", "C": "3"}], "variable", limit=2)


def test_log_tail_reads_the_file_or_falls_back_to_the_job_log(tmp_path):
    path = tmp_path / "run.log"
    assert read_log_tail(path, "job log text", 4) == "text"
    path.write_text("0123456789")
    assert read_log_tail(path, "job log text", 4) == "6789"


def test_the_log_people_read_has_no_event_lines(tmp_path):
    from evaluation.runner import METRIC_MARKER as EVALUATION_MARKER
    from training.runner import METRIC_MARKER as TRAINING_MARKER

    from core.child_process import EVENT_MARKER

    assert TRAINING_MARKER == EVALUATION_MARKER == EVENT_MARKER
    path = tmp_path / "train.log"
    path.write_text(f'step 1\n{EVENT_MARKER}{{"event": "metric", "step": 1, "loss": 3.2}}\n{EVENT_MARKER}not an event\ndone\n')
    assert read_log_tail(path, "", 10_000) == f"step 1\n{EVENT_MARKER}not an event\ndone\n"
    assert '"metric"' in read_log_tail(path, "", 10_000, hide_events=False)


def test_logs_shown_to_people_hide_the_data_folder(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "var"
    log = tmp_path / "run.log"
    log.write_text(f"loading {tmp_path / 'var'}/training/llm/3/base_model\nstep 1\n")
    assert read_log_tail(log, "", 10_000) == "loading [data]/training/llm/3/base_model\nstep 1\n"
    assert read_log_tail(tmp_path / "missing.log", f"saved to {tmp_path / 'var'}/x", 10_000) == "saved to [data]/x"
