"""Section 3's ids in section 4 (no worker): createLlmFineTuneTask takes the version and application
ids that getAiApplicationList / getAiApplicationVersionList answer, scoped like reading the
version, and every answer gives those public ids back, never database numbers."""

import pytest

from registry.models import AiApplicationVersion
from registry.services import register_training_result
from training.models import LlmTask

from .conftest import DETAIL, client_for, create_task

pytestmark = pytest.mark.django_db

APPLICATIONS = "/model/aiApplication/getAiApplicationList"
VERSIONS = "/model/aiApplicationVersion/getAiApplicationVersionList"
PRODUCED = "/kernel/fineTuneManage/listFineTuneTaskManage"


def kernel_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["returnCode"] == status
    return body["message"]


@pytest.fixture
def registered(training_space, tiny_model_dir):
    """alice's application "base" with versions 0.0.1 and 0.0.2 (both imported)."""
    register_training_result(owner=training_space, application_name="base", folder=tiny_model_dir)
    register_training_result(owner=training_space, application_name="base", folder=tiny_model_dir)
    return training_space


def section3_ids(client):
    """(application id, {version: version id}) as section 3 answers them."""
    (app,) = client.post(APPLICATIONS, {"queryInfo": {"name": "base"}}, format="json").json()["data"]["rows"]
    versions = client.get(VERSIONS, {"aiApplicationId": app["id"]}).json()["data"]
    return app["id"], {v["version"]: v["id"] for v in versions}


def detail(client, task_id):
    return client.post(f"{DETAIL}?taskId={task_id}").json()["data"]


def test_the_version_id_of_section_3_is_a_model_version_id(registered, auth_client):
    _, versions = section3_ids(auth_client)
    response = create_task(auth_client, originModelDir="", modelVersionId=versions["0.0.1"])
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["modelSource"] == "registry" and data["modelVersionId"] == versions["0.0.1"]
    task = LlmTask.objects.get(pk=data["taskId"])
    assert (task.model_source, task.model_ref) == ("registry", versions["0.0.1"])
    assert detail(auth_client, data["taskId"])["modelVersionId"] == versions["0.0.1"]


def test_the_application_id_of_section_3_is_a_model_id(registered, auth_client):
    app_id, versions = section3_ids(auth_client)
    latest = create_task(auth_client, originModelDir="", modelId=app_id).json()["data"]
    assert latest["modelSource"] == "registry" and latest["modelVersionId"] == versions["0.0.2"]
    named = create_task(auth_client, originModelDir="", modelId=app_id, modelVersion="0.0.1").json()["data"]
    assert named["modelVersionId"] == versions["0.0.1"]
    kernel_error(create_task(auth_client, originModelDir="", modelId=app_id, modelVersion="9.9.9"), 404)


def test_hub_names_and_database_numbers_are_still_accepted(registered, auth_client):
    _, versions = section3_ids(auth_client)
    number = AiApplicationVersion.objects.get(uid=versions["0.0.1"]).pk
    by_number = create_task(auth_client, originModelDir="", modelVersionId=str(number)).json()["data"]
    assert by_number["modelVersionId"] == versions["0.0.1"]  # answered by its public id
    hub = create_task(auth_client, originModelDir="", modelId="alice/base").json()["data"]
    assert hub["modelSource"] == "hub" and hub["modelId"] == "alice/base"
    # The repository id hub-api.md's /api/model answers names the same hub model.
    hub_id = auth_client.get("/api/model", {"name": "alice/base"}).json()["data"]["options"]["id"]
    by_id = create_task(auth_client, originModelDir="", modelId=hub_id).json()["data"]
    assert by_id["modelSource"] == "hub" and by_id["modelId"] == "alice/base"


def test_bob_cannot_fine_tune_alices_private_version_by_its_ids(registered, auth_client, other_user):
    app_id, versions = section3_ids(auth_client)
    hub_id = auth_client.get("/api/model", {"name": "alice/base"}).json()["data"]["options"]["id"]
    bob = client_for(other_user)
    for fields in ({"modelVersionId": versions["0.0.1"]}, {"modelId": app_id}, {"modelId": hub_id},
                   {"modelId": "alice/base"}):
        message = kernel_error(create_task(bob, originModelDir="", **fields), 404)
        assert "not found" in message
    assert not LlmTask.objects.filter(owner=other_user).exists()


def test_a_version_still_importing_is_refused(training_space, auth_client):
    body = {"application": {"name": "pending"},
            "aiApplicationVersionList": [{"version": "0.0.1", "source": 3, "savePath": "/Model"}]}
    created = auth_client.post("/model/aiApplication/createAiApplication", body, format="json").json()["data"]
    version_id = created["aiApplicationVersionList"][0]["id"]
    message = kernel_error(create_task(auth_client, originModelDir="", modelVersionId=version_id), 400)
    assert "not imported" in message


def test_produced_models_answer_public_ids(registered, auth_client):
    app_id, versions = section3_ids(auth_client)
    task_id = create_task(auth_client, originModelDir="", modelVersionId=versions["0.0.1"]).json()["data"]["taskId"]
    # What the worker records when the run registers its result (see training.execution).
    produced = AiApplicationVersion.objects.get(uid=versions["0.0.2"])
    LlmTask.objects.filter(pk=task_id).update(status="succeeded", produced_version_id=produced.pk)
    (row,) = auth_client.post(PRODUCED, {}, format="json").json()["data"]["list"]
    assert row["taskId"] == task_id
    assert row["modelVersionId"] == versions["0.0.2"] and row["applicationId"] == app_id
    assert row["applicationName"] == "base" and row["version"] == "0.0.2"
    assert detail(auth_client, task_id)["producedVersionId"] == versions["0.0.2"]
