"""The spec facades and the OpenAI routes without a worker: validation, scoping, listing."""

import pytest

from serving.models import ModelService, ServiceVersion, ServingJob

from .conftest import client_for, register, version_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_version(user, tiny_gpt2_dir):
    return register(user, "tiny-app", tiny_gpt2_dir)


def save(client, name, app_version, deploy=False, **fields):
    url = "/model/modelServer/createModelInferenceServer" if deploy else "/model/modelServer/createModelServer"
    body = {"modelServer": {"name": name, "description": "d", "path": ""},
            "modelServerVersions": [version_body(app_version, **fields)]}
    return client.post(url, body, format="json")


def test_create_without_deploying_then_read_back(user, tiny_version):
    client = client_for(user)
    response = save(client, "tiny", tiny_version, rate=80, predictMaxReplicas=2, metric=2, monitorThreshold="4")
    body = response.json()
    assert response.status_code == 200 and body["success"] is True and body["code"] == 0, body
    service = body["data"]
    assert service["name"] == "tiny" and service["status"] == "saved" and service["kind"] == "generate"
    version = service["modelServerVersions"][0]
    assert version["aiApplicationVersionId"] == tiny_version.uid
    assert (version["rate"], version["predictMaxReplicas"], version["metric"], version["monitorThreshold"]) == (
        80, 2, 2, "4")
    assert not ServingJob.objects.exists()  # saved only

    by_get = client.get("/model/modelServer/findModelServerById", {"id": service["id"]}).json()
    by_post = client.post("/model/modelServer/findModelServerById", {"id": service["id"]}, format="json").json()
    assert by_get["data"]["id"] == by_post["data"]["id"] == service["id"]
    found = client.get("/model/modelServerVersion/findModelServerVersionById", {"id": version["id"]}).json()
    assert found["data"]["modelServerId"] == service["id"] and found["data"]["replicas"] == []
    posted = client.post("/model/modelServerVersion/findModelServerVersionById", {"id": version["id"]}, format="json")
    assert posted.json()["data"] == found["data"]

    page = client.post("/model/modelServer/findModelServerPageList",
                       {"pageNum": 1, "pageSize": 10, "queryCriteria": {"createUser": str(user.pk), "name": "ti"}},
                       format="json").json()
    assert page["data"]["total"] == 1 and page["data"]["list"][0]["name"] == "tiny"


def test_deploy_enqueues_a_serving_job(user, tiny_version):
    response = save(client_for(user), "tiny", tiny_version, deploy=True)
    assert response.status_code == 200, response.json()
    job = ServingJob.objects.get()
    assert job.action == "deploy" and job.status == "queued"
    assert ServiceVersion.objects.get().status == "deploying"


def test_a_second_create_with_the_same_name_adds_a_version(user, tiny_version):
    client = client_for(user)
    save(client, "tiny", tiny_version)
    response = save(client, "tiny", tiny_version, rate=20)
    versions = response.json()["data"]["modelServerVersions"]
    assert [(v["version"], v["rate"]) for v in versions] == [(1, 100), (2, 20)]
    assert ModelService.objects.count() == 1


@pytest.mark.parametrize("fields, message", [
    ({"rate": 101}, "rate"),
    ({"predictMinReplicas": 3, "predictMaxReplicas": 2}, "predictMaxReplicas"),
    ({"metric": 7}, "metric"),
    ({"monitorThreshold": "lots"}, "monitorThreshold"),
    ({"envs": "{not json"}, "envs"),
    ({"aiApplicationVersionId": "0" * 32}, "not found"),
    ({"createUser": "999"}, "createUser"),
    ({"reqMethod": "grpc"}, "reqMethod"),
])
def test_bad_versions_are_4xx_in_the_envelope(user, tiny_version, fields, message):
    response = save(client_for(user), "tiny", tiny_version, **fields)
    body = response.json()
    assert 400 <= response.status_code < 500 and body["success"] is False and body["code"] == response.status_code
    assert message in body["message"]
    assert not ModelService.objects.exists()


def test_bad_bodies(user, tiny_version):
    client = client_for(user)
    assert client.post("/model/modelServer/createModelServer", [1], format="json").status_code == 400
    bad_name = client.post("/model/modelServer/createModelServer",
                           {"modelServer": {"name": "../x"}, "modelServerVersions": [version_body(tiny_version)]},
                           format="json")
    assert bad_name.status_code == 400 and "name" in bad_name.json()["message"]
    no_versions = client.post("/model/modelServer/createModelServer", {"modelServer": {"name": "x"}}, format="json")
    assert no_versions.status_code == 400
    assert client.get("/model/modelServer/findModelServerById").status_code == 400
    assert client.get("/model/modelServer/findModelServerById", {"id": "f" * 32}).status_code == 404


def test_services_are_private(user, other_user, tiny_version):
    service = save(client_for(user), "tiny", tiny_version).json()["data"]
    bob = client_for(other_user)
    assert bob.get("/model/modelServer/findModelServerById", {"id": service["id"]}).status_code == 404
    version_id = service["modelServerVersions"][0]["id"]
    assert bob.get("/model/modelServerVersion/findModelServerVersionById", {"id": version_id}).status_code == 404
    assert bob.post("/model/modelServer/findModelServerPageList", {}, format="json").json()["data"]["total"] == 0
    # bob cannot deploy alice's registry version either
    assert save(bob, "mine", tiny_version).status_code == 404
    assert bob.post(f"/api/v1/serving/services/{service['id']}/stop").status_code == 404
    assert bob.delete(f"/api/v1/serving/services/{service['id']}").status_code == 404


def test_authentication_is_required(api_client):
    response = api_client.post("/model/modelServer/findModelServerPageList", {}, format="json")
    assert response.status_code == 401 and response.json()["success"] is False
    response = api_client.get("/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_openai_errors_without_a_running_model(user, tiny_version):
    client = client_for(user)
    save(client, "tiny", tiny_version)
    unknown = client.post("/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
                          format="json")
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) == {"message", "type", "param", "code"}
    assert unknown.json()["error"]["code"] == "model_not_found"
    bad = client.post("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                                               "temperature": 5}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "temperature"
    for body, param in [
        ({"model": "tiny", "messages": []}, "messages"),
        ({"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "n": 3}, "n"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "bogus": 1}, "bogus"),
    ]:
        response = client.post("/v1/chat/completions", body, format="json")
        assert response.status_code == 400, (body, response.json())
        assert response.json()["error"]["param"] == param
    not_running = client.post("/v1/completions", {"model": "tiny", "prompt": "x"}, format="json")
    assert not_running.status_code == 503 and "no running replica" in not_running.json()["error"]["message"]
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["tiny"]
    assert models["data"][0]["status"] == "saved"


def test_callable_services_and_chat_completion_scope(user, other_user, tiny_version):
    from core.errors import NotFound
    from serving import selectors, services

    save(client_for(user), "tiny", tiny_version)
    assert [(r["name"], r["kind"], r["status"]) for r in selectors.callable_services(user)] == [
        ("tiny", "chat", "saved")]
    assert selectors.callable_services(other_user) == []
    with pytest.raises(NotFound):
        services.chat_completion(user=other_user, model="tiny", messages=[{"role": "user", "content": "hi"}])


def test_pages(user, tiny_version, client):
    save(client_for(user), "tiny", tiny_version)
    client.force_login(user)
    service = ModelService.objects.get()
    listing = client.get("/serving/")
    assert listing.status_code == 200 and b'data-service="tiny"' in listing.content
    detail = client.get(f"/serving/{service.uid}/")
    assert detail.status_code == 200 and b"Version 1" in detail.content and b"traffic-chart" in detail.content
    playground = client.get("/serving/playground/?model=tiny")
    assert playground.status_code == 200 and b'<option value="tiny" selected' in playground.content
    assert b'data-testid="no-models"' not in playground.content
    version = service.versions.get()
    client.post(f"/serving/versions/{version.uid}/rate", {"rate": "40"})
    version.refresh_from_db()
    assert version.rate == 40
    client.post(f"/serving/{service.uid}/start")
    assert ServingJob.objects.filter(action="deploy").count() == 1


def test_the_playground_says_why_it_has_no_model(other_user, client):
    client.force_login(other_user)  # bob has deployed nothing
    page = client.get("/serving/playground/").content.decode()
    assert 'data-testid="no-models"' in page and "those shared with you" in page
