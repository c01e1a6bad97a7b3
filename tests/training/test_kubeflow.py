"""Task-based jobs as Kubeflow Training Operator manifests: rendering, checked against the
kubernetes client's and the Training SDK's models, and submission through the real client."""

import json
import socket
from urllib.parse import parse_qs

import pytest

from core.jobs import JobHandle
from tests.http import QuietHandler, StandIn, send_json
from training import backends, execution
from training.models import CodeTask

pytestmark = pytest.mark.django_db


def make_task(user, **fields):
    values = {"name": "My Job!", "command": "python train.py", "working_dir": "project", "cpu": 2, "memory_gb": 4,
              "gpu": 1, "nodes": 3, "variables": {"LR": "0.1"}, "image": "repo/img:1", "wall_time_seconds": 600}
    values.update(fields)
    return CodeTask.objects.create(owner=user, **values)


def containers(replica):
    return replica["template"]["spec"]["containers"]


@pytest.mark.parametrize("kind, api, key, roles, name", [
    ("PyTorch", "kubeflow.org/v1", "pytorchReplicaSpecs", ("Master", "Worker"), "pytorch"),
    ("TensorFlow", "kubeflow.org/v1", "tfReplicaSpecs", ("Chief", "Worker"), "tensorflow"),
])
def test_pytorch_and_tf_jobs(user, kind, api, key, roles, name):
    manifest = backends.render_manifest(make_task(user, type=kind))
    assert manifest["apiVersion"] == api and manifest["kind"] == {"PyTorch": "PyTorchJob", "TensorFlow": "TFJob"}[kind]
    assert manifest["metadata"]["name"].startswith("crucible-") and "!" not in manifest["metadata"]["name"]
    replicas = manifest["spec"][key]
    assert set(replicas) == set(roles)
    assert replicas[roles[0]]["replicas"] == 1 and replicas[roles[1]]["replicas"] == 2
    container = containers(replicas[roles[0]])[0]
    assert container["name"] == name and container["image"] == "repo/img:1"
    assert container["command"] == ["bash", "-c", "python train.py"]
    assert container["env"] == [{"name": "LR", "value": "0.1"}]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4096Mi", "nvidia.com/gpu": "1"}
    assert manifest["spec"]["runPolicy"]["activeDeadlineSeconds"] == 600


def test_single_node_pytorch_job_has_no_workers(user):
    manifest = backends.render_manifest(make_task(user, type="PyTorch", nodes=1, gpu=0))
    assert set(manifest["spec"]["pytorchReplicaSpecs"]) == {"Master"}
    assert "nvidia.com/gpu" not in containers(manifest["spec"]["pytorchReplicaSpecs"]["Master"])[0]["resources"]["limits"]


def test_mpi_job_has_launcher_and_workers(user):
    manifest = backends.render_manifest(make_task(user, type="MPI"))
    assert manifest["apiVersion"] == "kubeflow.org/v2beta1" and manifest["kind"] == "MPIJob"
    specs = manifest["spec"]["mpiReplicaSpecs"]
    assert specs["Worker"]["replicas"] == 3 and specs["Launcher"]["replicas"] == 1
    assert containers(specs["Launcher"])[0]["command"][-1] == "mpirun -n 3 python train.py"
    assert containers(specs["Worker"])[0]["command"] == ["/usr/sbin/sshd", "-De"]


def test_sklearn_renders_a_batch_job(user):
    manifest = backends.render_manifest(make_task(user, type="scikit-learn", image=""))
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    pod = manifest["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["containers"][0]["image"] == "python:3.11-slim"


def test_created_task_records_its_manifest_and_image(user, auth_client):
    response = auth_client.post("/kernel/trainOperator/createTask",
                                {"type": "TensorFlow", "command": "python t.py", "image": "tf:2"}, format="json")
    assert response.status_code == 200, response.content
    task = CodeTask.objects.get()
    assert task.image == "tf:2" and task.manifest["kind"] == "TFJob" and task.backend == "local"


def test_mpi_without_mpirun_is_a_clear_400(user, auth_client, monkeypatch):
    monkeypatch.setattr(backends, "mpirun_path", lambda: None)
    response = auth_client.post("/kernel/trainOperator/createTask", {"type": "MPI", "command": "python x.py"}, format="json")
    assert response.status_code == 400
    assert "mpirun is not installed" in response.json()["message"]


@pytest.mark.parametrize("body, expected", [
    ({"type": "Caffe", "command": "x"}, "type: must be one of"),
    ({"type": "PyTorch"}, "command"),
    ({"command": "x", "workingDir": "../etc"}, "'..'"),
    ({"command": "x", "variable": [{"PATH": "/evil"}]}, "PATH may not be set"),
    ({"command": "x", "variable": [{"1BAD": "v"}]}, "not an environment variable name"),
    ({"command": "x", "resource": [{"cpuNumber": "many"}]}, "cpuNumber"),
])
def test_bad_code_task_requests_are_400(user, auth_client, body, expected):
    response = auth_client.post("/kernel/trainOperator/createTask", body, format="json")
    assert response.status_code == 400, response.content
    assert expected in response.json()["message"]


def test_missing_working_dir_is_404(user, auth_client):
    response = auth_client.post("/kernel/trainOperator/createTask", {"command": "x", "workingDir": "nope"}, format="json")
    assert response.status_code == 404


# --- the manifests against the clients' models ------------------------------------------------------

OPERATOR_MODELS = {"PyTorch": "KubeflowOrgV1PyTorchJob", "TensorFlow": "KubeflowOrgV1TFJob", "MPI": "KubeflowOrgV1MPIJob"}


class JsonResponse:
    """What ApiClient.deserialize reads: an HTTP response's `.data`."""

    def __init__(self, document):
        self.data = json.dumps(document)


def round_trip(manifest, model):
    """The manifest read into the client's model `model` and written back out, as the API server would get it."""
    if model.startswith("KubeflowOrg"):
        from kubeflow.training import ApiClient
    else:
        from kubernetes.client import ApiClient
    api = ApiClient()
    obj = api.deserialize(JsonResponse(manifest), model)
    return obj, api.sanitize_for_serialization(obj)


@pytest.mark.parametrize("kind", ["PyTorch", "TensorFlow", "MPI"])
def test_operator_manifests_survive_the_training_sdk_models(user, kind):
    task = make_task(user, type=kind)
    manifest = backends.render_manifest(task)
    job, written = round_trip(manifest, OPERATOR_MODELS[kind])
    # Every field we render is one the models know: nothing is dropped or renamed on the way.
    assert written == manifest
    replica_specs = {"PyTorch": "pytorch_replica_specs", "TensorFlow": "tf_replica_specs", "MPI": "mpi_replica_specs"}[kind]
    replicas = getattr(job.spec, replica_specs)
    first = replicas["Launcher" if kind == "MPI" else next(iter(replicas))]
    assert first.replicas == 1 and first.restart_policy == (None if kind == "MPI" else "OnFailure")
    assert replicas["Worker"].replicas == (3 if kind == "MPI" else 2)
    pod = first.template.spec
    assert pod.restart_policy == "OnFailure"
    container = pod.containers[0]
    assert container.image == "repo/img:1"
    assert container.command[:2] == ["bash", "-c"] and container.command[2].endswith("python train.py")
    assert [(e.name, e.value) for e in container.env] == [("LR", "0.1")]
    assert container.resources.limits == {"cpu": "2", "memory": "4096Mi", "nvidia.com/gpu": "1"}
    assert container.resources.requests == container.resources.limits
    assert container.working_dir == "/workspace/project"
    assert job.spec.run_policy.active_deadline_seconds == 600
    assert job.metadata.name == manifest["metadata"]["name"] and job.metadata.labels["crucible/task"] == str(task.pk)


def test_sklearn_job_survives_the_kubernetes_batch_model(user):
    manifest = backends.render_manifest(make_task(user, type="scikit-learn", gpu=0))
    job, written = round_trip(manifest, "V1Job")
    assert written == manifest
    assert job.spec.backoff_limit == 0 and job.spec.active_deadline_seconds == 600
    container = job.spec.template.spec.containers[0]
    assert job.spec.template.spec.restart_policy == "Never"
    assert container.image == "repo/img:1" and container.command == ["bash", "-c", "python train.py"]
    assert container.resources.limits == {"cpu": "2", "memory": "4096Mi"}


def test_pod_templates_are_valid_kubernetes_pod_templates(user):
    manifest = backends.render_manifest(make_task(user, type="PyTorch", nodes=1, variables={}))
    template = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    obj, written = round_trip(template, "V1PodTemplateSpec")
    assert written == template and obj.spec.containers[0].env == []


# --- submitting to a cluster (an API server of our own, spoken to by the real client) ------------


class FakeApiServer(StandIn):
    """A Kubernetes API server stand-in: records each request and answers from `replies`
    ({(method, path): (status, body)}); anything else is a 404 Status."""

    def __init__(self):
        self.requests = []
        self.replies = {}
        server = self

        class Handler(QuietHandler):
            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path, _, query = self.path.partition("?")
                server.requests.append({"method": self.command, "path": path, "query": parse_qs(query), "body": body,
                                        "authorization": self.headers.get("Authorization")})
                status, reply = server.replies.get((self.command, self.path.split("?")[0]),
                                                   (404, {"kind": "Status", "message": "not found", "code": 404}))
                send_json(self, status, reply)

            do_GET = do_POST = do_DELETE = answer

        self.start(Handler)


def write_kubeconfig(path, server):
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        f"clusters:\n- name: test\n  cluster:\n    server: {server}\n"
        "users:\n- name: test\n  user:\n    token: secret-token\n"
        "contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n"
    )
    return path


@pytest.fixture
def cluster(settings, tmp_path):
    server = FakeApiServer()
    settings.TRAINING_KUBECONFIG = str(write_kubeconfig(tmp_path / "kubeconfig", server.url))
    yield server
    server.close()


def test_submit_state_and_delete_of_a_pytorch_job(user, cluster):
    manifest = backends.render_manifest(make_task(user, type="PyTorch"))
    name = manifest["metadata"]["name"]
    collection = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
    cluster.replies[("POST", collection)] = (201, manifest)
    backends.submit(manifest)
    created = cluster.requests[-1]
    assert created["method"] == "POST" and created["path"] == collection
    assert created["body"] == manifest and created["authorization"] == "Bearer secret-token"

    running = {**manifest, "status": {"conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}]}}
    cluster.replies[("GET", f"{collection}/{name}")] = (200, running)
    assert backends.remote_state(manifest) == "running"
    done = {**manifest, "status": {"conditions": [{"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}]}}
    cluster.replies[("GET", f"{collection}/{name}")] = (200, done)
    assert backends.remote_state(manifest) == "succeeded"

    cluster.replies[("DELETE", f"{collection}/{name}")] = (200, {"kind": "Status", "status": "Success"})
    backends.delete(manifest)
    deleted = cluster.requests[-1]
    assert deleted["method"] == "DELETE" and deleted["path"] == f"{collection}/{name}"
    assert deleted["query"]["propagationPolicy"] == ["Background"]
    del cluster.replies[("DELETE", f"{collection}/{name}")]
    backends.delete(manifest)  # already gone: fine


def test_mpi_job_goes_to_the_v2beta1_collection_and_sklearn_to_batch_jobs(user, cluster):
    mpi = backends.render_manifest(make_task(user, type="MPI"))
    cluster.replies[("POST", "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs")] = (201, mpi)
    backends.submit(mpi)
    assert cluster.requests[-1]["path"] == "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs"

    job = backends.render_manifest(make_task(user, type="scikit-learn"))
    name = job["metadata"]["name"]
    cluster.replies[("POST", "/apis/batch/v1/namespaces/default/jobs")] = (201, job)
    backends.submit(job)
    assert cluster.requests[-1]["body"]["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    failed = {**job, "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}}
    cluster.replies[("GET", f"/apis/batch/v1/namespaces/default/jobs/{name}/status")] = (200, failed)
    assert backends.remote_state(job) == "failed"


def test_refusals_and_an_unreachable_cluster_are_clear_errors(user, cluster, settings, tmp_path):
    manifest = backends.render_manifest(make_task(user, type="TensorFlow"))
    cluster.replies[("POST", "/apis/kubeflow.org/v1/namespaces/default/tfjobs")] = (
        409, {"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": "tfjobs.kubeflow.org \"x\" already exists"})
    with pytest.raises(backends.ClusterError, match="refused to create TFJob .*409 .*already exists"):
        backends.submit(manifest)

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    settings.TRAINING_KUBECONFIG = str(write_kubeconfig(tmp_path / "unreachable", f"http://127.0.0.1:{port}"))
    with pytest.raises(backends.ClusterError, match=f"cannot reach the cluster at http://127.0.0.1:{port}"):
        backends.submit(manifest)

    settings.TRAINING_KUBECONFIG = str(tmp_path / "missing")
    with pytest.raises(backends.ClusterError, match="no usable kubeconfig"):
        backends.submit(manifest)


def test_a_kubeflow_code_task_runs_to_success_on_the_cluster(user, auth_client, cluster, settings):
    settings.TRAINING_BACKEND = "kubeflow"
    response = auth_client.post("/kernel/trainOperator/createTask",
                                {"type": "PyTorch", "command": "python train.py", "image": "torch:2"}, format="json")
    assert response.status_code == 200, response.content
    task = CodeTask.objects.get()
    assert task.backend == "kubeflow"
    collection = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
    done = {**task.manifest, "status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}
    cluster.replies[("POST", collection)] = (201, task.manifest)
    cluster.replies[("GET", f"{collection}/{task.manifest['metadata']['name']}")] = (200, done)

    assert execution.execute_code_task(task, JobHandle(CodeTask, task.pk)) == 0

    task.refresh_from_db()
    assert task.exit_code == 0, task.log
    assert "submitted PyTorchJob" in task.log
    assert cluster.requests[0]["body"]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["image"] == "torch:2"
