"""The /kernel/ facades without a worker: validation, scoping, filters, the config.json merge."""

import pytest

from accounts.models import ResourceQuota
from tests.factories import UserFactory
from training.models import LlmTask

from .conftest import CREATE, DETAIL, client_for, create_task, hyper, save_text

pytestmark = pytest.mark.django_db


def kernel_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["returnCode"] == status
    assert body["data"] is None
    return body["message"]


def test_create_records_hyper_parameters_from_config_json_and_request(training_space, auth_client):
    response = create_task(auth_client, commonHyperParameters=[hyper("learning_rate", "0.01"), hyper("max_steps", 5)])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and body["returnCode"] == 0
    task = LlmTask.objects.get(pk=body["data"]["taskId"])
    assert task.owner.username == "alice"
    assert task.strategy == "LoRA"  # from Config/LoRA/config.json
    assert task.config_source == "Config/LoRA/config.json"
    assert task.hyper_parameters == {
        "learning_rate": 0.01, "num_train_epochs": 1.0, "max_steps": 5, "lora_alpha": 16, "lora_r": 8, "lora_dropout": 0.05,
    }
    assert task.status == "queued" and task.max_attempts == 2 and task.cpu == 1


def test_createTaskBO_nested_body_is_accepted(training_space, auth_client):
    body = {"createTaskBO": {"name": "nested", "originModelDir": "Model", "fineTuneStrategy": "FineTune"}}
    response = auth_client.post(CREATE, body, format="json")
    assert response.status_code == 200, response.content
    assert LlmTask.objects.get(name="nested").strategy == "FineTune"


def test_unknown_hyper_parameter_is_a_400_naming_it(training_space, auth_client):
    response = create_task(auth_client, fineTuneHyperParameters=[hyper("lora_rank", 8)])
    message = kernel_error(response, 400)
    assert "unknown hyper-parameter 'lora_rank'" in message and "lora_r" in message
    assert not LlmTask.objects.exists()


@pytest.mark.parametrize(
    "item, expected",
    [
        (hyper("learning_rate", "fast"), "learning_rate"),
        (hyper("per_device_train_batch_size", "0"), "per_device_train_batch_size: must be >= 1"),
        (hyper("save_strategy", "sometimes"), "save_strategy: must be one of"),
        (hyper("lora_r", "2.5"), "lora_r"),
    ],
)
def test_bad_hyper_parameter_values_are_400(training_space, auth_client, item, expected):
    message = kernel_error(create_task(auth_client, commonHyperParameters=[item]), 400)
    assert expected in message


def test_unknown_name_in_config_json_is_a_400(training_space, auth_client):
    save_text(training_space, "Config/FineTune/config.json",
              '{"commonHyperParameters": [{"name": "epochs", "value": "1"}], "fineTuneStrategy": "FineTune"}')
    message = kernel_error(create_task(auth_client, fineTuneStrategy="FineTune"), 400)
    assert "/Config/FineTune/config.json" in message and "'epochs'" in message


def test_missing_dataset_is_a_400(training_space, auth_client):
    message = kernel_error(create_task(auth_client, inputDir="/NoSuchData"), 400)
    assert "dataset missing" in message and "/NoSuchData" in message
    message = kernel_error(create_task(auth_client, inputType="dataset", dataSetName="nobody/nothing"), 404)
    assert "nobody/nothing" in message


def test_dataset_without_train_files_is_a_400(training_space, auth_client):
    save_text(training_space, "Empty/validate/v.jsonl", '{"text": "x"}\n')
    message = kernel_error(create_task(auth_client, inputDir="Empty"), 400)
    assert "/Empty/train" in message


def test_missing_model_is_a_400(training_space, auth_client):
    message = kernel_error(create_task(auth_client, originModelDir=""), 400)
    assert "model path missing" in message
    kernel_error(create_task(auth_client, originModelDir="/Nowhere"), 404)
    kernel_error(create_task(auth_client, originModelDir="../../etc"), 400)


def test_over_quota_request_is_a_403(training_space, auth_client):
    ResourceQuota.objects.create(user=training_space, cpu=2, memory_gb=4)
    message = kernel_error(create_task(auth_client, resource=[{"cpuNumber": 4, "memory": 2, "numbers": 1}]), 403)
    assert "over quota" in message and "CPU" in message
    message = kernel_error(create_task(auth_client, resource=[{"cpuNumber": 1, "memory": 3, "numbers": 2}]), 403)
    assert "memory" in message
    message = kernel_error(create_task(auth_client, resource=[{"cpuNumber": 1, "gpuResource": {"gpuNum": 1}}]), 403)
    assert "GPU" in message


def test_user_id_of_someone_else_is_refused_not_obeyed(training_space, auth_client, other_user):
    kernel_error(create_task(auth_client, userId=str(other_user.pk)), 403)
    assert create_task(auth_client, userId=str(training_space.pk), userName="alice").status_code == 200
    assert LlmTask.objects.get().owner == training_space


def test_pretraining_rejects_lora_parameters(training_space, auth_client):
    message = kernel_error(create_task(auth_client, isPretrain=1, fineTuneHyperParameters=[hyper("lora_r", 4)]), 400)
    assert "pretraining" in message
    response = create_task(auth_client, isPretrain=1)
    assert response.status_code == 200
    task = LlmTask.objects.get()
    assert task.is_pretrain and task.strategy == "FineTune" and "lora_r" not in task.hyper_parameters


def test_list_filters_and_scoping(training_space, auth_client, other_user):
    create_task(auth_client, name="alpha")
    create_task(auth_client, name="beta", isPretrain=1)
    bob = client_for(other_user)
    listing = auth_client.post("/kernel/fineTune/listLlmFineTuneTask", {"isPretrain": 0}, format="json").json()["data"]
    assert [row["name"] for row in listing["list"]] == ["alpha"]
    listing = auth_client.post("/kernel/fineTune/listLlmFineTuneTask", {"taskName": "bet"}, format="json").json()["data"]
    assert listing["total"] == 1 and listing["list"][0]["isPretrain"] == 1
    assert bob.post("/kernel/fineTune/listLlmFineTuneTask", {}, format="json").json()["data"]["total"] == 0
    kernel_error(bob.post("/kernel/fineTune/listLlmFineTuneTask", {"userId": str(training_space.pk)}, format="json"), 403)
    kernel_error(auth_client.post("/kernel/fineTune/listLlmFineTuneTask", {"status": "sleeping"}, format="json"), 400)


def test_detail_by_query_string_form_and_json(training_space, auth_client, other_user):
    task_id = create_task(auth_client).json()["data"]["taskId"]
    for response in (
        auth_client.post(f"{DETAIL}?taskId={task_id}"),
        auth_client.post(DETAIL, {"taskId": task_id}),  # form-encoded
        auth_client.post(DETAIL, {"taskId": task_id}, format="json"),
    ):
        data = response.json()["data"]
        assert data["taskId"] == task_id
        assert {"metrics", "checkpoints", "commonHyperParameters", "fineTuneHyperParameters", "log"} <= set(data)
    kernel_error(client_for(other_user).post(f"{DETAIL}?taskId={task_id}"), 404)
    kernel_error(auth_client.post(DETAIL), 400)


def test_requires_authentication(api_client):
    kernel_error(api_client.post(CREATE, {}, format="json"), 401)
    kernel_error(api_client.post("/kernel/trainOperator/listTask", {}, format="json"), 401)


def test_bad_json_bodies_are_400(auth_client):
    kernel_error(auth_client.post(CREATE, "[1, 2]", content_type="application/json"), 400)
    kernel_error(auth_client.post(CREATE, "{not json", content_type="application/json"), 400)


def test_produced_models_lists_only_tasks_with_a_version(training_space, auth_client):
    create_task(auth_client, name="unfinished")
    body = auth_client.post("/kernel/fineTuneManage/listFineTuneTaskManage", {}, format="json").json()
    assert body["success"] is True and body["data"]["total"] == 0


def test_admin_pages_load(db, client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for url in ("/admin/training/llmtask/", "/admin/training/codetask/", "/admin/training/metricrow/"):
        assert client.get(url).status_code == 200
