"""SERVING_BACKEND=kserve: InferenceService manifests checked against KServe's own schema (the
KServe SDK's models, vendored as serving/kserve_schema/inferenceservice.schema.json), and
submitted with the real kubernetes client to an API server stand-in."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings

from serving import kserve
from serving.models import ModelService, ServiceKind, ServiceVersion, VersionStatus
from tests.training.test_kubeflow import FakeApiServer, write_kubeconfig

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
