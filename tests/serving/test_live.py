"""Real replicas behind a live server, called with the official openai client."""

import collections
import concurrent.futures
import os
import signal
import urllib.error
import urllib.request

import openai
import pytest

from accounts.services import create_api_key
from serving import processes
from serving.models import Replica, ServiceEvent, ServiceVersion

from tests.worker import wait_until

from .conftest import client_for, register, replica_pids, version_body, wait_version

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]


def deploy(user, name, versions):
    response = client_for(user).post(
        "/model/modelServer/createModelInferenceServer",
        {"modelServer": {"name": name}, "modelServerVersions": versions},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return response.json()["data"]


def openai_client(live_server, user, name="k"):
    key, secret = create_api_key(user, secret_id=f"{user.username}-{name}", secret_key="s" * 32)
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=f"{key.secret_id}:{secret}", max_retries=0,
                         timeout=60)


def test_openai_client_traffic_split_and_errors(celery_worker, live_server, no_orphans, user, other_user,
                                                tiny_gpt2_dir, minilm_dir):
    tiny = register(user, "tiny-app", tiny_gpt2_dir)
    minilm = register(user, "minilm-app", minilm_dir)
    chat = deploy(user, "tiny", [version_body(tiny, rate=80), version_body(tiny, rate=20)])
    embed = deploy(user, "minilm", [version_body(minilm)])
    for data in (chat, embed):
        for version in data["modelServerVersions"]:
            wait_version(ServiceVersion.objects.get(uid=version["id"]), ["running"])

    client = openai_client(live_server, user)
    assert {m.id for m in client.models.list().data} == {"tiny", "minilm"}

    completion = client.completions.create(model="tiny", prompt="The river", max_tokens=8, temperature=0)
    assert completion.object == "text_completion" and completion.model == "tiny"
    assert completion.usage.completion_tokens >= 1 and isinstance(completion.choices[0].text, str)
    assert completion.choices[0].finish_reason in ("stop", "length")

    chunks = list(client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Tell me about the river"}], max_tokens=24,
        temperature=0.9, seed=3, stream=True,
    ))
    assert len(chunks) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].usage.completion_tokens >= 1 and (text or chunks[-1].choices[0].finish_reason == "stop")

    # Non-streamed chat gives the same tokens as the stream for a greedy answer.
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "The cat"}]
    whole = client.chat.completions.create(model="tiny", messages=messages, max_tokens=12, temperature=0)
    streamed = client.chat.completions.create(model="tiny", messages=messages, max_tokens=12, temperature=0,
                                              stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == whole.choices[0].message.content

    vectors = client.embeddings.create(model="minilm", input=["a cat sat", "a kitten sat", "stock prices fell"])
    assert len(vectors.data) == 3 and len(vectors.data[0].embedding) == 384
    a, b, c = (v.embedding for v in vectors.data)
    dot = lambda x, y: sum(p * q for p, q in zip(x, y))  # noqa: E731
    assert dot(a, b) > dot(a, c)  # the model means something: cats are closer to kittens than to stocks
    assert abs(dot(a, a) - 1) < 1e-4

    # Nothing but the gateway can call a replica: without its token (or with another's) it answers 401.
    first, second = Replica.objects.filter(version__service__name="tiny", status="running")[:2]
    for replica, other in ((first, second), (second, first)):
        for headers in ({}, {"Authorization": "Bearer guessed"}, processes.auth_headers(other)):
            request = urllib.request.Request(f"http://{replica.address}:{replica.port}/generate", method="POST",
                                             data=b'{"prompt": "The", "max_tokens": 1}', headers=headers)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
        assert processes.health(replica)["status"] == "ok"  # ... and answers with it

    # 500 requests through the gateway, 80/20: count which version served each one.
    served = collections.Counter()

    def one(_):
        return client.completions.create(model="tiny", prompt="A", max_tokens=1, temperature=0).system_fingerprint

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        served.update(pool.map(one, range(500)))
    assert set(served) == {"tiny-v1", "tiny-v2"}
    share = served["tiny-v1"] / 500
    assert abs(share - 0.8) < 0.06, served
    # Counted in memory by the gateway and written by its thread within SERVING_COUNT_FLUSH_SECONDS (1 s).
    def counted():
        counts = dict(ServiceVersion.objects.filter(service__name="tiny").values_list("number", "request_count"))
        return counts[1] >= served["tiny-v1"] and counts[2] >= served["tiny-v2"]

    wait_until(counted, timeout=10, interval=0.2, message="the gateway to write its request counts")

    # OpenAI-style errors.
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="missing", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as too_long:
        client.completions.create(model="tiny", prompt="the river runs " * 200, max_tokens=4)
    assert too_long.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as stream_too_long:
        list(client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "word " * 400}],
                                            stream=True))
    assert stream_too_long.value.status_code == 400
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny", prompt="x", temperature=-1)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="tiny", input="x")  # not an embedding model
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live_server.url + "/v1", api_key="nobody:nothing-at-all", max_retries=0).models.list()

    # bob cannot call alice's services, and does not see them.
    bob = openai_client(live_server, other_user)
    assert bob.models.list().data == []
    with pytest.raises(openai.NotFoundError):
        bob.completions.create(model="tiny", prompt="hi", max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        bob.embeddings.create(model="minilm", input="hi")


def lora_adapter(base_dir, folder):
    """A LoRA adapter of the tiny GPT-2, saved as training saves it (adapter files and the tokenizer)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], task_type="CAUSAL_LM"))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(folder)
    return folder


def test_dead_replica_comes_back_and_stop_frees_everything(celery_worker, live_server, no_orphans, user,
                                                           tiny_gpt2_dir, tmp_path):
    adapter = register(user, "tiny-lora", lora_adapter(tiny_gpt2_dir, tmp_path / "adapter"))
    data = deploy(user, "tiny", [version_body(adapter)])
    version = wait_version(ServiceVersion.objects.get(uid=data["modelServerVersions"][0]["id"]), ["running"])
    assert version.base_dir == str(tiny_gpt2_dir)  # the adapter runs on its base model
    replica = version.replicas.get()
    assert replica.status == "running" and processes.port_in_use(replica.port)
    old_pid, old_port = replica.pid, replica.port

    os.kill(old_pid, signal.SIGKILL)

    def back():
        replica.refresh_from_db()
        return replica.status == "running" and replica.pid not in (None, old_pid)

    wait_until(back, timeout=120, interval=0.3, message="the replica restarted")
    assert replica.restarts == 1
    assert ServiceEvent.objects.filter(message__contains=f"process {old_pid} exited").exists()
    client = openai_client(live_server, user)
    answer = client.completions.create(model="tiny", prompt="The river", max_tokens=4)
    assert answer.usage.completion_tokens >= 1

    response = client_for(user).post(f"/api/v1/serving/services/{data['id']}/stop")
    assert response.status_code == 202
    wait_version(version, ["stopped"], timeout=60)
    replica.refresh_from_db()
    assert replica.status == "stopped"
    assert not processes.is_alive(replica.pid)
    assert not processes.port_in_use(replica.port) and not processes.port_in_use(old_port)
    assert replica_pids() == []
    with pytest.raises(openai.APIStatusError) as stopped:
        client.completions.create(model="tiny", prompt="x", max_tokens=2)
    assert stopped.value.status_code == 503

    # Start again, then delete: the rows and the processes go.
    assert client_for(user).post(f"/api/v1/serving/services/{data['id']}/start").status_code == 202
    wait_version(version, ["running"])
    assert len(replica_pids()) == 1

    # Shutting the host down (bin/up's exit) stops the processes but keeps the records, so the
    # supervisor of the next serving worker starts them again.
    from serving.services import stop_host_replica_processes

    live = version.replicas.get(status="running")
    assert stop_host_replica_processes() == 1
    assert replica_pids() == []

    def restarted():
        live.refresh_from_db()
        return live.status == "running" and live.pid is not None and live.restarts == 1

    wait_until(restarted, timeout=120, interval=0.3, message="the supervisor to restart the stopped replica")
    assert client_for(user).delete(f"/api/v1/serving/services/{data['id']}").status_code == 202
    wait_until(lambda: not ServiceVersion.objects.filter(pk=version.pk).exists(), timeout=60, message="deleted")
    wait_until(lambda: replica_pids() == [], timeout=30, message="processes gone")
    assert not Replica.objects.exists()
