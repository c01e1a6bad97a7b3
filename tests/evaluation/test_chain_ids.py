"""Section 3's version ids in section 7 (no worker): the create takes the public id as
aiAppVersionId, scoped like reading the version, and the detail answers it back."""

import pytest

from evaluation.models import EvaluationTask
from registry.models import AiApplicationVersion
from registry.services import register_training_result

from .conftest import DETAIL, PAGE, client_for, create

pytestmark = pytest.mark.django_db

VERSIONS = "/model/aiApplicationVersion/getAiApplicationVersionList"


@pytest.fixture
def version_id(eval_space, tiny_model_dir, auth_client):
    """The id section 3 answers for alice's imported version of the tiny model."""
    version = register_training_result(owner=eval_space, application_name="tiny", folder=tiny_model_dir)
    (listed,) = auth_client.get(VERSIONS, {"aiApplicationId": version.application.uid}).json()["data"]
    return listed["id"]


def test_the_version_id_of_section_3_is_an_ai_app_version_id(version_id, auth_client, client, user):
    response = create(auth_client, modelType="aiApp", aiAppVersionId=version_id, inputType="local",
                      inputDir="/Domain", metrics=["loss"])
    assert response.status_code == 200, response.content
    task_id = response.json()["data"]["id"]
    task = EvaluationTask.objects.get(uid=task_id)
    assert task.version.uid == version_id and task.model_ref == version_id
    detail = auth_client.get(f"{DETAIL}{task_id}").json()["data"]
    assert detail["aiAppVersionId"] == version_id and detail["modelType"] == "aiApp"
    rows = auth_client.post(PAGE, {"versionId": version_id}, format="json").json()["data"]["rows"]
    assert [row["id"] for row in rows] == [task_id]
    # The version's page and the clean API take the same id.
    assert auth_client.get(f"/api/v1/evaluation/versions/{version_id}/evaluations").json()["versionId"] == version_id
    client.force_login(user)
    page = client.get(f"/evaluation/version/{version_id}/")
    assert page.status_code == 200 and version_id in page.content.decode()


def test_the_database_number_is_still_accepted_and_answered_as_the_public_id(version_id, auth_client):
    number = AiApplicationVersion.objects.get(uid=version_id).pk
    response = create(auth_client, modelType="aiApp", aiAppVersionId=str(number), inputType="local",
                      inputDir="/Domain", metrics=["loss"])
    assert response.status_code == 200, response.content
    detail = auth_client.get(f"{DETAIL}{response.json()['data']['id']}").json()["data"]
    assert detail["aiAppVersionId"] == version_id


def test_bob_cannot_evaluate_alices_private_version_by_its_id(version_id, other_user):
    response = create(client_for(other_user), modelType="aiApp", aiAppVersionId=version_id, inputType="dataset",
                      datasetName="alice/none", metrics=["loss"])
    assert response.status_code == 404, response.content
    assert "model missing" in response.json()["message"]
    assert not EvaluationTask.objects.exists()
