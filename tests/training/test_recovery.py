"""A worker SIGKILLed mid-run: its training child dies with it, and the reaper requeues the
run (max_attempts 2), which resumes from the last checkpoint on another worker."""

import os
import signal

import pytest

from tests.worker import start_worker, stop_worker, wait_for_worker, wait_until
from training import services
from training.models import LlmTask
from training.selectors import task_dir

from .conftest import wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def child_alive(task):
    """Is a training runner of this task still running anywhere?"""
    needle = str(task_dir(task) / "config.json").encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if needle in handle.read():
                        return True
            except OSError:
                continue
    return False


def test_killed_worker_run_resumes_from_its_checkpoint(training_space):
    victim = start_worker(name="victim", queues=["victim"], concurrency=1)
    try:
        wait_for_worker(victim, "victim@")
        task = services.create_finetune(
            owner=training_space, queue="victim", name="resumable", base_folder="Model", data_folder="Data",
            strategy="LoRA", hyper={"max_steps": 60, "save_steps": 5, "logging_steps": 1, "max_seq_length": 32,
                                    "learning_rate": "0.01"},
        )
        wait_until(lambda: LlmTask.objects.get(pk=task.pk).checkpoints, timeout=180, message="a first checkpoint")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        stop_worker(victim, sig=signal.SIGKILL)
    task.refresh_from_db()
    assert task.status == "running" and task.attempts == 1
    wait_until(lambda: not child_alive(task), timeout=10, message="the orphaned training process to die")

    survivor = start_worker(name="survivor", queues=["victim"], concurrency=1)
    try:
        wait_for_worker(survivor, "survivor@")
        wait_status(task, ["succeeded", "failed", "cancelled"], timeout=240)
    finally:
        stop_worker(survivor)
    assert task.status == "succeeded", task.log + task.error
    assert task.attempts == 2
    assert "requeued" in task.log and "resuming from checkpoint-" in task.log
    assert task.current_step == 60 and task.produced_version_id
    steps = list(task.metrics.exclude(loss=None).values_list("step", flat=True))
    assert steps == sorted(set(steps)) and steps[-1] == 60  # no step recorded twice
