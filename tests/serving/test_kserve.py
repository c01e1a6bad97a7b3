"""SERVING_BACKEND=kserve: InferenceService manifests checked against KServe's own schema (the
KServe SDK's models, vendored as serving/kserve_schema/inferenceservice.schema.json), and
submitted with the real kubernetes client to an API server stand-in."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings

from core.jobs import JobHandle
from serving import gateway, kserve, services
from serving.models import ModelService, ServiceKind, ServiceVersion, ServingJob, VersionStatus
from tests.http import QuietHandler, StandIn, send_json
from tests.training.test_kubeflow import FakeApiServer, write_kubeconfig

from .conftest import client_for, register, version_body

pytestmark = pytest.mark.django_db
SCHEMA = json.loads(kserve.SCHEMA_PATH.read_text())
COLLECTION = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"


def validate(manifest):
    jsonschema.Draft7Validator(SCHEMA).validate(manifest)


def make_version(service, number, rate=100, status=VersionStatus.RUNNING, **fields):
    model_dir = Path(settings.DATA_DIR) / "serving" / "models" / f"{service.name}-{number}"
    return ServiceVersion.objects.create(service=service, number=number, rate=rate, status=status,
                                         model_dir=str(model_dir), **fields)


@pytest.fixture
def service(user):
    return ModelService.objects.create(owner=user, name="Tiny Chat", kind=ServiceKind.GENERATE)


def test_a_single_version_renders_a_valid_inference_service(service):
    version = make_version(service, 1, cpu=2, memory=8, gpu=1, predict_min_replicas=1, predict_max_replicas=3,
                           envs='[{"name": "HF_HUB_OFFLINE", "value": "1"}]')

    manifest = kserve.render_inference_service(version)

    validate(manifest)
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1" and manifest["kind"] == "InferenceService"
    assert manifest["metadata"]["name"] == f"crucible-{service.pk}-tiny-chat"
    predictor = manifest["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert "canaryTrafficPercent" not in predictor  # the only version takes all traffic
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "huggingface"} and model["runtime"] == "kserve-huggingfaceserver"
    assert model["storageUri"] == "pvc://crucible-data/serving/models/Tiny Chat-1"
    assert model["args"] == ["--model_name=Tiny Chat", "--backend=vllm"]
    assert model["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert model["env"] == [{"name": "HF_HUB_OFFLINE", "value": "1"}]


def test_the_weights_of_two_versions_become_canary_traffic_percent(service):
    make_version(service, 1, rate=80)
    newest = make_version(service, 2, rate=20, status=VersionStatus.DEPLOYING)

    manifest = kserve.render_inference_service(newest)

    validate(manifest)
    assert manifest["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert manifest["metadata"]["labels"]["crucible/version"] == "2"


def test_more_than_two_active_versions_cannot_be_split_by_kserve(service):
    make_version(service, 1, rate=50)
    make_version(service, 2, rate=30)
    third = make_version(service, 3, rate=20)
    with pytest.raises(kserve.InvalidInput, match="KServe splits traffic between two versions"):
        kserve.render_inference_service(third)


def test_an_embedding_service_asks_the_runtime_for_embeddings(user, settings):
    settings.KSERVE_BACKEND = "huggingface"
    embed = ModelService.objects.create(owner=user, name="minilm", kind=ServiceKind.EMBEDDING)
    manifest = kserve.render_inference_service(make_version(embed, 1))
    validate(manifest)
    assert manifest["spec"]["predictor"]["model"]["args"] == [
        "--model_name=minilm", "--backend=huggingface", "--task=text_embedding",
    ]


@pytest.mark.parametrize(
    "break_it",
    [
        lambda m: m["spec"]["predictor"].update(canaryTraficPercent=20),  # misspelt
        lambda m: m["spec"]["predictor"].update(minReplicas="one"),  # wrong type
        lambda m: m["spec"]["predictor"]["model"].update(storageURI="pvc://x"),  # wrong case
        lambda m: m["spec"].update(replicas=2),  # not a field of the spec
    ],
)
def test_the_schema_refuses_fields_kserve_does_not_have(service, break_it):
    manifest = kserve.render_inference_service(make_version(service, 1))
    broken = copy.deepcopy(manifest)
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_a_model_folder_outside_the_data_folder_is_refused(service):
    version = make_version(service, 1)
    version.model_dir = "/opt/elsewhere/model"
    with pytest.raises(kserve.InvalidInput, match="outside the data folder"):
        kserve.render_inference_service(version)


# --- the cluster ----------------------------------------------------------------------


@pytest.fixture
def cluster(settings, tmp_path):
    server = FakeApiServer()
    handler = server.httpd.RequestHandlerClass
    handler.do_PUT = handler.answer  # replace (a rollout) as well as get, create and delete
    settings.SERVING_KUBECONFIG = str(write_kubeconfig(tmp_path / "kubeconfig", server.url))
    yield server
    server.close()


def test_apply_creates_then_replaces_and_the_status_comes_back(service, cluster):
    version = make_version(service, 1, status=VersionStatus.DEPLOYING)
    manifest = kserve.render_inference_service(version)
    name = manifest["metadata"]["name"]
    cluster.replies[("POST", COLLECTION)] = (201, manifest)

    kserve.apply(manifest)

    created = cluster.requests[-1]
    assert (created["method"], created["path"]) == ("POST", COLLECTION)
    assert created["body"] == manifest and created["authorization"] == "Bearer secret-token"

    stored = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": "41"}}
    cluster.replies[("GET", f"{COLLECTION}/{name}")] = (200, stored)
    cluster.replies[("PUT", f"{COLLECTION}/{name}")] = (200, stored)
    newer = make_version(service, 2, rate=25, status=VersionStatus.DEPLOYING)
    rollout = kserve.render_inference_service(newer)
    kserve.apply(rollout)
    replaced = cluster.requests[-1]
    assert replaced["method"] == "PUT" and replaced["path"] == f"{COLLECTION}/{name}"
    assert replaced["body"]["metadata"]["resourceVersion"] == "41"
    assert replaced["body"]["spec"]["predictor"]["canaryTrafficPercent"] == 20

    cluster.replies[("GET", f"{COLLECTION}/{name}")] = (200, {**stored, "status": {
        "url": f"http://{name}.default.example.com",
        "conditions": [{"type": "PredictorReady", "status": "True"}, {"type": "Ready", "status": "True"}],
    }})
    assert kserve.sync_version_status(newer) == f"http://{name}.default.example.com"
    newer.refresh_from_db()
    assert newer.status == VersionStatus.RUNNING

    cluster.replies[("GET", f"{COLLECTION}/{name}")] = (200, {**stored, "status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "RevisionFailed", "message": "image pull failed"},
    ]}})
    kserve.sync_version_status(newer)
    newer.refresh_from_db()
    assert newer.status == VersionStatus.FAILED and "image pull failed" in newer.error


def test_delete_and_refusals_are_clear(service, cluster, settings, tmp_path):
    manifest = kserve.render_inference_service(make_version(service, 1))
    name = manifest["metadata"]["name"]
    cluster.replies[("DELETE", f"{COLLECTION}/{name}")] = (200, {"kind": "Status", "status": "Success"})
    kserve.delete(manifest)
    assert cluster.requests[-1]["query"]["propagationPolicy"] == ["Background"]
    del cluster.replies[("DELETE", f"{COLLECTION}/{name}")]
    kserve.delete(manifest)  # already gone: fine

    cluster.replies[("POST", COLLECTION)] = (403, {"kind": "Status", "message": "inferenceservices is forbidden", "code": 403})
    with pytest.raises(kserve.ClusterError, match="refused to create InferenceService .*403.*forbidden"):
        kserve.apply(manifest)

    settings.SERVING_KUBECONFIG = str(write_kubeconfig(tmp_path / "closed", "http://127.0.0.1:1"))
    with pytest.raises(kserve.ClusterError, match="cannot reach the cluster"):
        kserve.apply(manifest)


# --- end to end: deploy, /v1 through the InferenceService's endpoint, stop ------------------------


class KServeCluster(StandIn):
    """A Kubernetes API server stand-in that keeps InferenceServices (create, read, replace, delete)
    and reports each Ready at `endpoint` once it has been read `ready_after` times, with KServe's
    status fields (url, conditions, components.predictor revisions)."""

    def __init__(self, endpoint, ready_after=2):
        self.objects, self.requests, self.reads = {}, [], {}
        cluster = self

        class Handler(QuietHandler):
            def do_GET(self):
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                if name not in cluster.objects:
                    return self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})
                cluster.reads[name] = cluster.reads.get(name, 0) + 1
                stored = cluster.objects[name]
                generation = stored["metadata"]["generation"]
                ready = cluster.reads[name] > ready_after
                stored["status"] = {
                    "url": f"{endpoint}/{name}",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
                    "components": {"predictor": {"latestCreatedRevision": f"{name}-{generation}",
                                                 "latestReadyRevision": f"{name}-{generation if ready else generation - 1}"}},
                }
                self.reply(200, stored)

            def do_POST(self):
                manifest = self.body()
                name = manifest["metadata"]["name"]
                manifest["metadata"].update(resourceVersion="1", generation=1)
                cluster.objects[name] = manifest
                self.reply(201, manifest)

            def do_PUT(self):
                manifest = self.body()
                name = manifest["metadata"]["name"]
                generation = cluster.objects[name]["metadata"]["generation"] + 1
                manifest["metadata"].update(resourceVersion=str(generation), generation=generation)
                cluster.objects[name], cluster.reads[name] = manifest, 0
                self.reply(200, manifest)

            def do_DELETE(self):
                cluster.requests.append(("DELETE", self.path))
                cluster.objects.pop(self.path.split("?")[0].rsplit("/", 1)[-1], None)
                self.reply(200, {"kind": "Status", "status": "Success"})

            def body(self):
                document = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                cluster.requests.append((self.command, copy.deepcopy(document)))
                return document

            def reply(self, status, document):
                send_json(self, status, document)

        self.start(Handler)


class HuggingFaceRuntime(StandIn):
    """KServe's Hugging Face runtime's OpenAI routes (/openai/v1/chat/completions), for the model in
    `folder` (loaded with transformers, greedy), at <url>/<InferenceService name>. Keeps the
    requests and Host headers it received."""

    def __init__(self, folder):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder)
        self.requests = []
        runtime = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                runtime.requests.append({"path": self.path, "host": self.headers["Host"], "body": body})
                if not self.path.endswith("/openai/v1/chat/completions"):
                    return self.send(404, {"error": {"message": "no such route"}})
                if body["model"] != runtime.model_name:
                    return self.send(404, {"error": {"message": f"model {body['model']} not found"}})
                prompt = "\n".join(m["content"] for m in body["messages"])
                ids = tokenizer(prompt, return_tensors="pt").input_ids
                out = model.generate(ids, max_new_tokens=body["max_tokens"], do_sample=False,
                                     pad_token_id=tokenizer.eos_token_id)[0][ids.shape[1]:]
                pieces = [tokenizer.decode(out[i:i + 1]) for i in range(len(out))]
                base = {"id": "chatcmpl-kserve", "created": 1, "model": body["model"]}
                if not body.get("stream"):
                    return self.send(200, {**base, "object": "chat.completion", "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "".join(pieces)},
                         "finish_reason": "length"}],
                        "usage": {"prompt_tokens": ids.shape[1], "completion_tokens": len(out),
                                  "total_tokens": ids.shape[1] + len(out)}})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in pieces:
                    chunk = {**base, "object": "chat.completion.chunk",
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

            def send(self, status, document):
                send_json(self, status, document)

        self.model_name = ""
        self.expected = (tokenizer, model)
        self.start(Handler)


@pytest.fixture
def on_kserve(settings, tmp_path, tiny_gpt2_dir):
    runtime = HuggingFaceRuntime(tiny_gpt2_dir)
    cluster = KServeCluster(endpoint="http://tiny.models.example.com")
    settings.SERVING_BACKEND = "kserve"
    settings.SERVING_KUBECONFIG = str(write_kubeconfig(tmp_path / "kubeconfig", cluster.url))
    settings.KSERVE_INGRESS = runtime.url  # the cluster's ingress: reached by address, routed by Host
    yield cluster, runtime
    cluster.close()
    runtime.close()


def run_jobs():
    for job in ServingJob.objects.filter(status="queued").order_by("id"):
        services.run_serving_job(job, JobHandle(ServingJob, job.pk))
        ServingJob.objects.filter(pk=job.pk).update(status="succeeded")


def test_a_service_deploys_as_an_inference_service_and_v1_reaches_it(user, other_user, on_kserve, tiny_gpt2_dir,
                                                                    settings):
    cluster, runtime = on_kserve
    settings.SERVING_COUNT_FLUSH_SECONDS = 0  # counted at once, in the test's transaction
    app_version = register(user, "tiny-app", tiny_gpt2_dir)
    client = client_for(user)
    created = client.post("/model/modelServer/createModelInferenceServer", {
        "modelServer": {"name": "tiny", "description": "", "path": ""},
        "modelServerVersions": [version_body(app_version, predictMaxReplicas=3)],
    }, format="json")
    assert created.status_code == 200, created.content

    run_jobs()  # the serving worker's deploy job: model folder, InferenceService, wait for Ready

    version = ServiceVersion.objects.get()
    assert version.status == VersionStatus.RUNNING, version.error
    name = kserve.resource_name(version.service)
    assert version.endpoint_url == f"http://tiny.models.example.com/{name}"
    (method, manifest), = [r for r in cluster.requests if r[0] == "POST"]
    validate(manifest)
    assert manifest["spec"]["predictor"]["maxReplicas"] == 3
    assert manifest["spec"]["predictor"]["model"]["storageUri"].startswith("pvc://crucible-data/serving/models/")
    assert (Path(version.model_dir) / "config.json").exists()  # the folder the cluster mounts

    runtime.model_name = "tiny"
    ask = {"model": "tiny", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5,
           "temperature": 0}
    answer = client.post("/v1/chat/completions", ask, format="json")
    assert answer.status_code == 200, answer.content
    sent = runtime.requests[-1]
    assert sent["path"] == f"/{name}/openai/v1/chat/completions" and sent["host"] == "tiny.models.example.com"
    assert sent["body"]["model"] == "tiny" and sent["body"]["max_tokens"] == 5
    tokenizer, model = runtime.expected
    ids = tokenizer("hello there", return_tensors="pt").input_ids
    expected = tokenizer.decode(model.generate(ids, max_new_tokens=5, do_sample=False,
                                               pad_token_id=tokenizer.eos_token_id)[0][ids.shape[1]:])
    assert answer.json()["choices"][0]["message"]["content"] == expected
    assert answer.json()["model"] == "tiny"

    streamed = client.post("/v1/chat/completions", {**ask, "stream": True}, format="json")
    assert streamed.status_code == 200
    events = b"".join(streamed.streaming_content).decode().split("\n\n")
    chunks = [json.loads(e[6:]) for e in events if e.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == expected
    assert events[-2] == "data: [DONE]"
    version.refresh_from_db()
    assert version.request_count == 2

    # Another researcher cannot call it; a stop deletes the InferenceService.
    assert client_for(other_user).post("/v1/chat/completions", ask, format="json").status_code == 404
    services.stop_service(actor=user, service=version.service)
    run_jobs()
    assert name not in cluster.objects
    version.refresh_from_db()
    assert version.status == VersionStatus.STOPPED and version.endpoint_url == ""
    stopped = client.post("/v1/chat/completions", ask, format="json")
    assert stopped.status_code == 503 and "not running on the cluster" in stopped.json()["error"]["message"]


def test_a_canary_version_rolls_out_on_the_same_inference_service(user, on_kserve, tiny_gpt2_dir):
    cluster, runtime = on_kserve
    app_version = register(user, "tiny-app", tiny_gpt2_dir)
    client = client_for(user)
    url = "/model/modelServer/createModelInferenceServer"
    client.post(url, {"modelServer": {"name": "tiny", "description": "", "path": ""},
                      "modelServerVersions": [version_body(app_version, rate=90)]}, format="json")
    run_jobs()
    client.post(url, {"modelServer": {"name": "tiny", "description": "", "path": ""},
                      "modelServerVersions": [version_body(app_version, rate=10)]}, format="json")
    run_jobs()

    first, second = ServiceVersion.objects.order_by("number")
    assert (first.status, second.status) == (VersionStatus.RUNNING, VersionStatus.RUNNING), second.error
    (_, rollout), = [r for r in cluster.requests if r[0] == "PUT"]
    assert rollout["spec"]["predictor"]["canaryTrafficPercent"] == 10
    validate(rollout)

    services.update_rate(actor=user, version=second, rate=90)  # now 90 against the first's 90
    (_, reweighted) = [r for r in cluster.requests if r[0] == "PUT"][-1]
    assert reweighted["spec"]["predictor"]["canaryTrafficPercent"] == 50


def test_a_cluster_that_fails_the_revision_fails_the_version(user, on_kserve, tiny_gpt2_dir, settings):
    cluster, runtime = on_kserve
    app_version = register(user, "tiny-app", tiny_gpt2_dir)
    settings.SERVING_KUBECONFIG = str(write_kubeconfig(Path(settings.DATA_DIR) / "closed", "http://127.0.0.1:1"))
    client_for(user).post("/model/modelServer/createModelInferenceServer", {
        "modelServer": {"name": "tiny", "description": "", "path": ""},
        "modelServerVersions": [version_body(app_version)],
    }, format="json")
    with pytest.raises(kserve.ClusterError, match="cannot reach the cluster"):
        run_jobs()
    version = ServiceVersion.objects.get()
    assert version.status == VersionStatus.FAILED and "cannot reach the cluster" in version.error
    answer = client_for(user).post("/v1/chat/completions", {"model": "tiny", "messages": [
        {"role": "user", "content": "hi"}]}, format="json")
    assert answer.status_code == 503


def test_the_supervisor_reads_running_versions_back_from_the_cluster(user, on_kserve, tiny_gpt2_dir):
    from serving.supervisor import Supervisor

    cluster, runtime = on_kserve
    app_version = register(user, "tiny-app", tiny_gpt2_dir)
    client_for(user).post("/model/modelServer/createModelInferenceServer", {
        "modelServer": {"name": "tiny", "description": "", "path": ""},
        "modelServerVersions": [version_body(app_version)],
    }, format="json")
    run_jobs()
    version = ServiceVersion.objects.get(status=VersionStatus.RUNNING)

    cluster.objects.clear()  # someone deleted it on the cluster
    Supervisor().sweep()
    version.refresh_from_db()
    assert version.status == VersionStatus.FAILED
    assert not version.replicas.exists()  # no local replica is started on the cluster backend
