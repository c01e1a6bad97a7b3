"""Where task-based jobs run: this worker ("local") or a Kubernetes cluster ("kubeflow").

TRAINING_BACKEND (a Django setting or the environment, default "local"). With "kubeflow"
a CodeTask is rendered to a Kubeflow Training Operator custom resource (PyTorchJob, TFJob,
MPIJob; scikit-learn, which the operator has no kind for, becomes a batch/v1 Job) and
submitted with the official `kubernetes` client (a kubeconfig named by TRAINING_KUBECONFIG
or KUBECONFIG, else the in-cluster service account, else ~/.kube/config). The worker then follows the resource's
status conditions until it succeeds or fails, and deletes it when the task is cancelled.
"""

import json
import re
import shutil

from django.conf import settings

from core import kube
from core.errors import InvalidInput

KUBEFLOW_GROUP = "kubeflow.org"
KINDS = {
    "PyTorch": ("PyTorchJob", "v1", "pytorchjobs", "pytorchReplicaSpecs", "pytorch", ("Master", "Worker")),
    "TensorFlow": ("TFJob", "v1", "tfjobs", "tfReplicaSpecs", "tensorflow", ("Chief", "Worker")),
    "MPI": ("MPIJob", "v2beta1", "mpijobs", "mpiReplicaSpecs", "mpi", ("Launcher", "Worker")),
}
MPI_WORKER_COMMAND = ["/usr/sbin/sshd", "-De"]
DEFAULT_IMAGES = {
    "PyTorch": "pytorch/pytorch:latest",
    "TensorFlow": "tensorflow/tensorflow:latest",
    "scikit-learn": "python:3.11-slim",
    "MPI": "mpioperator/mpi-pi:openmpi",
}


def current_backend():
    backend = (settings.TRAINING_BACKEND or "local").lower()
    if backend not in ("local", "kubeflow"):
        raise InvalidInput(f"TRAINING_BACKEND {backend!r} is not local or kubeflow")
    return backend


def namespace():
    return settings.TRAINING_NAMESPACE or "default"


def mpirun_path():
    return shutil.which("mpirun")


def resource_name(task):
    slug = re.sub(r"[^a-z0-9-]+", "-", task.name.lower()).strip("-")[:40] or "task"
    return f"crucible-{task.pk}-{slug}".strip("-")


def container(task, name, command):
    """`command`: a shell line (run with bash -c) or an exec list."""
    limits = {"cpu": str(task.cpu or 1), "memory": f"{int(round((task.memory_gb or 1) * 1024))}Mi"}
    if task.gpu:
        limits["nvidia.com/gpu"] = str(task.gpu)
    spec = {
        "name": name,
        "image": task.image or DEFAULT_IMAGES[task.type],
        "command": command if isinstance(command, list) else ["bash", "-c", command],
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
            # mpi-operator v2 workers only serve SSH; the launcher's mpirun starts the ranks through it.
            "Worker": {"replicas": max(task.nodes, 1), "template": pod_template(task, container_name, MPI_WORKER_COMMAND)},
        }
        spec = {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running", "activeDeadlineSeconds": task.wall_time_seconds}, replica_key: replicas}
    else:
        replicas = {roles[0]: {"replicas": 1, "restartPolicy": "OnFailure", "template": pod_template(task, container_name, task.command)}}
        if workers:
            replicas[roles[1]] = {"replicas": workers, "restartPolicy": "OnFailure", "template": pod_template(task, container_name, task.command)}
        spec = {"runPolicy": {"cleanPodPolicy": "None", "activeDeadlineSeconds": task.wall_time_seconds}, replica_key: replicas}
    return {"apiVersion": f"{KUBEFLOW_GROUP}/{version}", "kind": kind, "metadata": metadata, "spec": spec}


# --- submitting (TRAINING_BACKEND=kubeflow) -------------------------------------------------------


class ClusterError(RuntimeError):
    """The cluster could not be reached or refused a request; the message says which and why."""


def kubeconfig_path():
    return settings.TRAINING_KUBECONFIG or None


def kubernetes_client():
    """A fresh `kubernetes.client.ApiClient`: the kubeconfig named by TRAINING_KUBECONFIG or
    KUBECONFIG when set, else the in-cluster service account, else ~/.kube/config.
    The client's global default configuration is left alone."""
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        raise ClusterError("TRAINING_BACKEND=kubeflow needs the kubernetes package (pip install kubernetes)") from None
    return kube.api_client(kubeconfig_path(), error=ClusterError)


def resource_address(manifest):
    """(group, version, namespace, plural, name) of a Training Operator resource."""
    group, version = manifest["apiVersion"].split("/")
    plural = next(p for kind, _v, p, *_ in KINDS.values() if kind == manifest["kind"])
    meta = manifest["metadata"]
    return group, version, meta["namespace"], plural, meta["name"]


def call_cluster(action, manifest, request, missing_ok=False):
    """Run `request(kubernetes.client module, api_client)`; failures become a ClusterError
    (a 404 is None with `missing_ok`)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    label = f"{manifest['kind']} {manifest['metadata']['name']}"
    with kubernetes_client() as api:
        try:
            return request(client, api)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise ClusterError(f"the cluster refused to {action} {label}: {exc.status} {exc.reason} {cluster_message(exc)}".strip()) from None
        except HTTPError as exc:
            raise ClusterError(f"cannot reach the cluster at {api.configuration.host} to {action} {label}: {exc}") from None


def cluster_message(exc):
    try:
        return json.loads(exc.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return ""


def submit(manifest):
    def request(client, api):
        if manifest["apiVersion"] == "batch/v1":
            return client.BatchV1Api(api).create_namespaced_job(manifest["metadata"]["namespace"], manifest)
        group, version, ns, plural, _name = resource_address(manifest)
        return client.CustomObjectsApi(api).create_namespaced_custom_object(group, version, ns, plural, manifest)

    call_cluster("create", manifest, request)


def job_state(status):
    """"running", "succeeded" or "failed" from a resource's status (a dict)."""
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        # Training Operator: Succeeded / Failed; batch/v1 Job: Complete / Failed.
        if condition.get("type") in ("Succeeded", "Complete"):
            return "succeeded"
        if condition.get("type") == "Failed":
            return "failed"
    return "running"


def remote_state(manifest):
    """"running", "succeeded" or "failed" from the resource's status conditions."""
    def request(client, api):
        if manifest["apiVersion"] == "batch/v1":
            job = client.BatchV1Api(api).read_namespaced_job_status(manifest["metadata"]["name"], manifest["metadata"]["namespace"])
            return api.sanitize_for_serialization(job.status) or {}
        group, version, ns, plural, name = resource_address(manifest)
        return client.CustomObjectsApi(api).get_namespaced_custom_object(group, version, ns, plural, name).get("status") or {}

    return job_state(call_cluster("read", manifest, request))


def delete(manifest):
    """Delete the resource and, in the background, its pods; one already gone is fine."""
    def request(client, api):
        if manifest["apiVersion"] == "batch/v1":
            return client.BatchV1Api(api).delete_namespaced_job(
                manifest["metadata"]["name"], manifest["metadata"]["namespace"], propagation_policy="Background")
        group, version, ns, plural, name = resource_address(manifest)
        return client.CustomObjectsApi(api).delete_namespaced_custom_object(
            group, version, ns, plural, name, propagation_policy="Background")

    call_cluster("delete", manifest, request, missing_ok=True)
