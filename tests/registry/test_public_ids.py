"""Section 3's versions as a client of the spec reads them: the timestamps as the spec's objects,
what Crucible knows about the version (metrics of its latest evaluation, parameters read from its
files, the task that produced it), and the one resolver that turns a client's id into a version."""

import json
import zoneinfo
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import issue_tokens
from core.errors import InvalidInput, NotFound
from registry import selectors, services
from registry.compat import spec_timestamp
from tests.evaluation.factories import EvaluationTaskFactory

pytestmark = pytest.mark.django_db

VERSIONS = "/model/aiApplicationVersion/getAiApplicationVersionList"
VERSION = "/model/aiApplicationVersion/getAiApplicationVersionDetail"
TIMESTAMP_KEYS = {"date", "day", "hours", "minutes", "month", "nanos", "seconds", "time", "timezoneOffset", "year"}


def client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)[0]}")
    return client


def test_spec_timestamp_is_the_json_of_a_java_timestamp():
    moment = datetime(2023, 11, 1, 21, 42, 17, 605000, tzinfo=dt_timezone.utc)
    with timezone.override(zoneinfo.ZoneInfo("Asia/Shanghai")):
        value = spec_timestamp(moment)
    # 2023-11-02 05:42:17.605 in Shanghai, a Thursday; months from 0, years since 1900.
    assert value == {"date": 2, "day": 4, "hours": 5, "minutes": 42, "month": 10, "nanos": 605000000, "seconds": 17,
                     "time": 1698874937605, "timezoneOffset": -480, "year": 123}
    assert spec_timestamp(None) is None


def test_version_list_and_detail_answer_timestamp_objects(auth_client, user, tiny_model_dir):
    version = services.register_training_result(owner=user, application_name="tiny", folder=tiny_model_dir)
    listed = auth_client.get(VERSIONS, {"aiApplicationId": version.application.uid}).json()["data"][0]
    detail = auth_client.get(VERSION, {"aiApplicationVersionId": listed["id"]}).json()["data"]
    for data in (listed, detail):
        for key in ("createTime", "modifiedTime"):
            assert set(data[key]) == TIMESTAMP_KEYS
        created = data["createTime"]
        local = timezone.localtime(version.created_at)
        assert created["time"] == int(version.created_at.timestamp() * 1000)
        assert (created["year"] + 1900, created["month"] + 1, created["date"]) == (local.year, local.month, local.day)
        assert (created["hours"], created["minutes"], created["seconds"]) == (local.hour, local.minute, local.second)


def test_version_carries_parameters_and_the_producing_task(auth_client, user, tiny_model_dir, tiny_parameter_count):
    version = services.register_training_result(owner=user, application_name="tuned", folder=tiny_model_dir,
                                                training_task_id=42)
    data = auth_client.get(VERSION, {"aiApplicationVersionId": version.uid}).json()["data"]
    parameters = json.loads(data["parameters"])
    assert parameters["parameterCount"] == tiny_parameter_count == data["parameterCount"]
    assert parameters["modelType"] == "gpt2" and parameters["modelStructure"] == "GPT2LMHeadModel"
    # originalParameters: the model's own config.json, unparsed.
    assert data["originalParameters"] == (tiny_model_dir / "config.json").read_text()
    assert json.loads(data["originalParameters"])["model_type"] == "gpt2"
    assert data["llmFineTuneTaskId"] == "42" and data["trainTaskVersionId"] == "42"
    assert data["metrics"] is None  # not evaluated yet


def test_version_metrics_are_those_of_its_latest_succeeded_evaluation(auth_client, user, tiny_model_dir):
    version = services.register_training_result(owner=user, application_name="tiny", folder=tiny_model_dir)
    now = timezone.now()
    EvaluationTaskFactory(owner=user, version=version, status="succeeded", results={"perplexity": 40.0},
                          finished_at=now - timedelta(hours=2))
    EvaluationTaskFactory(owner=user, version=version, status="succeeded", results={"perplexity": 12.5, "loss": 2.5},
                          finished_at=now - timedelta(hours=1))
    EvaluationTaskFactory(owner=user, version=version, status="failed", results={"perplexity": 1.0}, finished_at=now)
    data = auth_client.get(VERSION, {"aiApplicationVersionId": version.uid}).json()["data"]
    assert json.loads(data["metrics"]) == {"perplexity": 12.5, "loss": 2.5}
    listed = auth_client.get(VERSIONS, {"aiApplicationId": version.application.uid}).json()["data"]
    assert json.loads(listed[0]["metrics"]) == {"perplexity": 12.5, "loss": 2.5}


def test_resolve_version_takes_the_public_id_or_the_number_and_scopes_like_reading(user, other_user, tiny_model_dir):
    version = services.register_training_result(owner=user, application_name="tiny", folder=tiny_model_dir)
    assert selectors.resolve_version(user, version.uid) == version
    assert selectors.resolve_version(user, str(version.pk)) == version  # older clients: the database number
    assert selectors.resolve_version(user, version.pk) == version
    with pytest.raises(NotFound):
        selectors.resolve_version(other_user, version.uid)
    with pytest.raises(NotFound):
        selectors.resolve_version(other_user, str(version.pk))
    with pytest.raises(InvalidInput):
        selectors.resolve_version(user, "alice/tiny")
    assert selectors.resolve_application_version(user, version.application.uid) == version
    with pytest.raises(NotFound):
        selectors.resolve_application_version(other_user, version.application.uid)
    assert selectors.public_version_id(str(version.pk)) == version.uid == selectors.public_version_id(version.uid)


def test_the_registry_page_shows_the_version_id_other_sections_take(user, client, tiny_model_dir):
    version = services.register_training_result(owner=user, application_name="tiny", folder=tiny_model_dir)
    client.force_login(user)
    page = client.get(f"/registry/{version.application.uid}/").content.decode()
    assert f'<code data-testid="version-id">{version.uid}</code>' in page


def test_bob_reads_none_of_alices_versions_by_id(user, other_user, tiny_model_dir):
    version = services.register_training_result(owner=user, application_name="tiny", folder=tiny_model_dir)
    bob = client_for(other_user)
    assert bob.get(VERSION, {"aiApplicationVersionId": version.uid}).status_code == 404
    assert bob.get(VERSIONS, {"aiApplicationId": version.application.uid}).status_code == 404
