"""platform-api.md section 8 (推理服务): inference services.

Envelope {"success", "code", "message", "data"} (kind "server"), code 0 on success as in the spec's
examples; errors carry their HTTP status as code. Built from core.facades: the Input serializers
read the spec's ModelServerDTO (modelServer, modelServerVersions) into services.create_service's
arguments (VersionSpec), the Output serializers write the services, versions and replicas.
"""

import json

from django.urls import path
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.facades import (CheckedObject, FacadeView, PageInput, SpecModelSerializer, StrictInteger, Text, UserIdCheck,
                          facade, optional_text, page)

from . import selectors, services
from .models import ModelService, Replica, ServiceVersion

TAGS = ["platform inference services (serving)"]
TIME = "%Y-%m-%d %H:%M:%S"  # local time


def optional(field_class, **kwargs):
    """A field the spec may leave out or send as null (left out of the validated data then)."""
    if issubclass(field_class, serializers.CharField):
        kwargs.setdefault("allow_blank", True)
    return field_class(required=False, allow_null=True, **kwargs)


class JsonText(Text):
    """The spec's JSON inside a string (envs, volumes, hyperParameterList); a JSON value is accepted too."""

    def to_internal_value(self, data):
        text = data if isinstance(data, str) else json.dumps(data)
        try:
            json.loads(text)
        except ValueError:
            raise serializers.ValidationError("must be JSON text") from None
        return super().to_internal_value(text)


class Checked(CheckedObject):
    """createUser and userName in a body are checks against the signed-in user, never identity;
    empty strings are left out like nulls."""

    createUser = UserIdCheck()
    userName = UserIdCheck()

    def validate(self, attrs):
        return {k: v for k, v in super().validate(attrs).items() if v != ""}


class ModelServerInput(Checked):
    name = Text(max_length=64, help_text="what OpenAI clients pass as model")
    description = optional_text(max_length=2000)
    path = optional_text(max_length=255)


class ModelServerVersionInput(Checked):
    aiApplicationVersionId = serializers.CharField(source="registry_version", help_text="an imported registry version")
    rate = optional(StrictInteger, help_text="traffic weight, 0 to 100 (default 100)")
    predictMinReplicas = optional(StrictInteger, source="min_replicas")
    predictMaxReplicas = optional(StrictInteger, source="max_replicas")
    metric = optional(StrictInteger, help_text="scale on 1 rps, 2 concurrency, 3 GPU use")
    monitorThreshold = optional(serializers.FloatField, source="threshold", help_text="per replica; default 100")
    cpu = optional(StrictInteger)
    memory = optional(StrictInteger)
    gpu = optional(StrictInteger)
    gpuShare = optional_text(source="gpu_share")
    reqMethod = optional_text(source="req_method", help_text="rest (grpc is not served)")
    command = optional_text()
    image = optional_text()
    imagePorts = optional_text(source="image_ports")
    envs = optional(JsonText)
    volumes = optional(JsonText)
    hyperParameterList = optional(JsonText, source="hyper_parameters")
    resourceGroupId = optional_text(source="resource_group_id")
    resourceGroupName = optional_text(source="resource_group_name")
    resourceGroupKey = optional_text(source="resource_group_key")
    # Kept as given and shown back.
    gpuCores = optional(StrictInteger, source="extra.gpuCores")
    gpuMem = optional(StrictInteger, source="extra.gpuMem")
    migRes = optional_text(source="extra.migRes")
    customImageFlag = optional(StrictInteger, source="extra.customImageFlag")
    replica = optional(StrictInteger, source="extra.replica")
    volumePath = optional_text(source="extra.volumePath")
    rates = optional(serializers.ListField, source="extra.rates", child=serializers.JSONField())

    def validate(self, attrs):
        return services.VersionSpec(**super().validate(attrs))


class ModelServerReplica(SpecModelSerializer):
    class Meta:
        model = Replica
        fields = ["id", "host", "pid", "port", "status", "restarts", "requests", "inFlight", "error", "startTime",
                  "checkTime"]
        renamed = dict(inFlight="in_flight", startTime="started_at", checkTime="checked_at")
        time_format = TIME


class ModelServerVersion(SpecModelSerializer):
    modelServerId = serializers.CharField(source="service.uid")
    aiApplicationVersionId = serializers.CharField(source="application_version.uid", allow_null=True)
    aiApplicationName = serializers.CharField(source="application_version.application.name", allow_null=True)
    aiApplicationVersion = serializers.CharField(source="application_version.version", allow_null=True)
    monitorThreshold = serializers.SerializerMethodField()
    replica = serializers.SerializerMethodField(help_text="running replicas")
    replicas = ModelServerReplica(many=True)
    createUser = serializers.SerializerMethodField()
    userName = serializers.CharField(source="service.owner.username")
    # Kept as given at creation, shown when given.
    gpuCores = serializers.IntegerField(source="extra.gpuCores", required=False)
    gpuMem = serializers.IntegerField(source="extra.gpuMem", required=False)
    migRes = serializers.CharField(source="extra.migRes", required=False)
    customImageFlag = serializers.IntegerField(source="extra.customImageFlag", required=False)
    volumePath = serializers.CharField(source="extra.volumePath", required=False)
    rates = serializers.ListField(source="extra.rates", child=serializers.JSONField(), required=False)

    class Meta:
        model = ServiceVersion
        fields = ["id", "modelServerId", "version", "status", "error", "aiApplicationVersionId", "aiApplicationName",
                  "aiApplicationVersion", "rate", "cpu", "memory", "gpu", "gpuShare", "command", "image", "imagePorts",
                  "envs", "volumes", "reqMethod", "resourceGroupId", "resourceGroupName", "resourceGroupKey",
                  "hyperParameterList", "predictMinReplicas", "predictMaxReplicas", "metric", "monitorThreshold",
                  "replica", "desiredReplicas", "replicas", "requestCount", "maxContext", "createUser", "userName",
                  "createTime", "modifiedTime", "gpuCores", "gpuMem", "migRes", "customImageFlag", "volumePath", "rates"]
        renamed = dict(
            id="uid", version="number", gpuShare="gpu_share", imagePorts="image_ports", reqMethod="req_method",
            resourceGroupId="resource_group_id", resourceGroupName="resource_group_name",
            resourceGroupKey="resource_group_key", hyperParameterList="hyper_parameters",
            predictMinReplicas="predict_min_replicas", predictMaxReplicas="predict_max_replicas",
            desiredReplicas="desired_replicas", requestCount="request_count", maxContext="max_context",
            createTime="created_at", modifiedTime="modified_at",
        )
        time_format = TIME

    def get_monitorThreshold(self, version) -> str:
        return f"{version.monitor_threshold:g}"

    def get_replica(self, version) -> int:
        return sum(1 for r in version.replicas.all() if r.status == "running")

    def get_createUser(self, version) -> str:
        return str(version.created_by_id or version.service.owner_id)


class ModelServer(SpecModelSerializer):
    status = serializers.SerializerMethodField()
    requestCount = serializers.IntegerField(source="request_count")
    openaiBaseUrl = serializers.SerializerMethodField()
    createUser = serializers.CharField(source="owner_id")
    userName = serializers.CharField(source="owner.username")
    modelServerVersions = ModelServerVersion(many=True, source="versions")

    class Meta:
        model = ModelService
        fields = ["id", "name", "description", "path", "kind", "status", "requestCount", "openaiBaseUrl",
                  "createUser", "userName", "createTime", "modifiedTime", "modelServerVersions"]
        renamed = dict(id="uid", createTime="created_at", modifiedTime="modified_at")
        time_format = TIME

    def get_status(self, service) -> str:
        return selectors.service_status(service)

    def get_openaiBaseUrl(self, service) -> str:
        return "/v1"


class CreateInferenceServerView(FacadeView):
    """POST /model/modelServer/createModelInferenceServer: save and deploy."""

    envelope, tags, deploy = "server", TAGS, True
    spec_fields = {"name": "modelServer.name", "description": "modelServer.description", "path": "modelServer.path"}

    class Input(serializers.Serializer):
        modelServer = ModelServerInput(source="*")
        modelServerVersions = ModelServerVersionInput(many=True, source="versions", allow_empty=False, max_length=10)

    @facade(summary="Create an inference service and deploy its versions (replicas start on the serving host)",
            output=ModelServer())
    def post(self, request):
        service, _ = services.create_service(owner=request.user, deploy=self.deploy, **self.input(request))
        service = selectors.get_service_for_user(request.user, service.uid)
        return self.answer(ModelServer(service).data, message="deploying" if self.deploy else "saved")


class CreateServerView(CreateInferenceServerView):
    """POST /model/modelServer/createModelServer: save without deploying."""

    deploy = False

    @facade(summary="Save an inference service without deploying it", output=ModelServer(),
            name="CreateServer")
    def post(self, request):
        return super().post(request)


class ModelServerCriteria(serializers.Serializer):
    name = optional(serializers.CharField, max_length=64, help_text="a substring of the name")
    createUser = optional(serializers.CharField, source="owner", max_length=150, help_text="user id or username")
    userName = optional(serializers.CharField, source="owner", max_length=150)

    def validate(self, attrs):
        return {k: v for k, v in attrs.items() if v}


class ServerPageListView(FacadeView):
    """POST /model/modelServer/findModelServerPageList"""

    envelope, tags = "server", TAGS

    class Input(PageInput):
        queryCriteria = optional(ModelServerCriteria)

    class Output(serializers.Serializer):
        total = serializers.IntegerField()
        list = ModelServer(many=True)
        pageNum = serializers.IntegerField()
        pageSize = serializers.IntegerField()
        pages = serializers.IntegerField()

    @facade(summary="Your inference services, newest first, paged", output=Output())
    def post(self, request):
        data = self.input(request)
        total, rows = page(selectors.search_services(request.user, **(data.get("queryCriteria") or {})), data)
        size = data["pageSize"]
        return self.answer(self.Output({"total": total, "list": rows, "pageNum": data["pageNum"], "pageSize": size,
                                        "pages": (total + size - 1) // size}).data)


class ByIdView(FacadeView):
    """An object by `id` (or the spec's other name for it), from the query string or the body."""

    envelope, tags, query_params, other_name = "server", TAGS, True, None

    @extend_schema_serializer(component_name="ModelServerId")
    class Input(serializers.Serializer):
        id = optional(serializers.CharField, max_length=64)

        def validate(self, attrs):
            found = attrs.get("id") or self.initial_data.get(self.context["view"].other_name)
            if found in (None, ""):
                raise serializers.ValidationError({"id": "is required"})
            return {"id": found}


class ServerByIdView(ByIdView):
    """GET or POST /model/modelServer/findModelServerById"""

    other_name = "modelServerId"

    @facade(summary="One inference service with its versions and replicas", output=ModelServer())
    def get(self, request):
        return self.answer(ModelServer(selectors.get_service_for_user(request.user, self.input(request)["id"])).data)

    @facade(summary="One inference service (id in the body)", output=ModelServer(), name="ServerByIdPost")
    def post(self, request):
        return self.get(request)


class VersionByIdView(ByIdView):
    """GET or POST /model/modelServerVersion/findModelServerVersionById"""

    other_name = "modelServerVersionId"

    @facade(summary="One service version with its replicas", output=ModelServerVersion())
    def get(self, request):
        return self.answer(ModelServerVersion(selectors.get_version_for_user(request.user, self.input(request)["id"])).data)

    @facade(summary="One service version (id in the body)", output=ModelServerVersion(), name="VersionByIdPost")
    def post(self, request):
        return self.get(request)


urlpatterns = [
    path("model/modelServer/createModelInferenceServer", CreateInferenceServerView.as_view(), name="spec-deploy"),
    path("model/modelServer/createModelServer", CreateServerView.as_view(), name="spec-create"),
    path("model/modelServer/findModelServerPageList", ServerPageListView.as_view(), name="spec-list"),
    path("model/modelServer/findModelServerById", ServerByIdView.as_view(), name="spec-detail"),
    path("model/modelServerVersion/findModelServerVersionById", VersionByIdView.as_view(), name="spec-version"),
]
