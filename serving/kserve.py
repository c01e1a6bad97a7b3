"""SERVING_BACKEND=kserve: a service version as a KServe InferenceService on a Kubernetes cluster.

`render_inference_service(version)` is the InferenceService (serving.kserve.io/v1beta1) that
serves one version: KServe's Hugging Face runtime (its vLLM or Hugging Face backend,
KSERVE_BACKEND), min/max replicas and the autoscaling metric of the version, its resources, and
the model folder as a `storageUri` under KSERVE_STORAGE_URI (a PVC holding the data folder). One
InferenceService per service: rolling a new version out is applying its manifest to the same
name, and KServe splits traffic between the newest revision and the previous one with
`canaryTrafficPercent`, computed here from the two versions' weights (`rate`).

`apply`, `remote_status` and `delete` talk to the cluster with the official `kubernetes` client
(the kubeconfig named by SERVING_KUBECONFIG or KUBECONFIG, else the in-cluster service account,
else ~/.kube/config), as training's Kubeflow backend does. `sync_version_status` reads the
InferenceService's conditions back into the version's status.
"""

import json
import re
from pathlib import Path

from django.conf import settings

from core import kube
from core.errors import InvalidInput

from .models import ACTIVE_VERSION_STATUSES, Metric, ServiceKind, ServiceVersion, VersionStatus

GROUP, VERSION, PLURAL, KIND = "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
SCHEMA_PATH = Path(__file__).with_name("kserve_schema") / "inferenceservice.schema.json"
SCALE_METRICS = {Metric.RPS: "rps", Metric.CONCURRENCY: "concurrency", Metric.GPU: "cpu"}


class ClusterError(RuntimeError):
    """The cluster could not be reached or refused a request; the message says which and why."""


def resource_name(service):
    """A DNS-1035 label, short enough for KServe's generated host names."""
    slug = re.sub(r"[^a-z0-9-]+", "-", service.name.lower()).strip("-")[:30].strip("-") or "model"
    return f"crucible-{service.pk}-{slug}"


def storage_uri(version):
    """KSERVE_STORAGE_URI + the model folder's path inside the data folder."""
    if not version.model_dir:
        raise InvalidInput(f"{version}: the model files are not prepared yet (no model folder)")
    folder = Path(version.model_dir).resolve()
    data_dir = Path(settings.DATA_DIR).resolve()
    if data_dir not in folder.parents:
        raise InvalidInput(f"{version}: the model folder {folder} is outside the data folder the cluster mounts")
    return f"{settings.KSERVE_STORAGE_URI.rstrip('/')}/{folder.relative_to(data_dir).as_posix()}"


def canary_percent(version):
    """KServe's canaryTrafficPercent for `version` rolled out over the service's other active
    version (None when it is the only one). KServe splits between two revisions only."""
    others = list(
        ServiceVersion.objects.filter(service_id=version.service_id, status__in=ACTIVE_VERSION_STATUSES)
        .exclude(pk=version.pk)
        .order_by("-number")
    )
    if not others:
        return None
    if len(others) > 1:
        raise InvalidInput(
            f"{version.service.name}: KServe splits traffic between two versions (the newest and the previous one); "
            f"{len(others) + 1} are active. Stop all but two."
        )
    total = version.rate + others[0].rate
    if total == 0:
        raise InvalidInput(f"{version.service.name}: the versions' traffic weights add up to 0")
    return round(100 * version.rate / total)


def env_list(version):
    try:
        items = json.loads(version.envs or "[]")
    except ValueError:
        items = []
    env = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = item.get("name") or item.get("key")
            if isinstance(name, str) and name:
                env.append({"name": name, "value": str(item.get("value", ""))})
    return env


def render_inference_service(version):
    """The InferenceService manifest (a dict) that serves `version`."""
    service = version.service
    limits = {"cpu": str(version.cpu or 1), "memory": f"{version.memory or 1}Gi"}
    if version.gpu:
        limits["nvidia.com/gpu"] = str(version.gpu)
    args = [f"--model_name={service.name}", f"--backend={settings.KSERVE_BACKEND}"]
    if service.kind == ServiceKind.EMBEDDING:
        args.append("--task=text_embedding")
    model = {
        "modelFormat": {"name": "huggingface"},
        "runtime": settings.KSERVE_RUNTIME,
        "storageUri": storage_uri(version),
        "args": args,
        "resources": {"requests": dict(limits), "limits": limits},
    }
    env = env_list(version)
    if env:
        model["env"] = env
    predictor = {
        "minReplicas": version.predict_min_replicas,
        "maxReplicas": max(version.predict_max_replicas, version.predict_min_replicas),
        "scaleMetric": SCALE_METRICS.get(version.metric, "rps"),
        "scaleTarget": max(int(version.monitor_threshold), 1),
        "model": model,
    }
    percent = canary_percent(version)
    if percent is not None:
        predictor["canaryTrafficPercent"] = percent
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": resource_name(service),
            "namespace": settings.SERVING_NAMESPACE,
            "labels": {
                "app.kubernetes.io/managed-by": "crucible",
                "crucible/service": str(service.pk),
                "crucible/version": str(version.number),
            },
        },
        "spec": {"predictor": predictor},
    }


# --- the cluster -----------------------------------------------------------------------


def kubernetes_client():
    return kube.api_client(settings.SERVING_KUBECONFIG or None, error=ClusterError)


def _call(action, manifest, request, missing_ok=False):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    label = f"{KIND} {manifest['metadata']['name']}"
    with kubernetes_client() as api:
        objects = client.CustomObjectsApi(api)
        try:
            return request(objects)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            try:
                detail = json.loads(exc.body).get("message", "")
            except (TypeError, ValueError, AttributeError):
                detail = ""
            raise ClusterError(f"the cluster refused to {action} {label}: {exc.status} {exc.reason} {detail}".strip()) from None
        except HTTPError as exc:
            raise ClusterError(f"cannot reach the cluster at {api.configuration.host} to {action} {label}: {exc}") from None


def apply(manifest):
    """Create the InferenceService, or replace its spec when it exists (a new version rolled out)."""
    meta = manifest["metadata"]
    current = _call("read", manifest, lambda api: api.get_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], PLURAL, meta["name"]), missing_ok=True)
    if current is None:
        return _call("create", manifest, lambda api: api.create_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], PLURAL, manifest))
    replacement = {**manifest, "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}}
    return _call("replace", manifest, lambda api: api.replace_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], replacement))


def remote_status(manifest):
    """("running" | "deploying" | "failed", message, url) from the InferenceService's status."""
    meta = manifest["metadata"]
    found = _call("read", manifest, lambda api: api.get_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], PLURAL, meta["name"]))
    status = found.get("status") or {}
    url = status.get("url") or (status.get("address") or {}).get("url") or ""
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready")
    if ready and ready.get("status") == "True":
        return "running", "", url
    failed = [c for c in conditions.values() if c.get("status") == "False" and "fail" in (c.get("reason") or "").lower()]
    if failed:
        return "failed", "; ".join(f"{c.get('type')}: {c.get('message') or c.get('reason')}" for c in failed), url
    return "deploying", (ready or {}).get("message", ""), url


def delete(manifest):
    meta = manifest["metadata"]
    _call("delete", manifest, lambda api: api.delete_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], propagation_policy="Background"), missing_ok=True)


def sync_version_status(version):
    """Read the InferenceService of `version` and record its state on the version; returns the URL."""
    state, message, url = remote_status(render_inference_service(version))
    status = {"running": VersionStatus.RUNNING, "failed": VersionStatus.FAILED}.get(state, VersionStatus.DEPLOYING)
    ServiceVersion.objects.filter(pk=version.pk).update(status=status, error=message if state == "failed" else "")
    version.status = status
    return url
