"""platform-api.md section 8 (推理服务): inference services.

Envelope {"success", "code", "message", "data"} (kind "server"), code 0 on success as in
the spec's examples; errors carry their HTTP status as code.
"""

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from core.envelopes import ok
from core.errors import InvalidInput

from . import selectors, services

ENVELOPE = "server"
BODY = inline_serializer(
    "ServingEnvelope",
    fields={
        "success": serializers.BooleanField(),
        "code": serializers.IntegerField(help_text="0 on success, the HTTP status on error"),
        "message": serializers.CharField(),
        "data": serializers.JSONField(allow_null=True),
    },
)
ERRORS = {code: OpenApiResponse(BODY, description="success false") for code in (400, 401, 403, 404, 409)}
TAGS = ["platform inference services (serving)"]
CREATE_REQUEST = inline_serializer(
    "ModelServerDTO",
    fields={
        "modelServer": serializers.JSONField(help_text="name (what OpenAI clients pass as model), description, path"),
        "modelServerVersions": serializers.JSONField(
            help_text="[{aiApplicationVersionId, rate, predictMinReplicas, predictMaxReplicas, metric (1 rps, "
            "2 concurrency, 3 GPU use), monitorThreshold, cpu, memory, gpu, ...}]"
        ),
    },
)


def spec_time(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else None


def replica_json(replica):
    return {
        "id": replica.pk,
        "host": replica.host,
        "pid": replica.pid,
        "port": replica.port,
        "status": replica.status,
        "restarts": replica.restarts,
        "requests": replica.requests,
        "inFlight": replica.in_flight,
        "error": replica.error,
        "startTime": spec_time(replica.started_at),
        "checkTime": spec_time(replica.checked_at),
    }


def version_json(version):
    service = version.service
    app_version = version.application_version
    replicas = list(version.replicas.all())
    return {
        "id": version.uid,
        "modelServerId": service.uid,
        "version": version.number,
        "status": version.status,
        "error": version.error,
        "aiApplicationVersionId": app_version.uid if app_version else None,
        "aiApplicationName": app_version.application.name if app_version else None,
        "aiApplicationVersion": app_version.version if app_version else None,
        "rate": version.rate,
        "cpu": version.cpu,
        "memory": version.memory,
        "gpu": version.gpu,
        "gpuShare": version.gpu_share,
        "command": version.command,
        "image": version.image,
        "imagePorts": version.image_ports,
        "envs": version.envs,
        "volumes": version.volumes,
        "reqMethod": version.req_method,
        "resourceGroupId": version.resource_group_id,
        "resourceGroupName": version.resource_group_name,
        "resourceGroupKey": version.resource_group_key,
        "hyperParameterList": version.hyper_parameters,
        "predictMinReplicas": version.predict_min_replicas,
        "predictMaxReplicas": version.predict_max_replicas,
        "metric": version.metric,
        "monitorThreshold": f"{version.monitor_threshold:g}",
        "replica": sum(1 for r in replicas if r.status == "running"),
        "desiredReplicas": version.desired_replicas,
        "replicas": [replica_json(r) for r in replicas],
        "requestCount": version.request_count,
        "maxContext": version.max_context,
        "createUser": str(version.created_by_id or service.owner_id),
        "userName": service.owner.username,
        "createTime": spec_time(version.created_at),
        "modifiedTime": spec_time(version.modified_at),
        **version.extra,
    }


def service_json(service):
    versions = list(service.versions.all())
    for version in versions:
        version.service = service
    return {
        "id": service.uid,
        "name": service.name,
        "description": service.description,
        "path": service.path,
        "kind": service.kind,
        "status": selectors.service_status(service),
        "requestCount": service.request_count,
        "openaiBaseUrl": "/v1",
        "createUser": str(service.owner_id),
        "userName": service.owner.username,
        "createTime": spec_time(service.created_at),
        "modifiedTime": spec_time(service.modified_at),
        "modelServerVersions": [version_json(v) for v in versions],
    }


def json_body(request):
    if not isinstance(request.data, dict):
        raise InvalidInput("the body must be a JSON object")
    return request.data


def page_numbers(body):
    def number(name, default, high):
        return services.clean_int(body.get(name), name, 0, high, default) or default

    return number("pageNum", 1, 1_000_000), number("pageSize", 10, 100)


def clean_criteria(raw):
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("queryCriteria: must be an object")
    unknown = set(raw) - {"createUser", "name", "userName"}
    if unknown:
        raise InvalidInput(f"queryCriteria: unknown filter {sorted(unknown)[0]!r}; use createUser, name")
    return {
        "name": services.clean_text(raw.get("name"), "queryCriteria.name", 64),
        "createUser": services.clean_text(raw.get("createUser") or raw.get("userName"), "queryCriteria.createUser",
                                          150),
    }


def id_from(request, *names):
    """The id from the query string (GET) or the JSON body (POST), under any of `names`."""
    source = request.query_params if request.method == "GET" else json_body(request)
    for name in names:
        value = source.get(name)
        if value not in (None, ""):
            return value
    raise InvalidInput(f"{names[0]}: is required")


class CreateInferenceServerView(APIView):
    """POST /model/modelServer/createModelInferenceServer: save and deploy."""

    envelope = ENVELOPE
    deploy = True

    @extend_schema(tags=TAGS, summary="Create an inference service and deploy its versions (replicas start on the "
                   "serving host)", request=CREATE_REQUEST, responses={200: BODY, **ERRORS})
    def post(self, request):
        body = json_body(request)
        service, _ = services.create_service(actor=request.user, model_server=body.get("modelServer"),
                                             versions=body.get("modelServerVersions"), deploy=self.deploy)
        service = selectors.get_service_for_user(request.user, service.uid)
        return ok(ENVELOPE, service_json(service), message="deploying" if self.deploy else "saved")


class CreateServerView(CreateInferenceServerView):
    """POST /model/modelServer/createModelServer: save without deploying."""

    deploy = False

    @extend_schema(tags=TAGS, summary="Save an inference service without deploying it", request=CREATE_REQUEST,
                   responses={200: BODY, **ERRORS})
    def post(self, request):
        return super().post(request)


class ServerPageListView(APIView):
    """POST /model/modelServer/findModelServerPageList"""

    envelope = ENVELOPE

    @extend_schema(
        tags=TAGS,
        summary="Your inference services, newest first, paged",
        request=inline_serializer("ModelServerPageRequest", fields={
            "pageNum": serializers.IntegerField(required=False),
            "pageSize": serializers.IntegerField(required=False, help_text="default 10, at most 100"),
            "queryCriteria": serializers.JSONField(required=False, help_text="createUser, name (substring)"),
        }),
        responses={200: BODY, **ERRORS},
    )
    def post(self, request):
        body = json_body(request)
        page_num, page_size = page_numbers(body)
        criteria = clean_criteria(body.get("queryCriteria"))
        qs = selectors.filtered_services(request.user, criteria)
        total = qs.count()
        start = (page_num - 1) * page_size
        rows = [service_json(s) for s in qs[start : start + page_size]]
        return ok(ENVELOPE, {"total": total, "list": rows, "pageNum": page_num, "pageSize": page_size,
                             "pages": (total + page_size - 1) // page_size})


ID_PARAM = OpenApiParameter("id", OpenApiTypes.STR, required=False, description="the service id (or modelServerId)")


class ServerByIdView(APIView):
    """GET or POST /model/modelServer/findModelServerById"""

    envelope = ENVELOPE

    def _answer(self, request):
        service = selectors.get_service_for_user(request.user, id_from(request, "id", "modelServerId"))
        return ok(ENVELOPE, service_json(service))

    @extend_schema(tags=TAGS, summary="One inference service with its versions and replicas", parameters=[ID_PARAM],
                   responses={200: BODY, **ERRORS})
    def get(self, request):
        return self._answer(request)

    @extend_schema(tags=TAGS, summary="One inference service (id in the body)",
                   request=inline_serializer("ModelServerId", fields={"id": serializers.CharField()}),
                   responses={200: BODY, **ERRORS})
    def post(self, request):
        return self._answer(request)


class VersionByIdView(APIView):
    """GET or POST /model/modelServerVersion/findModelServerVersionById"""

    envelope = ENVELOPE

    def _answer(self, request):
        version = selectors.get_version_for_user(request.user, id_from(request, "id", "modelServerVersionId"))
        return ok(ENVELOPE, version_json(version))

    @extend_schema(tags=TAGS, summary="One service version with its replicas",
                   parameters=[OpenApiParameter("id", OpenApiTypes.STR, required=False)],
                   responses={200: BODY, **ERRORS})
    def get(self, request):
        return self._answer(request)

    @extend_schema(tags=TAGS, summary="One service version (id in the body)",
                   request=inline_serializer("ModelServerVersionId", fields={"id": serializers.CharField()}),
                   responses={200: BODY, **ERRORS})
    def post(self, request):
        return self._answer(request)


urlpatterns = [
    path("model/modelServer/createModelInferenceServer", CreateInferenceServerView.as_view(), name="spec-deploy"),
    path("model/modelServer/createModelServer", CreateServerView.as_view(), name="spec-create"),
    path("model/modelServer/findModelServerPageList", ServerPageListView.as_view(), name="spec-list"),
    path("model/modelServer/findModelServerById", ServerByIdView.as_view(), name="spec-detail"),
    path("model/modelServerVersion/findModelServerVersionById", VersionByIdView.as_view(), name="spec-version"),
]
