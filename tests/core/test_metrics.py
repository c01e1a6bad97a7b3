"""/metrics: the Prometheus text format, guarded by METRICS_TOKEN or METRICS_ALLOWED_NETWORKS."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from core.models import DiagnosticJob, JobStatus, WorkerHeartbeat

TOKEN = "scrape-" + "t" * 40


def samples(response):
    """{(name, frozenset(labels)): value} of a scrape."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0)


@pytest.mark.django_db
def test_metrics_from_localhost_need_no_token(client):
    assert client.get("/metrics").status_code == 200  # the test client connects from 127.0.0.1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {"REMOTE_ADDR": "10.1.2.3"},
        {"REMOTE_ADDR": "10.1.2.3", "HTTP_AUTHORIZATION": "Bearer wrong-token"},
        {"REMOTE_ADDR": "10.1.2.3", "HTTP_AUTHORIZATION": TOKEN},  # bearer only
        # Through a proxy on the same machine: the address is the proxy's, so the token is needed.
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},
    ],
)
def test_metrics_refuse_other_callers(client, settings, headers):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", **headers)
    assert response.status_code == 403
    assert b"crucible_" not in response.content
    assert b"METRICS_TOKEN" in response.content


@pytest.mark.django_db
def test_metrics_with_the_token_or_from_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = ["192.168.10.0/24"]
    by_token = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.1",
                          HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert by_token.status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.10.77").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403  # not in the list any more


@pytest.mark.django_db
def test_metrics_count_requests_by_endpoint_group_never_by_path(client, user):
    before = samples(client.get("/metrics"))
    client.get("/healthz")
    client.get("/api/v1/me/")  # 401 without credentials, counted under the accounts app
    client.get("/no/such/page/12345")

    after = samples(client.get("/metrics"))

    grew = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    assert grew("crucible_http_requests_total", group="healthz", method="GET", status="200") == 1
    assert grew("crucible_http_requests_total", group="accounts", method="GET", status="401") == 1
    assert grew("crucible_http_requests_total", group="other", method="GET", status="404") == 1
    assert grew("crucible_http_request_duration_seconds_count", group="healthz") == 1
    assert not [key for key in after if any("12345" in v or "/" in v for _, v in key[1])]


@pytest.mark.django_db
def test_metrics_count_jobs_queue_depth_and_workers_from_the_database(client, user, settings):
    settings.WORKER_HEARTBEAT_SECONDS = 60
    WorkerHeartbeat.objects.all().delete()
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="cpu@box-1", pid=7, queues="default,serving", started_at=now, last_seen=now)
    DiagnosticJob.objects.create(owner=user, status=JobStatus.QUEUED, queue="training")
    DiagnosticJob.objects.create(owner=user, status=JobStatus.QUEUED)
    DiagnosticJob.objects.create(
        owner=user, status=JobStatus.SUCCEEDED, started_at=now - timedelta(seconds=90), finished_at=now
    )

    found = samples(client.get("/metrics"))

    kind = "core.diagnosticjob"
    assert value(found, "crucible_jobs", queue="training", kind=kind, status="queued") == 1
    assert value(found, "crucible_jobs", queue="default", kind=kind, status="succeeded") == 1
    assert value(found, "crucible_job_duration_seconds_count", queue="default", kind=kind, status="succeeded") == 1
    assert value(found, "crucible_job_duration_seconds_sum", queue="default", kind=kind, status="succeeded") == 90
    assert value(found, "crucible_queue_depth", queue="training") == 1
    assert value(found, "crucible_queue_depth", queue="default") == 1
    assert ("crucible_queue_depth", frozenset({("queue", "evaluation")})) in found  # 0, but present
    assert value(found, "crucible_queue_workers", queue="serving") == 1
    assert value(found, "crucible_queue_workers", queue="training") == 0
    assert value(found, "crucible_database_up") == 1
