"""platform-api.md section 3 through HTTP (imports are not run here; see test_import_worker)."""

import json

import pytest

from registry.models import AiApplication, AiApplicationVersion, VersionImportJob
from registry import services
from tests.images.helpers import put_file
from tests.registry.helpers import create_body

pytestmark = pytest.mark.django_db

CREATE = "/model/aiApplication/createAiApplication"
LIST = "/model/aiApplication/getAiApplicationList"
DETAIL = "/model/aiApplication/getAiApplicationDetail"
VERSIONS = "/model/aiApplicationVersion/getAiApplicationVersionList"
VERSION = "/model/aiApplicationVersion/getAiApplicationVersionDetail"


@pytest.fixture
def model_files(user):
    put_file(user, "Model/config.json", b'{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}')
    put_file(user, "Model/weights.bin", b"0" * 100)


def error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == status and body["data"] is None and body["message"]
    return body["message"]


def test_create_application_with_a_version_and_hyper_parameters(auth_client, user, model_files):
    hyper = [{"paramName": "learning_rate", "type": "float", "value": "1e-4", "valueRange": [0, 1], "edit": True}]
    body = create_body(versions=[{"applicationName": "tiny", "createUser": str(user.pk), "userName": "alice",
                                  "version": "0.0.1", "source": "3", "framework": 12, "saveType": 2,
                                  "savePath": "/Model", "configSaveType": 2, "loginUser": 1}], hyper=hyper)
    response = auth_client.post(CREATE, body, format="json")
    assert response.status_code == 200, response.content
    payload = response.json()
    assert (payload["success"], payload["code"], payload["message"]) == (True, 200, "success")
    app = payload["data"]["application"]
    assert app["name"] == "tiny" and app["type"] == "LLM" and app["userName"] == "alice" and app["isDelete"] == 0
    assert app["aiApplicationVersionsCount"] == 1 and app["latestVersion"] == "0.0.1" and app["status"] == 1
    [version] = payload["data"]["aiApplicationVersionList"]
    assert (version["version"], version["source"], version["status"], version["framework"]) == ("0.0.1", 3, 1, 12)
    assert version["savePath"] == "/Model" and version["applicationId"] == app["id"]
    assert json.loads(version["hyperParameterList"])[0]["paramName"] == "learning_rate"
    assert payload["data"]["hyperParameterList"][0]["valueRange"] == [0, 1]
    stored = AiApplication.objects.get(uid=app["id"])
    assert stored.owner == user and stored.repository.owner == user and stored.repository.private
    assert VersionImportJob.objects.get(version__uid=version["id"]).status == "queued"


def test_more_versions_go_to_the_same_application_and_numbers_increase(auth_client, model_files):
    auth_client.post(CREATE, create_body(), format="json")
    second = auth_client.post(CREATE, create_body(versions=[{"source": 3, "savePath": "Model"}]), format="json")
    assert second.status_code == 200, second.content
    assert second.json()["data"]["aiApplicationVersionList"][0]["version"] == "0.0.2"
    lower = auth_client.post(CREATE, create_body(versions=[{"source": 3, "savePath": "Model", "version": "0.0.1"}]), format="json")
    assert "already exists" in error(lower, 409)
    older = auth_client.post(CREATE, create_body(versions=[{"source": 3, "savePath": "Model", "version": "0.0.0"}]), format="json")
    assert "greater than" in error(older, 400)
    assert list(AiApplicationVersion.objects.values_list("number", flat=True).order_by("number")) == [1, 2]
    assert "already have" in error(auth_client.post(CREATE, create_body(versions=[]), format="json"), 409)


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"application": {"name": ""}}, 400, "application.name"),
        ({"application": "x"}, 400, "application"),
        (create_body(versions=[{"savePath": "/Model"}]), 400, "source"),
        (create_body(versions=[{"source": 9, "savePath": "/Model"}]), 400, "source"),
        (create_body(versions=[{"source": 3}]), 400, "savePath"),
        (create_body(versions=[{"source": 3, "savePath": "/nowhere"}]), 400, "savePath"),
        (create_body(versions=[{"source": 3, "savePath": "../x"}]), 400, "'..'"),
        (create_body(versions=[{"source": 3, "savePath": "/Model", "saveType": 1}]), 400, "object storage"),
        (create_body(versions=[{"source": 3, "savePath": "/Model", "version": "v1"}]), 400, "dotted"),
        (create_body(versions=[{"source": 2}]), 400, "image"),
        (create_body(versions=[{"source": 2, "image": "nothing:1"}]), 400, "image"),
        (create_body(versions=[{"source": 3, "savePath": "/Model", "applicationName": "other"}]), 400, "applicationName"),
        (create_body(versions=[{"source": 3, "savePath": "/Model", "framework": "x"}]), 400, "framework"),
        (create_body(versions="x"), 400, "aiApplicationVersionList"),
        (create_body(hyper=[{"value": 1}]), 400, "paramName"),
        (create_body(hyper=[{"paramName": "a", "edit": "yes"}]), 400, "edit"),
        (create_body(createUser="999"), 403, "createUser"),
        (create_body(userName="bob"), 403, "userName"),
    ],
)
def test_create_bad_input(auth_client, model_files, body, status, words):
    assert words in error(auth_client.post(CREATE, body, format="json"), status)
    assert not AiApplicationVersion.objects.exists()


def test_list_filters_and_pages(auth_client, user, model_files, tiny_model_dir):
    for name, kind in (("alpha", "LLM"), ("beta", "CV"), ("gamma", "LLM")):
        auth_client.post(CREATE, create_body(name=name, type=kind), format="json")
    services.register_training_result(owner=user, application_name="delta", folder=tiny_model_dir)
    body = auth_client.post(LIST, {"pageNum": 1, "pageSize": 2, "queryInfo": {}}, format="json").json()
    assert (body["success"], body["code"]) == (True, 200)
    assert body["data"]["total"] == 4 and [r["name"] for r in body["data"]["rows"]] == ["delta", "gamma"]
    assert [r["name"] for r in auth_client.post(LIST, {"pageNum": 2, "pageSize": 2}, format="json").json()["data"]["rows"]] == ["beta", "alpha"]
    swagger_defaults = auth_client.post(LIST, {"pageNum": 0, "pageSize": 0, "queryInfo": {}}, format="json").json()
    assert swagger_defaults["data"]["total"] == 4
    def names(query):
        response = auth_client.post(LIST, {"pageNum": 1, "queryInfo": query}, format="json")
        assert response.status_code == 200, response.content
        return sorted(r["name"] for r in response.json()["data"]["rows"])
    assert names({"type": "llm"}) == ["alpha", "delta", "gamma"]
    assert names({"name": "ET"}) == ["beta"]
    assert names({"status": 2}) == ["delta"]
    assert names({"source": 1}) == ["delta"]
    assert names({"userName": "bob"}) == []
    delta = [r for r in auth_client.post(LIST, {"queryInfo": {"name": "delta"}}, format="json").json()["data"]["rows"]][0]
    assert delta["status"] == 2 and delta["aiApplicationVersionsSize"] > 0 and delta["repoId"] == "alice/delta"


@pytest.mark.parametrize("body", [{"queryInfo": "x"}, {"queryInfo": {"colour": "red"}}, {"pageNum": "a"},
                                  {"pageSize": 101}, {"queryInfo": {"status": 7}}])
def test_list_bad_input(auth_client, body):
    error(auth_client.post(LIST, body, format="json"), 400)


def test_detail_and_versions(auth_client, user, tiny_model_dir, tiny_parameter_count):
    version = services.register_training_result(
        owner=user, application_name="tiny", folder=tiny_model_dir, hyper_parameters={"lr": 0.1}
    )
    app_id = version.application.uid
    detail = auth_client.get(DETAIL, {"aiApplicationId": app_id}).json()
    assert detail["success"] and detail["data"]["id"] == app_id and detail["data"]["latestVersion"] == "0.0.1"
    assert detail["data"]["aiApplicationVersionsSize"] == pytest.approx(version.size_bytes / 1024)
    listed = auth_client.get(VERSIONS, {"aiApplicationId": app_id}).json()["data"]
    assert [v["id"] for v in listed] == [version.uid]
    one = auth_client.get(VERSION, {"aiApplicationVersionId": version.uid}).json()["data"]
    assert one["status"] == 2 and one["statusName"] == "Imported" and one["source"] == 1
    assert one["parameterCount"] == tiny_parameter_count and one["scale"] and one["modelStructure"] == "GPT2LMHeadModel"
    assert one["size"] == pytest.approx(version.size_bytes / 1024)
    assert one["absolutePath"] == f"/api/models/alice/tiny/revision/{version.commit.oid}"
    for key in ("absolutePath", "applicationId", "applicationName", "configPath", "configSaveType", "createTime",
                "createUser", "deployJson", "description", "framework", "frameworkStyle", "fromMarket",
                "hideSourcePath", "hyperParameterList", "id", "image", "imageType", "isDelete", "label",
                "llmFineTuneTaskId", "loginUser", "metrics", "modelStructure", "modifiedTime", "originalParameters",
                "parameterStatus", "parameters", "preDeployLabel", "savePath", "saveType", "scale", "size",
                "softVersion", "source", "status", "trainTaskVersionId", "userName", "version"):
        assert key in one, key


def test_missing_and_malformed_ids(auth_client):
    assert "required" in error(auth_client.get(DETAIL), 400)
    error(auth_client.get(DETAIL, {"aiApplicationId": "0" * 32}), 404)
    error(auth_client.get(VERSIONS, {"aiApplicationId": "x/../y"}), 400)
    error(auth_client.get(VERSION, {"aiApplicationVersionId": "f" * 32}), 404)


def test_users_cannot_see_each_others_applications(auth_client, user, other_user, api_client, tiny_model_dir):
    from accounts.services import issue_tokens

    version = services.register_training_result(owner=user, application_name="private-one", folder=tiny_model_dir)
    access, _ = issue_tokens(other_user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.post(LIST, {"pageNum": 1}, format="json").json()["data"]["total"] == 0
    error(api_client.get(DETAIL, {"aiApplicationId": version.application.uid}), 404)
    error(api_client.get(VERSIONS, {"aiApplicationId": version.application.uid}), 404)
    error(api_client.get(VERSION, {"aiApplicationVersionId": version.uid}), 404)
    # The same name is bob's own application, not alice's.
    put_file(other_user, "Model/config.json", b"{}")
    response = api_client.post(CREATE, create_body(name="private-one"), format="json")
    assert response.status_code == 200 and AiApplication.objects.filter(name="private-one").count() == 2


def test_endpoints_need_authentication(api_client):
    for url in (CREATE, LIST):
        error(api_client.post(url, {}, format="json"), 401)
    for url in (DETAIL, VERSIONS, VERSION):
        error(api_client.get(url), 401)
