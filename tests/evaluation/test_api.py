"""The clean API /api/v1/evaluation/: its own serializers, FilterSet filters and DRF paging."""

import pytest

from evaluation.models import EvaluationTask

from .factories import EvaluationTaskFactory
from .test_facade import small_space  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
TASKS = "/api/v1/evaluation/tasks/"


def test_list_filters_and_pages_only_the_callers_tasks(user, other_user, auth_client):
    EvaluationTaskFactory(owner=user, name="alpha run", status="succeeded")
    EvaluationTaskFactory(owner=user, name="beta run", status="failed")
    EvaluationTaskFactory(owner=user, name="gamma")
    EvaluationTaskFactory(owner=other_user, name="bob's run")
    body = auth_client.get(TASKS).json()
    assert body["count"] == 3 and len(body["results"]) == 3 and body["next"] is None
    assert auth_client.get(TASKS, {"offset": 3}).json()["results"] == []  # past the last one
    assert [t["name"] for t in auth_client.get(TASKS, {"name": "run"}).json()["results"]] == ["beta run", "alpha run"]
    assert [t["name"] for t in auth_client.get(TASKS, {"status": "succeeded"}).json()["results"]] == ["alpha run"]
    assert auth_client.get(TASKS, {"status": "exploded"}).status_code == 400


def test_create_takes_the_services_arguments_by_their_own_names(small_space, auth_client):
    response = auth_client.post(TASKS, {"name": "api", "model_dir": "Model", "data_dir": "Data", "metrics": ["loss"],
                                        "output_dir": "Evaluations/api", "resources": {"cpu": 1}}, format="json")
    assert response.status_code == 201, response.content
    task = EvaluationTask.objects.get(name="api")
    assert response.json()["uid"] == str(task.uid) and task.model_ref == "Model" and task.data_ref == "Data"
    missing = auth_client.post(TASKS, {"model_dir": "Nowhere", "data_dir": "Data", "metrics": ["loss"],
                                       "output_dir": "x"}, format="json")
    assert missing.status_code == 404 and missing.json()["detail"].startswith("model_dir: model missing")


def test_the_task_page_cancels_through_the_service(user, client):
    queued, done = EvaluationTaskFactory(owner=user), EvaluationTaskFactory(owner=user, status="succeeded")
    client.force_login(user)
    assert client.post(f"/evaluation/tasks/{queued.pk}/cancel").status_code == 302
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    page = client.post(f"/evaluation/tasks/{done.pk}/cancel", follow=True).content.decode()
    assert "has already succeeded" in page
