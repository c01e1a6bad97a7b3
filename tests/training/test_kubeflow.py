"""Rendering task-based jobs to Kubeflow Training Operator manifests; MPI without mpirun."""

import pytest

from training import backends
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
