"""The platform as one client of the specs: every step uses only what the specs define and only ids
that earlier answers gave.

hub-api.md login -> platform-api.md 1.1 upload a tiny model and its data -> section 3 register it and
read its version id -> section 4 fine-tune that version (LoRA) and find the version it produced ->
section 7 evaluate the produced version and see the metrics on the version (section 3) -> section 8
deploy it -> ask it through the OpenAI-compatible /v1 (openai package) and the chat API (chat-api.md).
A real worker runs the import, the training, the evaluation and the replica.
"""

import io
import json
from pathlib import Path

import openai
import pytest
from django.test import Client
from rest_framework.test import APIClient

from hub.tiny_models import build_tiny_gpt2, corpus_lines
from registry.models import AiApplication
from tests.factories import PASSWORD
from tests.leaks import assert_no_server_path
from tests.serving.conftest import kill_replicas, replica_pids
from tests.worker import wait_until
from training.models import LlmTask

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.timeout(1200)]

UPLOAD = "/api/file/file/uploadFolder"
CREATE_APPLICATION = "/model/aiApplication/createAiApplication"
APPLICATIONS = "/model/aiApplication/getAiApplicationList"
VERSIONS = "/model/aiApplicationVersion/getAiApplicationVersionList"
VERSION = "/model/aiApplicationVersion/getAiApplicationVersionDetail"
FINE_TUNE = "/kernel/fineTune/createLlmFineTuneTask"
FINE_TUNE_DETAIL = "/kernel/fineTune/queryLlmFineTuneTaskDetail"
PRODUCED = "/kernel/fineTuneManage/listFineTuneTaskManage"
EVALUATE = "/model/evaluation/task/create"
EVALUATION = "/api/model/evaluation/task/detail/"
DEPLOY = "/model/modelServer/createModelInferenceServer"
SERVICE = "/model/modelServer/findModelServerById"
TIMESTAMP_KEYS = {"date", "day", "hours", "minutes", "month", "nanos", "seconds", "time", "timezoneOffset", "year"}


def hyper(name, value):
    return {"name": name, "value": str(value), "description": ""}


FAST = [hyper("learning_rate", "0.02"), hyper("max_steps", 16), hyper("save_steps", 100), hyper("logging_steps", 4),
        hyper("max_seq_length", 32), hyper("per_device_train_batch_size", 4)]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("chain-tiny-gpt2"), train_steps=30)


@pytest.fixture
def replicas_ended(transactional_db):
    yield
    kill_replicas()
    assert not replica_pids()


def login(username):
    """hub-api.md: POST /api/login answers the JWT in the Authorization response header."""
    client = APIClient()
    response = client.post("/api/login", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200 and response.json()["msg"] == "success", response.content
    token = response["Authorization"]  # bare, as the spec's clients send it back
    client.credentials(HTTP_AUTHORIZATION=token)
    return client, token


def upload(client, folder, files):
    """platform-api.md 1.1: files into the private space at currentPath."""
    handles = []
    for name, data in files.items():
        handle = io.BytesIO(data)
        handle.name = name
        handles.append(handle)
    response = client.post(UPLOAD, {"file": handles, "currentPath": folder}, format="multipart")
    assert response.status_code == 200 and response.json()["success"] is True, response.content


def ok(response, flag="success"):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body[flag] is True, body
    return body["data"]


def poll(read, done, timeout, what):
    """Read an answer until `done(answer)`; the last answer."""
    last = {}

    def reached():
        last["answer"] = read()
        return done(last["answer"])

    wait_until(reached, timeout=timeout, interval=1, message=f"{what} (last answer: {str(last.get('answer'))[:1500]})")
    return last["answer"]


def pages_text(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()


def jsonl(lines):
    return "".join(json.dumps({"text": line}) + "\n" for line in lines).encode()


def test_one_client_chains_registry_fine_tune_evaluation_serving_and_chat(
    user, other_user, celery_worker, live_server, tiny_model_dir, replicas_ended
):
    alice, alice_jwt = login("alice")

    # Section 1.1: the tiny model and the data, in the platform's layout.
    upload(alice, "/Model", {p.name: p.read_bytes() for p in sorted(Path(tiny_model_dir).iterdir()) if p.is_file()})
    lines = corpus_lines()
    upload(alice, "/Data/train", {"train.jsonl": jsonl(lines[:16])})
    upload(alice, "/Data/validate", {"validate.jsonl": jsonl(lines[16:20])})
    upload(alice, "/Data/test", {"test.jsonl": jsonl(lines[20:26])})

    # Section 3: register the model; the version id comes from the version list.
    created = ok(alice.post(CREATE_APPLICATION, {
        "application": {"name": "chain-base", "type": "LLM"},
        "aiApplicationVersionList": [{"version": "0.0.1", "source": 3, "savePath": "/Model"}],
    }, format="json"))
    application_id = created["application"]["id"]
    (listed,) = ok(alice.post(APPLICATIONS, {"queryInfo": {"name": "chain-base"}}, format="json"))["rows"]
    assert listed["id"] == application_id
    versions = poll(lambda: ok(alice.get(VERSIONS, {"aiApplicationId": application_id})),
                    lambda data: data and data[0]["status"] != 1, 120, "the import")
    (base,) = versions
    assert base["status"] == 2, base
    assert set(base["createTime"]) == TIMESTAMP_KEYS and json.loads(base["parameters"])["parameterCount"] > 0
    base_version_id = base["id"]

    # Section 4: fine-tune that version by its id.
    task = ok(alice.post(FINE_TUNE, {"createTaskBO": {
        "name": "chain-lora", "modelVersionId": base_version_id, "inputType": "local", "inputDir": "/Data",
        "fineTuneStrategy": "LoRA", "commonHyperParameters": FAST, "fineTuneHyperParameters": [hyper("lora_r", 8)],
    }}, format="json"))
    task_id = task["taskId"]
    assert task["modelVersionId"] == base_version_id
    finished = poll(lambda: ok(alice.post(f"{FINE_TUNE_DETAIL}?taskId={task_id}")),
                    lambda data: data["status"] in ("succeeded", "failed", "cancelled"), 600, "the fine-tune")
    assert finished["status"] == "succeeded", finished["log"][-3000:] + finished["error"]
    (produced,) = [row for row in ok(alice.post(PRODUCED, {"isPretrain": 0}, format="json"))["list"]
                   if row["taskId"] == task_id]
    tuned_version_id, tuned_application_id = produced["modelVersionId"], produced["applicationId"]
    assert tuned_version_id == finished["producedVersionId"] and tuned_version_id != base_version_id
    (tuned,) = [v for v in ok(alice.get(VERSIONS, {"aiApplicationId": tuned_application_id}))
                if v["id"] == tuned_version_id]
    assert tuned["status"] == 2 and tuned["source"] == 1 and tuned["applicationName"] == "chain-lora"
    assert tuned["llmFineTuneTaskId"] == task_id and tuned["metrics"] is None

    # bob holds the ids too, but alice's versions are private.
    bob, bob_jwt = login("bob")
    refused = bob.post(FINE_TUNE, {"name": "theft", "modelVersionId": tuned_version_id, "inputDir": "/Data"},
                       format="json")
    assert refused.status_code == 404 and refused.json()["returnCode"] == 404
    assert bob.get(VERSION, {"aiApplicationVersionId": tuned_version_id}).status_code == 404

    # Section 7: evaluate the produced version; its metrics then show on the version (section 3).
    evaluation_id = ok(alice.post(EVALUATE, {
        "name": "chain-eval", "modelType": "aiApp", "aiAppVersionId": tuned_version_id, "inputType": "local",
        "inputDir": "/Data", "metrics": ["perplexity", "loss"], "outputDir": "/Evaluations/chain",
        "resource": {"cpuNumber": 1, "memory": 4},
    }, format="json"))["id"]
    evaluation = poll(lambda: ok(alice.get(f"{EVALUATION}{evaluation_id}")),
                      lambda data: data["status"] in ("Succeeded", "Failed", "Stopped"), 300, "the evaluation")
    assert evaluation["status"] == "Succeeded", evaluation["log"][-3000:] + evaluation["error"]
    assert evaluation["aiAppVersionId"] == tuned_version_id
    metrics = json.loads(ok(alice.get(VERSION, {"aiApplicationVersionId": tuned_version_id}))["metrics"])
    assert metrics == evaluation["results"] and metrics["perplexity"] > 1

    # Section 8: deploy the produced version.
    service = ok(alice.post(DEPLOY, {
        "modelServer": {"name": "chain"},
        "modelServerVersions": [{"aiApplicationVersionId": tuned_version_id, "rate": 100, "cpu": 1, "memory": 1,
                                 "gpu": 0, "predictMinReplicas": 1, "predictMaxReplicas": 1, "metric": 1}],
    }, format="json"))
    assert service["modelServerVersions"][0]["aiApplicationVersionId"] == tuned_version_id
    service = poll(lambda: ok(alice.get(SERVICE, {"id": service["id"]})),
                   lambda data: data["modelServerVersions"][0]["status"] in ("running", "failed"), 300, "the replica")
    assert service["modelServerVersions"][0]["status"] == "running", service["modelServerVersions"][0]["error"]

    # The OpenAI-compatible API with the JWT from the login.
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=alice_jwt, max_retries=0, timeout=120)
    assert "chain" in {model.id for model in client.models.list().data}
    answer = client.chat.completions.create(model="chain", messages=[{"role": "user", "content": "The river"}],
                                            max_tokens=8, temperature=0)
    assert answer.model == "chain" and isinstance(answer.choices[0].message.content, str)
    assert answer.usage.completion_tokens >= 1
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=live_server.url + "/v1", api_key=bob_jwt, max_retries=0, timeout=60).chat.completions.create(
            model="chain", messages=[{"role": "user", "content": "hi"}], max_tokens=4)

    # The chat API (chat-api.md) with the served model.
    chat = APIClient(enforce_csrf_checks=True)
    assert chat.post("/myapp/login/", {"username": "alice", "password": PASSWORD}).json()["code"] == 0
    reply = chat.post("/myapp/add_chat/", {"username": "alice", "chat_id": "chain-1", "chat_title": "chain",
                                           "chat_content": "The river runs", "chat_tpye": 0, "model": "serving:chain"})
    assert reply.status_code == 200 and reply.json()["code"] == 0, reply.content
    history = chat.post("/myapp/get_history_chat/", {"chat_title": "chain"}).json()["历史信息列表"]
    assert history == [["user", "The river runs"], ["chatcar", reply.json()["reply"]]]

    # Lineage by name: the adapter names its base by the base application's hub repository, and no
    # page, tag, file or answer alice (or anyone) can read holds a path of this machine.
    tuned_app = AiApplication.objects.get(uid=tuned_application_id)
    base_repo = AiApplication.objects.get(uid=application_id).repository.full_name
    repo = tuned_app.repository
    adapter = json.loads(pages_text(alice, f"/{repo.full_name}/resolve/main/adapter_config.json"))
    assert adapter["base_model_name_or_path"] == base_repo
    pages = Client()
    pages.force_login(user)
    training_task = LlmTask.objects.get(name="chain-lora")
    seen = {"fine-tune detail": json.dumps(finished, ensure_ascii=False),
            "versions": json.dumps(ok(alice.get(VERSIONS, {"aiApplicationId": tuned_application_id})), ensure_ascii=False),
            "evaluation": json.dumps(evaluation, ensure_ascii=False), "service": json.dumps(service, ensure_ascii=False)}
    urls = ["/", "/hub/", f"/hub/model/{repo.full_name}/", f"/hub/model/{repo.full_name}/blob/README.md",
            f"/hub/model/{repo.full_name}/blob/adapter_config.json", "/registry/", f"/registry/{tuned_app.uid}/",
            "/training/", f"/training/tasks/{training_task.pk}/", "/evaluation/", "/serving/", "/files/",
            "/api/modelLabel", "/modelList", f"/api/models/{repo.full_name}", f"/{repo.full_name}/resolve/main/README.md"]
    for url in urls:
        seen[url] = pages_text(pages, url)
    assert base_repo in seen[f"/hub/model/{repo.full_name}/blob/adapter_config.json"]
    assert_no_server_path(seen)
