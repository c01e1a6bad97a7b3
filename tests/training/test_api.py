"""The clean API (/api/v1/training/): domain names in, the same services, FilterSet filters, DRF pages."""

import pytest

from training.models import CodeTask, LlmTask

pytestmark = pytest.mark.django_db
RUNS = "/api/v1/training/llm-tasks/"
JOBS = "/api/v1/training/code-tasks/"


def test_start_filter_and_page_runs(training_space, auth_client, other_user):
    body = {"name": "api-run", "base_folder": "Model", "data_folder": "Data", "strategy": "LoRA",
            "hyper": {"max_steps": "5", "lora_r": 4}, "resources": {"cpu": 1, "memory_gb": 1.5}}
    created = auth_client.post(RUNS, body, format="json")
    assert created.status_code == 201, created.content
    task = LlmTask.objects.get(pk=created.json()["id"])
    assert (task.model_source, task.model_ref, task.data_ref) == ("files", "Model", "Data")
    assert task.hyper_parameters["max_steps"] == 5 and task.hyper_parameters["lora_r"] == 4 and task.memory_gb == 1.5
    pretrain = auth_client.post(RUNS, {"name": "api-pretrain", "base_folder": "Model", "pretrain": True}, format="json")
    assert pretrain.status_code == 201 and pretrain.json()["strategy"] == "FineTune"

    page = auth_client.get(RUNS, {"pretrain": "false", "status": "pending", "limit": 1}).json()
    assert page["count"] == 1 and [row["name"] for row in page["results"]] == ["api-run"]
    assert auth_client.get(RUNS, {"name": "PRETRAIN"}).json()["count"] == 1
    assert auth_client.get(RUNS, {"status": "sleeping"}).status_code == 400
    from .conftest import client_for

    assert client_for(other_user).get(RUNS).json()["count"] == 0


def test_errors_name_the_domain_field(training_space, auth_client):
    response = auth_client.post(RUNS, {"base_folder": "Model", "hyper": {"epochs": 1}}, format="json")
    assert response.status_code == 400 and "unknown hyper-parameter 'epochs'" in response.json()["detail"]
    response = auth_client.post(RUNS, {"base_folder": "Nowhere/../.."}, format="json")
    assert response.status_code == 400 and response.json()["detail"].startswith("base_folder: ")
    assert not LlmTask.objects.exists()


def test_start_and_list_jobs(user, auth_client, client, other_user):
    created = auth_client.post(JOBS, {"name": "job", "command": "echo hi", "variables": {"LR": "0.1"},
                                      "resources": {"cpu": 1, "memory_gb": 1}}, format="json")
    assert created.status_code == 201, created.content
    assert CodeTask.objects.get().variables == {"LR": "0.1"}
    assert auth_client.get(JOBS, {"type": "PyTorch"}).json()["count"] == 1
    client.force_login(other_user)
    assert client.get(JOBS).json()["count"] == 0
