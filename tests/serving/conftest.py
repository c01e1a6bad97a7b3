import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.worker import wait_until


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory):
    from hub.tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), train_steps=10)


@pytest.fixture(scope="session")
def minilm_dir():
    from hub.seed import minilm_folder

    return minilm_folder()


def register(user, name, folder):
    """A registry version of `folder` owned by `user` (synchronous import into the hub)."""
    from registry.services import register_training_result

    return register_training_result(owner=user, application_name=name, folder=folder)


def client_for(user):
    from accounts.services import issue_tokens

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)[0]}")
    return client


def version_body(app_version, **fields):
    return {"aiApplicationVersionId": app_version.uid, "rate": 100, "cpu": 1, "memory": 1, "gpu": 0,
            "reqMethod": "rest", "predictMinReplicas": 1, "predictMaxReplicas": 1, "metric": 1,
            "monitorThreshold": "100", "envs": "[]", "volumes": "[]", "hyperParameterList": "null", **fields}


def replica_pids():
    """Pids of replica processes started by this test session (their port files are under its data dir):
    the Python servers, not the sandbox's own bubblewrap processes around them."""
    marker = str(Path(settings.DATA_DIR) / "serving").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"serving.replica" in cmdline and marker in cmdline and not cmdline.startswith(b"bwrap\0"):
            pids.append(int(entry.name))
    return pids


def kill_replicas():
    from serving.models import ReplicaStatus, ServiceVersion, VersionStatus, Replica

    # First tell the supervisor these are stopped, so it restarts nothing, then end the processes.
    ServiceVersion.objects.update(status=VersionStatus.STOPPED)
    Replica.objects.update(status=ReplicaStatus.STOPPED)
    for _ in range(3):
        for pid in replica_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


@pytest.fixture
def no_orphans(transactional_db):
    """Every replica process this test started is gone afterwards, even when it fails."""
    yield
    kill_replicas()
    assert not replica_pids()


def wait_version(version, statuses, timeout=180):
    def reached():
        version.refresh_from_db()
        if version.status == "failed" and "failed" not in statuses:
            raise AssertionError(f"version failed: {version.error}\n{[j.log for j in version.jobs.all()]}")
        return version.status in statuses

    wait_until(reached, timeout=timeout, interval=0.3, message=f"version {version.pk} {statuses}")
    return version
