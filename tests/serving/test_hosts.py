"""Serving across machines, simulated on this one: replicas of one version on two serving
"hosts" that listen on two addresses (127.0.0.2 and 127.0.0.3; the whole 127/8 is this
machine's loopback), so that nothing relies on 127.0.0.1. The gateway reaches each with its
token, fails over when one dies, and says Retry-After only while a replica really is starting."""

import os
import signal
import urllib.error
import urllib.request

import openai
import pytest
from django.utils import timezone

from accounts.services import create_api_key
from core.selectors import health_report
from serving import processes, services
from serving.models import Replica, ReplicaStatus, ServiceVersion, VersionStatus

from .conftest import register

pytestmark = pytest.mark.worker

HOSTS = {"lab-gpu-a": "127.0.0.2", "lab-gpu-b": "127.0.0.3"}


class Log:
    def log(self, line):
        pass


def start_on(host, address, version, settings, monkeypatch):
    """What the supervisor of a serving worker on `host` does: a replica bound to its address."""
    settings.SERVING_BIND_ADDRESS = address
    monkeypatch.setattr(processes, "host_name", lambda: host)
    replica = services.spawn_replica(version)
    assert replica.status == ReplicaStatus.STARTING, replica.error
    assert processes.wait_healthy(replica, 120), processes.tail(replica)
    services.mark_replica_running(replica, processes.health(replica))
    return Replica.objects.get(pk=replica.pk)


@pytest.fixture
def two_host_version(transactional_db, no_orphans, user, tiny_gpt2_dir, settings, monkeypatch):
    app_version = register(user, "tiny-app", tiny_gpt2_dir)
    _, (version,) = services.create_service(owner=user, name="tiny",
                                            versions=[services.VersionSpec(registry_version=app_version.uid)])
    services.prepare_model(version, Log())
    replicas = [start_on(host, address, version, settings, monkeypatch) for host, address in HOSTS.items()]
    ServiceVersion.objects.filter(pk=version.pk).update(status=VersionStatus.RUNNING, scaled_at=timezone.now())
    yield version, replicas
    for replica in Replica.objects.filter(version=version):
        services.stop_replica(replica)


@pytest.fixture
def ask(live_server, user):
    key, secret = create_api_key(user, secret_id="alice-hosts", secret_key="h" * 32)
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=f"{key.secret_id}:{secret}", max_retries=0,
                           timeout=60)
    return lambda: client.completions.create(model="tiny", prompt="The river", max_tokens=2, temperature=0)


def test_replicas_on_two_addresses_serve_through_the_gateway_and_fail_over(two_host_version, ask):
    version, (a, b) = two_host_version
    assert (a.host, a.address, b.host, b.address) == ("lab-gpu-a", "127.0.0.2", "lab-gpu-b", "127.0.0.3")

    # Each listens on its own address only, and refuses a request without its token.
    for replica in (a, b):
        request = urllib.request.Request(f"http://{replica.address}:{replica.port}/health")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        assert processes.health(replica)["status"] == "ok"
    assert not processes.port_in_use(a.port, "127.0.0.1")

    answers = [ask() for _ in range(12)]
    assert all(answer.usage.completion_tokens >= 1 for answer in answers)
    served = {r.pk: processes.health(r)["requests"] for r in (a, b)}
    assert all(count >= 1 for count in served.values()), served  # both hosts took requests
    assert health_report(include_hosts=True)["replicas"] == {"running": 2, "hosts": {
        "lab-gpu-a": {"address": "127.0.0.2", "running": 1}, "lab-gpu-b": {"address": "127.0.0.3", "running": 1}}}
    assert "hosts" not in health_report()["replicas"]

    # Host A's replica dies; until its supervisor notices, the gateway sends its share to B.
    os.kill(a.pid, signal.SIGKILL)
    processes.stop_pid(a.pid, a)
    answers = [ask() for _ in range(8)]
    assert all(answer.usage.completion_tokens >= 1 for answer in answers)
    a.refresh_from_db()
    assert a.failed_checks >= 1

    # Nothing answers and nothing is starting: 503 without Retry-After (waiting will not help) ...
    os.kill(b.pid, signal.SIGKILL)
    processes.stop_pid(b.pid, b)
    with pytest.raises(openai.APIStatusError) as down:
        ask()
    assert down.value.status_code == 503 and "Retry-After" not in down.value.response.headers
    # ... and while a replica is being restarted, 503 with Retry-After.
    Replica.objects.filter(pk=a.pk).update(status=ReplicaStatus.STARTING)
    with pytest.raises(openai.APIStatusError) as restarting:
        ask()
    assert restarting.value.status_code == 503 and restarting.value.response.headers["Retry-After"] == "5"
