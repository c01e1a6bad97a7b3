"""Task-based modeling (platform-api.md section 6): a user's command with limits, on a real worker."""

import pytest

from accounts.models import ResourceQuota
from files.selectors import open_file
from training.models import CodeTask

from .conftest import upload_tree, wait_status

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
CREATE = "/kernel/trainOperator/createTask"

SCRIPT = b"""import os, sys
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.txt", "w") as out:
    out.write("trained with lr=" + os.environ["LR"] + "\\n")
print("hello from the user's script; lr", os.environ["LR"])
print("a warning", file=sys.stderr)
"""

HOG = b"""blocks = []
while True:
    blocks.append(bytearray(50 * 1024 * 1024))
"""


def test_script_runs_writes_a_file_and_prints(user, auth_client, celery_worker, stop_tasks_after):
    upload_tree(user, {"project/train.py": SCRIPT})
    response = auth_client.post(CREATE, {"createTaskBO": {
        "name": "script", "type": "PyTorch", "image": "pytorch/pytorch:2.3", "command": "python train.py",
        "workingDir": "/project", "variable": [{"LR": "0.1"}],
        "resource": [{"cpuNumber": 1, "memory": 2, "numbers": 1}],
    }}, format="json")
    assert response.status_code == 200, response.content
    task = CodeTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_status(task, ["succeeded", "failed", "cancelled"], timeout=120)
    assert task.status == "succeeded", task.log + task.error
    assert task.exit_code == 0 and task.image == "pytorch/pytorch:2.3"
    assert "hello from the user's script; lr 0.1" in task.log and "a warning" in task.log
    assert task.outputs == ["/project/outputs/result.txt"]
    with open_file(user, "private", "project/outputs/result.txt") as handle:
        assert handle.read() == b"trained with lr=0.1\n"
    info = auth_client.post("/kernel/trainOperator/queryTaskInfo", {"taskId": str(task.pk)}, format="json").json()["data"]
    assert info["exitCode"] == 0 and "hello from the user's script" in info["log"]
    assert info["manifest"]["kind"] == "PyTorchJob"
    listing = auth_client.post("/kernel/trainOperator/listTask", {"status": "succeeded"}, format="json").json()["data"]
    assert [row["taskId"] for row in listing["list"]] == [str(task.pk)]


def test_failing_command_records_its_exit_code(user, auth_client, celery_worker, stop_tasks_after):
    response = auth_client.post(CREATE, {"type": "scikit-learn", "command": "echo about to fail; exit 3"}, format="json")
    task = CodeTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_status(task, ["succeeded", "failed", "cancelled"], timeout=120)
    assert task.status == "failed" and task.exit_code == 3
    assert "exited with code 3" in task.error and "about to fail" in task.log


def test_job_over_its_memory_limit_is_stopped_and_says_so(user, auth_client, celery_worker, stop_tasks_after):
    upload_tree(user, {"hog/hog.py": HOG})
    response = auth_client.post(CREATE, {
        "type": "PyTorch", "command": "python hog.py", "workingDir": "hog",
        "resource": [{"cpuNumber": 1, "memory": 1}],
    }, format="json")
    task = CodeTask.objects.get(pk=response.json()["data"]["taskId"])
    wait_status(task, ["succeeded", "failed", "cancelled"], timeout=120)
    assert task.status == "failed"
    assert task.memory_exceeded is True
    assert "exceeded memory limit of 1 GB" in task.error
    assert "MemoryError" in task.log


def test_cancel_stops_a_long_command(user, auth_client, celery_worker, stop_tasks_after):
    import time

    response = auth_client.post(CREATE, {"command": "echo started; sleep 600"}, format="json")
    task = CodeTask.objects.get(pk=response.json()["data"]["taskId"])
    from tests.worker import wait_until

    wait_until(lambda: "started" in CodeTask.objects.get(pk=task.pk).log, timeout=60, message="command to start")
    begun = time.monotonic()
    assert auth_client.post(f"/api/v1/training/code-tasks/{task.pk}/cancel").status_code == 200
    wait_status(task, ["cancelled", "failed", "succeeded"], timeout=10)
    assert task.status == "cancelled" and time.monotonic() - begun < 10


def test_tasks_beyond_free_capacity_wait_then_run(user, auth_client, celery_worker, stop_tasks_after):
    ResourceQuota.objects.create(user=user, cpu=1, memory_gb=4, job_slots=4)
    body = {"command": "sleep 3; echo done", "resource": [{"cpuNumber": 1, "memory": 1}]}
    first = CodeTask.objects.get(pk=auth_client.post(CREATE, body, format="json").json()["data"]["taskId"])
    from tests.worker import wait_until

    wait_until(lambda: CodeTask.objects.get(pk=first.pk).status == "running", timeout=60, message="first to run")
    second = CodeTask.objects.get(pk=auth_client.post(CREATE, body, format="json").json()["data"]["taskId"])
    wait_until(lambda: "waiting for capacity" in CodeTask.objects.get(pk=second.pk).log, timeout=30,
               message="second to wait")
    assert CodeTask.objects.get(pk=second.pk).status == "queued"
    wait_status(second, ["succeeded", "failed", "cancelled"], timeout=120)
    assert second.status == "succeeded"
    first.refresh_from_db()
    assert second.started_at >= first.finished_at
