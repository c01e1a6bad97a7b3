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
InferenceService's conditions back into the version's status and records its URL.

The gateway side (`openai_call`): a `/v1` request for a service on the cluster goes to its
InferenceService's OpenAI-compatible endpoint (`<url>/openai/v1/chat/completions`, `completions`,
`embeddings`, as KServe's Hugging Face runtime serves them under `--model_name`), directly or
through KSERVE_INGRESS with the InferenceService's host name in the Host header. KServe splits the
traffic between the two revisions itself, so every request of a service goes to the one URL.
"""

import http.client
import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from core import kube
from core.errors import DomainError, InvalidInput

from . import conf
from .gateway import RETRY_AFTER_SECONDS, ModelError, Unavailable, request_counts
from .models import ACTIVE_VERSION_STATUSES, Metric, ServiceKind, ServiceVersion, VersionStatus

GROUP, VERSION, PLURAL, KIND = "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
SCHEMA_PATH = Path(__file__).with_name("kserve_schema") / "inferenceservice.schema.json"
SCALE_METRICS = {Metric.RPS: "rps", Metric.CONCURRENCY: "concurrency", Metric.GPU: "cpu"}


class ClusterError(DomainError):
    """The cluster could not be reached or refused a request; the message says which and why."""

    status_code = 503
    exception = "UnavailableException"


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
        GROUP, VERSION, meta["namespace"], PLURAL, meta["name"]), missing_ok=True)
    if found is None:
        return "failed", f"the {KIND} {meta['namespace']}/{meta['name']} is not on the cluster (deleted there?)", ""
    status = found.get("status") or {}
    url = status.get("url") or (status.get("address") or {}).get("url") or ""
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready")
    predictor = (status.get("components") or {}).get("predictor") or {}
    created, ready_revision = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
    if ready and ready.get("status") == "True":
        if created and ready_revision and created != ready_revision:  # the newest revision still rolls out
            return "deploying", f"revision {created} is not ready yet ({ready_revision} serves)", url
        return "running", "", url
    failed = [c for c in conditions.values() if c.get("status") == "False" and "fail" in (c.get("reason") or "").lower()]
    if failed:
        return "failed", "; ".join(f"{c.get('type')}: {c.get('message') or c.get('reason')}" for c in failed), url
    return "deploying", (ready or {}).get("message", ""), url


def delete(manifest):
    meta = manifest["metadata"]
    _call("delete", manifest, lambda api: api.delete_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], propagation_policy="Background"), missing_ok=True)


def service_manifest(service):
    """Enough of a service's InferenceService to read or delete it (its name and namespace)."""
    return {"metadata": {"name": resource_name(service), "namespace": settings.SERVING_NAMESPACE}}


def delete_service(service):
    delete(service_manifest(service))


def sync_version_status(version):
    """Read the InferenceService of `version` and record its state and URL on the version (only
    while the version is deploying or running: a stop in between wins). Returns the URL."""
    state, message, url = remote_status(service_manifest(version.service))
    status = {"running": VersionStatus.RUNNING, "failed": VersionStatus.FAILED}.get(state, VersionStatus.DEPLOYING)
    if version.status == VersionStatus.RUNNING and state == "deploying":
        status = VersionStatus.RUNNING  # a newer revision rolling out: this one still serves
    ServiceVersion.objects.filter(pk=version.pk, status__in=ACTIVE_VERSION_STATUSES).update(
        status=status, error=message if state == "failed" else "", endpoint_url=url[:500],
    )
    version.status, version.endpoint_url = status, url
    return url


def deploy(version, handle, *, timeout=None):
    """Apply the version's InferenceService and wait until the cluster says Ready (running) or
    failed, or `timeout` (KSERVE_READY_TIMEOUT) passes (failed). Returns the final status."""
    manifest = render_inference_service(version)
    apply(manifest)
    handle.log(f"applied {KIND} {manifest['metadata']['namespace']}/{manifest['metadata']['name']}"
               + (f" (canaryTrafficPercent {manifest['spec']['predictor']['canaryTrafficPercent']})"
                  if "canaryTrafficPercent" in manifest["spec"]["predictor"] else ""))
    deadline = time.monotonic() + (settings.KSERVE_READY_TIMEOUT if timeout is None else timeout)
    pause = 1.0
    while True:
        version.refresh_from_db(fields=["status"])
        if version.status not in ACTIVE_VERSION_STATUSES:
            handle.log(f"the version is {version.status}; no longer waiting for the cluster")
            return version.status
        version.status = VersionStatus.DEPLOYING
        url = sync_version_status(version)
        if version.status == VersionStatus.RUNNING:
            handle.log(f"ready at {url}")
            return version.status
        if version.status == VersionStatus.FAILED:
            raise ClusterError(f"the cluster failed the {KIND}: {version.error or 'no reason given'}")
        if time.monotonic() > deadline:
            raise ClusterError(f"the {KIND} did not become Ready within {settings.KSERVE_READY_TIMEOUT:g} s")
        time.sleep(pause)
        pause = min(pause * 1.5, 10.0)


# --- the gateway side: /v1 to the InferenceService ---------------------------------------------


def route(service):
    """The version whose InferenceService takes the service's requests: the newest running one
    with a URL (KServe splits between revisions behind that URL). Counts the request on it."""
    version = (service.versions.filter(status=VersionStatus.RUNNING).exclude(endpoint_url="")
               .order_by("-number").first())
    if version is None:
        if service.versions.filter(status=VersionStatus.DEPLOYING).exists():
            raise Unavailable(f"the model `{service.name}` is being deployed on the cluster; retry shortly",
                              retry_after=RETRY_AFTER_SECONDS)
        raise Unavailable(f"the model `{service.name}` is not running on the cluster; start the service and retry")
    request_counts.add(version.pk)  # as for local replicas: counted in memory, written each second
    return version


def _open(url, path, body):
    """POST `body` to `url` + `path`, through KSERVE_INGRESS when set. Returns (connection, response)."""
    target = urlsplit(url)
    via = urlsplit(settings.KSERVE_INGRESS) if settings.KSERVE_INGRESS else target
    factory = http.client.HTTPSConnection if via.scheme == "https" else http.client.HTTPConnection
    connection = factory(via.hostname, via.port, timeout=conf.REQUEST_TIMEOUT_S)
    headers = {"Content-Type": "application/json", "Host": target.netloc}
    try:
        connection.request("POST", f"{target.path.rstrip('/')}{path}", body=json.dumps(body), headers=headers)
        return connection, connection.getresponse()
    except OSError as exc:
        connection.close()
        raise Unavailable(f"the InferenceService at {url} did not answer: {exc}") from None


def _refusal(status, raw):
    try:
        error = json.loads(raw)
        error = error.get("error") or error if isinstance(error, dict) else {}
    except ValueError:
        error = {}
    message = (error.get("message") or error.get("detail") if isinstance(error, dict) else None) or \
        f"the InferenceService answered {status}"
    if 400 <= status < 500 and status not in (404, 408, 429):
        return ModelError(str(message), status_code=status, param=error.get("param"), code=error.get("code"))
    return Unavailable(f"the InferenceService failed: {message}")


OPENAI_PATHS = {"chat": "/openai/v1/chat/completions", "completion": "/openai/v1/completions",
                "embedding": "/openai/v1/embeddings"}


def openai_call(service, kind, payload, *, stream=False):
    """Send one OpenAI request (`kind` chat, completion or embedding; `payload` already checked by
    the gateway) to the service's InferenceService. Returns the answer's dict, or (stream=True) an
    iterator of its chunk dicts. The `model` the cluster sees is the service name (the runtime's
    --model_name); the answer names the service as the local backend's answers do."""
    version = route(service)
    body = {**{k: v for k, v in payload.items() if v not in (None, [])}, "model": service.name}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    connection, response = _open(version.endpoint_url, OPENAI_PATHS[kind], body)
    if response.status != 200:
        raw = response.read()
        connection.close()
        raise _refusal(response.status, raw)
    if not stream:
        try:
            answer = json.loads(response.read())
        finally:
            connection.close()
        answer["model"] = service.name
        return answer
    return _server_sent_events(connection, response, service.name)


def _server_sent_events(connection, response, model):
    try:
        while True:
            line = response.readline()
            if not line:
                return
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                return
            chunk = json.loads(data)
            chunk["model"] = model
            yield chunk
    finally:
        connection.close()
