"""A real reply from the tiny demo model deployed by the serving app, through /myapp/add_chat/."""

import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from chat.models import Message
from tests.factories import PASSWORD
from tests.worker import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def replica_pids():
    """Replica processes started by this test session (their files are under its data folder)."""
    marker = str(Path(settings.DATA_DIR) / "serving").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if b"serving.replica" in cmdline and marker in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def served_tiny_model(user, celery_worker, tmp_path):
    """alice's service "tinychat": a tiny GPT-2 registered in the registry and deployed on the worker."""
    from hub.tiny_models import build_tiny_gpt2
    from registry.services import register_training_result
    from serving import services as serving_services
    from serving.models import Replica, ReplicaStatus, ServiceVersion, VersionStatus

    folder = build_tiny_gpt2(tmp_path / "tiny", train_steps=30)
    app_version = register_training_result(owner=user, application_name="tinychat-app", folder=folder)
    _, (version,) = serving_services.create_service(
        owner=user, name="tinychat", versions=[serving_services.VersionSpec(registry_version=app_version.uid)],
        deploy=True,
    )

    def running():
        version.refresh_from_db()
        assert version.status != VersionStatus.FAILED, version.error
        return version.status == VersionStatus.RUNNING

    try:
        wait_until(running, timeout=240, interval=0.5, message="the tiny model to be served")
        yield version
    finally:
        ServiceVersion.objects.update(status=VersionStatus.STOPPED)
        Replica.objects.update(status=ReplicaStatus.STOPPED)
        for _ in range(3):
            for pid in replica_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)


def test_add_chat_gets_a_real_reply_from_the_served_tiny_model(user, served_tiny_model):
    client = APIClient(enforce_csrf_checks=True)
    client.post("/myapp/login/", {"username": "alice", "password": PASSWORD})

    # No backend is configured: the default model is alice's running service.
    response = client.post(
        "/myapp/add_chat/",
        {"username": "alice", "chat_id": "s1", "chat_title": "served", "chat_content": "The river runs", "chat_tpye": 0},
    )
    assert response.status_code == 200, response.content
    reply = response.json()["reply"]
    assert reply.strip()

    history = client.post("/myapp/get_history_chat/", {"chat_title": "served"}).json()["历史信息列表"]
    assert history == [["user", "The river runs"], ["chatcar", reply]]
    assert Message.objects.get(role="chatcar").model_key == "serving:tinychat"
    assert served_tiny_model.max_context == 128

    # A long conversation is cut to the model's 128-token window (counted with its tokenizer).
    for i in range(10):
        client.post("/myapp/add_chat/", {"username": "alice", "chat_id": "s1", "chat_title": "served",
                                         "chat_content": f"note {i}: the mill wheel turns slowly in the water",
                                         "chat_tpye": 2})
    second = client.post("/myapp/add_chat/", {"username": "alice", "chat_id": "s1", "chat_title": "served",
                                              "chat_content": "What does the model learn?"})
    assert second.status_code == 200, second.content
    assert second.json()["reply"].strip()
    assert Message.objects.filter(role="chatcar").count() == 2
