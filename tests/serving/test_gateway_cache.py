"""The gateway's per-process route cache and request counts, against a real replica process: a cached
route to a replica that has since moved (another port) or restarted (another token) is read again from
the database and the request still goes through; requests are counted in memory and written by a flush."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from serving import gateway, processes
from serving.models import Replica, ReplicaStatus, ServiceVersion, VersionStatus
from tests.serving.conftest import register
from tests.worker import wait_until

pytestmark = pytest.mark.django_db


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def routed(user, tiny_gpt2_dir, tmp_path, settings):
    """A running version with one replica row, and a replica process that holds the token of that row
    with salt "second" (the row says "first" until the test moves it)."""
    from serving import services

    settings.SERVING_ROUTE_CACHE_SECONDS = 600  # no expiry while the test runs on a busy host
    app_version = register(user, "tiny-cache", tiny_gpt2_dir)
    service, versions = services.create_service(owner=user, name="tiny",
                                                versions=[services.VersionSpec(registry_version=app_version.uid)])
    version = versions[0]
    ServiceVersion.objects.filter(pk=version.pk).update(status=VersionStatus.RUNNING, rate=100,
                                                        model_dir=str(tiny_gpt2_dir))
    replica = Replica.objects.create(version=version, host=processes.host_name(), status=ReplicaStatus.RUNNING,
                                     address="127.0.0.1", port=free_port(), token_salt="second")
    read, write = os.pipe()
    os.write(write, processes.replica_token(replica).encode())
    os.close(write)
    port_file = tmp_path / "port.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.replica", "--model-dir", str(tiny_gpt2_dir), "--kind", "generate",
         "--port", "0", "--port-file", str(port_file), "--token-fd", str(read)],
        cwd=str(Path(settings.BASE_DIR)), pass_fds=[read], stdout=subprocess.DEVNULL)
    os.close(read)
    try:
        wait_until(port_file.exists, timeout=60, message="the replica's port file")
        port = json.loads(port_file.read_text())["port"]
        Replica.objects.filter(pk=replica.pk).update(port=port)
        replica.refresh_from_db()
        wait_until(lambda: processes.health(replica).get("status") == "ok", timeout=120, interval=0.3,
                   message="the replica to load its model")
        Replica.objects.filter(pk=replica.pk).update(token_salt="first")
        yield service, version, Replica.objects.get(pk=replica.pk), port
    finally:
        process.terminate()
        process.wait(timeout=10)


def generate(replica):
    return gateway.call(replica, "/generate", {"prompt": "The river", "max_tokens": 2, "temperature": 0})


def test_a_stale_cached_route_is_read_again_and_requests_are_counted_by_the_flush(routed):
    service, version, row, port = routed
    gateway.forget_routes()

    # Cached with the token salt "first"; the process holds "second" (restarted since, as far as the cache
    # knows): it answers 401, and the request goes along the route read again.
    picked_version, first = gateway.route(service)
    assert picked_version.pk == version.pk and not first.cached
    Replica.objects.filter(pk=row.pk).update(token_salt="second")
    _, cached = gateway.route(service)
    assert cached.cached and cached.token_salt == "first"
    assert generate(cached)["completion_tokens"] >= 1

    # Cached at a port where nothing listens (the replica moved since): refused, read again, answered;
    # the refusal of a cached row is not a failed check of the replica.
    gateway.forget_routes()
    Replica.objects.filter(pk=row.pk).update(port=free_port())
    gateway.route(service)
    Replica.objects.filter(pk=row.pk).update(port=port)
    _, cached = gateway.route(service)
    assert cached.cached and cached.port != port
    assert generate(cached)["completion_tokens"] >= 1
    assert Replica.objects.get(pk=row.pk).failed_checks == 0

    # A route read from the database that fails is a failed check, as before.
    gateway.forget_routes()
    Replica.objects.filter(pk=row.pk).update(port=free_port())
    _, fresh = gateway.route(service)
    with pytest.raises(gateway.Unavailable):
        generate(fresh)
    assert Replica.objects.get(pk=row.pk).failed_checks == 1

    # Five routes so far: counted in memory, written by the flush.
    assert ServiceVersion.objects.get(pk=version.pk).request_count == 0
    gateway.request_counts.flush()
    assert ServiceVersion.objects.get(pk=version.pk).request_count == 5


def test_without_a_running_replica_nothing_is_cached(routed):
    service, version, row, port = routed
    gateway.forget_routes()
    Replica.objects.filter(pk=row.pk).update(status=ReplicaStatus.STOPPED)
    with pytest.raises(gateway.Unavailable):
        gateway.route(service)
    Replica.objects.filter(pk=row.pk).update(status=ReplicaStatus.RUNNING, token_salt="second")
    _, replica = gateway.route(service)  # at once: a service without replicas was not cached
    assert not replica.cached and generate(replica)["completion_tokens"] >= 1
