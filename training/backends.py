"""Where task-based jobs run: this worker ("local") or a Kubernetes cluster ("kubeflow").

TRAINING_BACKEND (a Django setting or the environment, default "local"). With "kubeflow"
a CodeTask is rendered to a Kubeflow Training Operator custom resource (PyTorchJob, TFJob,
MPIJob; scikit-learn, which the operator has no kind for, becomes a batch/v1 Job) and
submitted with the official `kubernetes` client (install it and give the worker a
kubeconfig or an in-cluster service account). The worker then follows the resource's
status conditions until it succeeds or fails, and deletes it when the task is cancelled.
"""

import os
import re
import shutil

from django.conf import settings

from core.errors import InvalidInput

KUBEFLOW_GROUP = "kubeflow.org"
KINDS = {
    "PyTorch": ("PyTorchJob", "v1", "pytorchjobs", "pytorchReplicaSpecs", "pytorch", ("Master", "Worker")),
    "TensorFlow": ("TFJob", "v1", "tfjobs", "tfReplicaSpecs", "tensorflow", ("Chief", "Worker")),
    "MPI": ("MPIJob", "v2beta1", "mpijobs", "mpiReplicaSpecs", "mpi", ("Launcher", "Worker")),
}
DEFAULT_IMAGES = {
    "PyTorch": "pytorch/pytorch:latest",
    "TensorFlow": "tensorflow/tensorflow:latest",
    "scikit-learn": "python:3.11-slim",
    "MPI": "mpioperator/mpi-pi:openmpi",
}


def current_backend():
    backend = (getattr(settings, "TRAINING_BACKEND", None) or os.environ.get("TRAINING_BACKEND") or "local").lower()
    if backend not in ("local", "kubeflow"):
        raise InvalidInput(f"TRAINING_BACKEND {backend!r} is not local or kubeflow")
    return backend


def namespace():
    return getattr(settings, "TRAINING_NAMESPACE", None) or os.environ.get("TRAINING_NAMESPACE") or "default"


def mpirun_path():
    return shutil.which("mpirun")


def resource_name(task):
    slug = re.sub(r"[^a-z0-9-]+", "-", task.name.lower()).strip("-")[:40] or "task"
    return f"crucible-{task.pk}-{slug}".strip("-")


def container(task, name, command):
    limits = {"cpu": str(task.cpu or 1), "memory": f"{int(round((task.memory_gb or 1) * 1024))}Mi"}
    if task.gpu:
        limits["nvidia.com/gpu"] = str(task.gpu)
    spec = {
        "name": name,
        "image": task.image or DEFAULT_IMAGES[task.type],
        "command": ["bash", "-c", command],
        "env": [{"name": k, "value": v} for k, v in sorted(task.variables.items())],
        "resources": {"limits": limits, "requests": dict(limits)},
    }
    if task.working_dir:
        spec["workingDir"] = f"/workspace/{task.working_dir}"
    return spec


def pod_template(task, name, command, restart="OnFailure"):
    return {
        "metadata": {"labels": {"app.kubernetes.io/managed-by": "crucible", "crucible/task": str(task.pk)}},
        "spec": {"restartPolicy": restart, "containers": [container(task, name, command)]},
    }


def render_manifest(task):
    """The custom resource (a dict) that runs `task` on a cluster."""
    metadata = {
        "name": resource_name(task),
        "namespace": namespace(),
        "labels": {"app.kubernetes.io/managed-by": "crucible", "crucible/task": str(task.pk), "crucible/owner": str(task.owner_id)},
    }
    if task.type == "scikit-learn":
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata,
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": task.wall_time_seconds,
                "template": pod_template(task, "sklearn", task.command, restart="Never"),
            },
        }
    kind, version, _plural, replica_key, container_name, roles = KINDS[task.type]
    workers = max(task.nodes - 1, 0)
    if task.type == "MPI":
        replicas = {
            "Launcher": {
                "replicas": 1,
                "template": pod_template(task, container_name, f"mpirun -n {max(task.nodes, 1)} {task.command}"),
            },
            "Worker": {"replicas": max(task.nodes, 1), "template": pod_template(task, container_name, "sleep infinity")},
        }
        spec = {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running", "activeDeadlineSeconds": task.wall_time_seconds}, replica_key: replicas}
    else:
        replicas = {roles[0]: {"replicas": 1, "restartPolicy": "OnFailure", "template": pod_template(task, container_name, task.command)}}
        if workers:
            replicas[roles[1]] = {"replicas": workers, "restartPolicy": "OnFailure", "template": pod_template(task, container_name, task.command)}
        spec = {"runPolicy": {"cleanPodPolicy": "None", "activeDeadlineSeconds": task.wall_time_seconds}, replica_key: replicas}
    return {"apiVersion": f"{KUBEFLOW_GROUP}/{version}", "kind": kind, "metadata": metadata, "spec": spec}


# --- submitting (TRAINING_BACKEND=kubeflow) -------------------------------------------------------


def kubernetes_api():
    try:
        from kubernetes import client, config
    except ImportError:
        raise RuntimeError("TRAINING_BACKEND=kubeflow needs the kubernetes package (pip install kubernetes)") from None
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client


def submit(manifest):
    client = kubernetes_api()
    meta = manifest["metadata"]
    if manifest["apiVersion"] == "batch/v1":
        client.BatchV1Api().create_namespaced_job(meta["namespace"], manifest)
    else:
        group, version = manifest["apiVersion"].split("/")
        plural = next(p for kind, _v, p, *_ in KINDS.values() if kind == manifest["kind"])
        client.CustomObjectsApi().create_namespaced_custom_object(group, version, meta["namespace"], plural, manifest)


def remote_state(manifest):
    """"running", "succeeded" or "failed" from the resource's status conditions."""
    client = kubernetes_api()
    meta = manifest["metadata"]
    if manifest["apiVersion"] == "batch/v1":
        status = client.BatchV1Api().read_namespaced_job_status(meta["name"], meta["namespace"]).status
        return "succeeded" if status.succeeded else "failed" if status.failed else "running"
    group, version = manifest["apiVersion"].split("/")
    plural = next(p for kind, _v, p, *_ in KINDS.values() if kind == manifest["kind"])
    obj = client.CustomObjectsApi().get_namespaced_custom_object(group, version, meta["namespace"], plural, meta["name"])
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Succeeded", "Failed"):
            return condition["type"].lower()
    return "running"


def delete(manifest):
    client = kubernetes_api()
    meta = manifest["metadata"]
    if manifest["apiVersion"] == "batch/v1":
        client.BatchV1Api().delete_namespaced_job(meta["name"], meta["namespace"], propagation_policy="Background")
        return
    group, version = manifest["apiVersion"].split("/")
    plural = next(p for kind, _v, p, *_ in KINDS.values() if kind == manifest["kind"])
    client.CustomObjectsApi().delete_namespaced_custom_object(group, version, meta["namespace"], plural, meta["name"])
