"""/metrics after real /v1 completions through a replica and a finished job on the session worker."""

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.models import DiagnosticJob, JobStatus
from core.services import enqueue_job
from serving.models import ServiceVersion
from tests.worker import wait_until

from .conftest import client_for, register, version_body, wait_version

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]


def scrape(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0)


def test_metrics_expose_completions_replicas_and_finished_jobs(celery_worker, no_orphans, client, user,
                                                                 tiny_gpt2_dir):
    tiny = register(user, "tiny-metrics", tiny_gpt2_dir)
    api = client_for(user)
    deployed = api.post("/model/modelServer/createModelInferenceServer",
                        {"modelServer": {"name": "tiny-m"}, "modelServerVersions": [version_body(tiny)]}, format="json")
    assert deployed.status_code == 200, deployed.json()
    wait_version(ServiceVersion.objects.get(uid=deployed.json()["data"]["modelServerVersions"][0]["id"]), ["running"])
    job = DiagnosticJob.objects.create(owner=user, seconds=0.1)
    enqueue_job(job)
    before = scrape(client)

    whole = api.post("/v1/completions", {"model": "tiny-m", "prompt": "The river", "max_tokens": 6,
                                         "temperature": 0}, format="json")
    assert whole.status_code == 200, whole.content
    streamed = api.post("/v1/chat/completions", {"model": "tiny-m", "messages": [{"role": "user", "content": "Hi"}],
                                                 "max_tokens": 6, "stream": True}, format="json")
    assert streamed.status_code == 200
    body = b"".join(streamed.streaming_content).decode()
    assert body.rstrip().endswith("data: [DONE]")
    wait_until(lambda: DiagnosticJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, timeout=60,
               message="the diagnostic job to finish")

    after = scrape(client)

    grew = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    tokens = whole.json()["usage"]["completion_tokens"]
    assert grew("crucible_v1_completion_tokens_total", service="tiny-m") >= tokens >= 1
    assert grew("crucible_v1_completions_total", service="tiny-m", stream="false") == 1
    assert grew("crucible_v1_completions_total", service="tiny-m", stream="true") == 1
    assert grew("crucible_v1_time_to_first_token_seconds_count", service="tiny-m", stream="true") == 1
    # a sampled stream may end on its first token (end of text): tokens/s is observed only for answers with tokens
    streamed_tokens = any(json.loads(line[6:])["choices"][0]["delta"].get("content")
                          for line in body.splitlines() if line.startswith("data: {"))
    assert grew("crucible_v1_completion_tokens_per_second_count", service="tiny-m") == 1 + streamed_tokens
    assert value(after, "crucible_v1_completion_tokens_per_second_sum", service="tiny-m") > 0
    assert grew("crucible_http_requests_total", group="serving", method="POST", status="200") == 2
    assert value(after, "crucible_serving_replicas", service="tiny-m", status="running") == 1
    kind = "core.diagnosticjob"
    assert value(after, "crucible_jobs", queue="default", kind=kind, status="succeeded") == 1
    assert value(after, "crucible_job_duration_seconds_count", queue="default", kind=kind, status="succeeded") == 1
    assert value(after, "crucible_queue_workers", queue="serving") >= 1
