"""Deploying from the pages: the new-service form (prefilled from a registry version), canaries,
weights, replicas and autoscaling on the service page, errors shown on the form, live status part,
and scoping (bob never sees alice's services)."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import create_api_key
from serving.models import ModelService, ServiceVersion, ServingJob
from tests.worker import wait_until

from .conftest import register, wait_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny(user, tiny_gpt2_dir):
    return register(user, "tiny-app", tiny_gpt2_dir)


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


def new_service(client, app_version, **fields):
    body = {"name": "tiny", "version": f"tiny-app {app_version.version} ({app_version.uid})", "rate": 100,
            "min_replicas": 1, "max_replicas": 2, "metric": 1, "threshold": 5, "sharing": "private", **fields}
    return client.post("/serving/", body)


def settings_body(version, **fields):
    prefix = f"v{version.number}"
    body = {"rate": version.rate, "min_replicas": version.predict_min_replicas,
            "max_replicas": version.predict_max_replicas, "metric": version.metric,
            "threshold": version.monitor_threshold, **fields}
    return {f"{prefix}-{k}": v for k, v in body.items()}


def test_the_list_offers_the_users_versions_and_is_prefilled_from_the_registry(alice, tiny, other_user,
                                                                              tiny_gpt2_dir):
    bobs = register(other_user, "bob-app", tiny_gpt2_dir)
    html = alice.get("/serving/").content.decode()
    assert 'list="registry-versions"' in html and '<datalist id="registry-versions">' in html
    assert f'<option value="tiny-app {tiny.version} ({tiny.uid})">' in html
    assert bobs.uid not in html  # only versions alice may deploy
    html = alice.get(f"/serving/?version={tiny.uid}").content.decode()
    assert re.search(r'name="version" value="tiny-app [^"]*\(' + tiny.uid + r'\)"', html)
    assert 'name="name" value="tiny-app"' in html and 'data-testid="new-service" open' in html
    # Someone else's version is not prefilled (nor told apart from a missing one).
    html = alice.get(f"/serving/?version={bobs.uid}").content.decode()
    assert f"({bobs.uid})" not in html and 'name="name" value="bob-app"' not in html
    # The registry version page links here with a Deploy button.
    page = alice.get(f"/registry/{tiny.application.uid}/").content.decode()
    assert f"/serving/?version={tiny.uid}" in page


def test_deploy_a_new_service_from_the_form(alice, user, tiny):
    response = new_service(alice, tiny, sharing="everyone")
    service = ModelService.objects.get(owner=user, name="tiny")
    assert response.status_code == 302 and response["Location"] == f"/serving/{service.uid}/"
    version = service.versions.get()
    assert (version.application_version, version.rate, version.predict_min_replicas, version.predict_max_replicas,
            version.metric, version.monitor_threshold, version.status) == (tiny, 100, 1, 2, 1, 5.0, "deploying")
    assert service.sharing == "everyone"
    assert ServingJob.objects.filter(version=version, action="deploy").count() == 1
    # The page then polls its live part while the version deploys.
    html = alice.get(response["Location"]).content.decode()
    assert f'hx-get="/serving/{service.uid}/live"' in html and 'hx-trigger="every 3s"' in html
    live = alice.get(f"/serving/{service.uid}/live")
    assert live.status_code == 200 and 'id="service-live"' in live.content.decode()


@pytest.mark.parametrize("fields, field, message", [
    ({"rate": 101}, "rate", "less than or equal to 100"),
    ({"rate": "lots"}, "rate", "Enter a whole number"),
    ({"min_replicas": 3, "max_replicas": 2}, "max_replicas", "At least the minimum (3)"),
    ({"max_replicas": 99}, "max_replicas", "less than or equal to 4"),
    ({"threshold": 0}, "threshold", "greater than or equal to"),
    ({"name": "bad name!"}, "name", "Letters, digits"),
    ({"version": "no id here"}, "version", "Pick a version from the list"),
])
def test_bad_values_are_shown_on_the_form(alice, user, tiny, fields, field, message):
    response = new_service(alice, tiny, **fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_errors"' in html and message in html and 'data-testid="new-service-form"' in html
    assert not ModelService.objects.filter(owner=user).exists()


def test_service_refusals_are_shown_on_the_form(alice, user, tiny, other_user, tiny_gpt2_dir):
    bobs = register(other_user, "bob-app", tiny_gpt2_dir)
    response = new_service(alice, bobs)  # someone else's private version: not found
    assert response.status_code == 400 and "not found" in response.content.decode()
    assert new_service(alice, tiny).status_code == 302
    again = new_service(alice, tiny)  # the name is taken
    assert again.status_code == 400 and "already have a service named tiny" in again.content.decode()
    assert ModelService.objects.filter(owner=user).count() == 1


def test_canary_weights_replicas_and_scaling_from_the_service_page(alice, user, tiny):
    new_service(alice, tiny)
    service = ModelService.objects.get(owner=user, name="tiny")
    first = service.versions.get()

    bad = alice.post(f"/serving/{service.uid}/versions", {"canary-version": tiny.uid, "canary-rate": -1,
                                                          "canary-min_replicas": 1, "canary-max_replicas": 1,
                                                          "canary-metric": 1, "canary-threshold": 100})
    assert bad.status_code == 400 and 'id="id_canary-rate_errors"' in bad.content.decode()
    response = alice.post(f"/serving/{service.uid}/versions", {"canary-version": tiny.uid, "canary-rate": 10,
                                                               "canary-min_replicas": 1, "canary-max_replicas": 1,
                                                               "canary-metric": 2, "canary-threshold": 3})
    assert response.status_code == 302 and response["Location"] == f"/serving/{service.uid}/"
    canary = service.versions.get(number=2)
    assert (canary.rate, canary.metric, canary.monitor_threshold, canary.status) == (10, 2, 3.0, "deploying")

    # Weight, replicas and autoscaling of the first version.
    response = alice.post(f"/serving/versions/{first.uid}/settings",
                          settings_body(first, rate=90, min_replicas=2, max_replicas=3, metric=2, threshold=7.5))
    assert response.status_code == 302
    first.refresh_from_db()
    assert (first.rate, first.predict_min_replicas, first.predict_max_replicas, first.metric,
            first.monitor_threshold) == (90, 2, 3, 2, 7.5)
    assert service.events.filter(message__contains="version 1 replicas 2..3").exists()

    # A bad weight stays on the service page, on that version's form; nothing changes.
    for url, body in ((f"/serving/versions/{first.uid}/settings", settings_body(first, rate=500)),
                      (f"/serving/versions/{first.uid}/rate", {"rate": 500})):
        response = alice.post(url, body)
        html = response.content.decode()
        assert response.status_code == 400, url
        assert 'id="id_v1-rate_errors"' in html and 'data-testid="version-settings-1"' in html, url
    response = alice.post(f"/serving/versions/{first.uid}/settings", settings_body(first, min_replicas=3,
                                                                                   max_replicas=1))
    assert response.status_code == 400 and "At least the minimum (3)" in response.content.decode()
    first.refresh_from_db()
    assert (first.rate, first.predict_min_replicas) == (90, 2)


def test_request_counters_agree(alice, user, tiny):
    new_service(alice, tiny)
    service = ModelService.objects.get(owner=user, name="tiny")
    alice.post(f"/serving/{service.uid}/versions", {"canary-version": tiny.uid, "canary-rate": 10,
                                                    "canary-min_replicas": 1, "canary-max_replicas": 1,
                                                    "canary-metric": 1, "canary-threshold": 100})
    ServiceVersion.objects.filter(service=service, number=1).update(request_count=7)
    ServiceVersion.objects.filter(service=service, number=2).update(request_count=5)
    html = alice.get(f"/serving/{service.uid}/live").content.decode()
    assert re.search(r'data-testid="request-count">12 requests<', html)
    assert re.findall(r'data-testid="version-requests">(\d+)<', html) == ["7", "5"]
    listing = alice.get("/serving/").content.decode()
    assert re.search(r"<td>12</td>", listing)


def test_bob_cannot_see_or_change_alices_services(alice, user, other_user, tiny):
    new_service(alice, tiny)
    service = ModelService.objects.get(owner=user, name="tiny")
    version = service.versions.get()
    client = Client()
    client.force_login(other_user)
    listing = client.get("/serving/").content.decode()
    assert 'data-service="tiny"' not in listing and service.uid not in listing and tiny.uid not in listing
    assert client.get(f"/serving/{service.uid}/").status_code == 404
    assert client.get(f"/serving/{service.uid}/live").status_code == 404
    assert client.post(f"/serving/{service.uid}/versions", {"canary-version": tiny.uid, "canary-rate": 10,
                                                            "canary-min_replicas": 1, "canary-max_replicas": 1,
                                                            "canary-metric": 1,
                                                            "canary-threshold": 1}).status_code == 404
    assert client.post(f"/serving/versions/{version.uid}/settings", settings_body(version, rate=1)).status_code == 404
    assert client.post(f"/serving/versions/{version.uid}/rate", {"rate": 1}).status_code == 404
    assert client.post(f"/serving/{service.uid}/stop").status_code == 404
    version.refresh_from_db()
    assert version.rate == 100 and service.versions.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(600)
def test_deploy_from_the_page_end_to_end(celery_worker, live_server, no_orphans, user, tiny):
    """The form deploys a real replica; the live part follows it to running and counts the requests
    sent through /v1."""
    client = Client()
    client.force_login(user)
    response = new_service(client, tiny, max_replicas=1)
    assert response.status_code == 302
    service = ModelService.objects.get(owner=user, name="tiny")
    wait_version(service.versions.get(), ["running"])
    live = client.get(f"/serving/{service.uid}/live").content.decode()
    assert "Running" in live and "hx-get" not in live  # nothing left to wait for: the polling stops
    assert 'data-testid="request-count">0 requests<' in live

    key, secret = create_api_key(user, secret_id="alice-pages", secret_key="s" * 32)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret_id}:{secret}")
    for _ in range(3):
        answer = api.post("/v1/completions", {"model": "tiny", "prompt": "The river", "max_tokens": 4,
                                              "temperature": 0}, format="json")
        assert answer.status_code == 200, answer.content

    def counted():
        html = client.get(f"/serving/{service.uid}/live").content.decode()
        return 'data-testid="request-count">3 requests<' in html and 'data-testid="version-requests">3<' in html

    wait_until(counted, timeout=15, interval=0.3, message="the page to show 3 requests")
    assert re.search(r'data-service="tiny">.*?<td>3</td>', client.get("/serving/").content.decode(), re.S)
