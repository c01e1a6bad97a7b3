"""platform-api.md section 3 (模型管理): applications and their versions.

The spec's examples for this section answer {"code", "success", "message", "data"} (not the
errorCode/result form of sections 1 and 2), so these views use that envelope: code 200 on success as
in the createAiApplication example; errors carry their HTTP status as code (core.envelopes, "server").
The Input serializers translate the spec's bodies into registry.services.create_application's
arguments; the Output serializers write section 3's shapes (3.4's timestamps as objects).
"""

import json
import re

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.facades import (CheckedObject, FacadeView, PageInput, StrictBoolean, StrictInteger, Text, UserIdCheck,
                          facade, optional_text, page)

from . import selectors, services
from .models import SaveType, VersionSource, VersionStatus

SUCCESS = 200
TIME = "%Y-%m-%d %H:%M:%S"
TAGS = ["platform model registry (registry)"]
INT32 = {"min_value": -2**31, "max_value": 2**31 - 1}
TIMESTAMP_KEYS = ("date", "day", "hours", "minutes", "month", "nanos", "seconds", "time", "timezoneOffset", "year")


def spec_timestamp(value):
    """A time as section 3.4 shows it: the JSON of a java.sql.Timestamp (JavaScript Date fields, in
    the server's time zone): month from 0, year since 1900, day the weekday (0 Sunday), time the epoch
    milliseconds, timezoneOffset minutes behind UTC, nanos the fraction of the second."""
    if not value:
        return None
    local = timezone.localtime(value)
    offset = local.utcoffset()
    return {"date": local.day, "day": (local.weekday() + 1) % 7, "hours": local.hour, "minutes": local.minute,
            "month": local.month - 1, "nanos": local.microsecond * 1000, "seconds": local.second,
            "time": int(value.timestamp() * 1000),
            "timezoneOffset": -int(offset.total_seconds() // 60) if offset is not None else 0,
            "year": local.year - 1900}


@extend_schema_field({"type": "object", "properties": {key: {"type": "integer"} for key in TIMESTAMP_KEYS}})
class Timestamp(serializers.Field):
    def to_representation(self, value):
        return spec_timestamp(value)


@extend_schema_field({"type": "string", "nullable": True})
class JsonText(serializers.Field):
    """A value written as JSON text (null stays null)."""

    def to_representation(self, value):
        return json.dumps(value, ensure_ascii=False) if value is not None else None


@extend_schema_field({"type": "integer", "nullable": True})
class Const(serializers.Field):
    """A field the spec has and Crucible always answers the same (0 or null)."""

    def __init__(self, value=None):
        self.value = value
        super().__init__(source="*", read_only=True)

    def to_representation(self, instance):
        return self.value


def choice(choices, **kwargs):
    return serializers.ChoiceField(choices=choices, required=False, allow_null=True, **kwargs)


class RegistryApplicationInput(CheckedObject):
    name = Text(max_length=1000)
    type = optional_text(max_length=1000)
    description = optional_text(max_length=100_000)
    developer = optional_text(max_length=1000)
    createUser = UserIdCheck()
    userName = UserIdCheck()


class RegistryVersionInput(CheckedObject):
    """One entry of aiApplicationVersionList."""

    source = serializers.ChoiceField(choices=VersionSource.choices, help_text="1 training result, 2 image, 3 local files")
    version = optional_text(max_length=1000, help_text='dotted, e.g. "0.0.1"; default: the next one')
    description = optional_text(max_length=100_000)
    savePath = optional_text(source="save_path", max_length=5000, help_text="a folder of your private file space")
    saveType = choice(SaveType.choices, source="save_type")
    configSaveType = choice(SaveType.choices, source="config_save_type")
    configPath = optional_text(source="config_path", max_length=5000)
    image = optional_text(max_length=1000, help_text="name:tag of an imported image (source 2)")
    imageType = choice([0, 1], source="image_type")
    framework = StrictInteger(required=False, allow_null=True, **INT32)
    frameworkStyle = StrictInteger(source="framework_style", required=False, allow_null=True, **INT32)
    label = optional_text(max_length=1000)
    scale = optional_text(max_length=1000)
    modelStructure = optional_text(source="model_structure", max_length=1000)
    trainTaskVersionId = optional_text(source="train_task_version_id", max_length=1000)
    llmFineTuneTaskId = optional_text(source="llm_fine_tune_task_id", max_length=1000)
    applicationName = optional_text(source="application_name", max_length=1000, help_text="checked against the application")
    createUser = UserIdCheck()
    userName = UserIdCheck()


class RegistryHyperParameter(serializers.Serializer):
    paramName = Text(source="name", max_length=1000)
    type = optional_text(max_length=1000)
    value = serializers.JSONField(required=False, allow_null=True)
    valueRange = serializers.ListField(source="value_range", child=serializers.JSONField(), required=False,
                                      allow_null=True)
    edit = StrictBoolean(source="editable", required=False)
    description = optional_text(max_length=1000)


class RegistryApplication(serializers.Serializer):
    """AiApplication of the spec (from selectors.with_version_stats)."""

    id = serializers.CharField(source="uid")
    createUser = serializers.CharField(source="owner_id")
    name = serializers.CharField()
    description = serializers.CharField()
    createTime = serializers.DateTimeField(source="created_at", format=TIME)
    userName = serializers.CharField(source="owner.username")
    modifiedTime = serializers.DateTimeField(source="modified_at", format=TIME)
    isDelete = Const(0)
    type = serializers.CharField()
    developer = serializers.CharField()
    loginUser = serializers.SerializerMethodField()
    aiApplicationVersionsCount = serializers.IntegerField(source="version_count", allow_null=True)
    aiApplicationVersionsSize = serializers.SerializerMethodField()
    latestVersion = serializers.CharField(source="latest_version", allow_null=True)
    status = serializers.IntegerField(source="latest_status", allow_null=True)
    repoId = serializers.CharField(source="repository.full_name")
    repoUrl = serializers.SerializerMethodField()

    def get_loginUser(self, item) -> int:
        owner = item.owner if hasattr(item, "owner") else item.application.owner
        return 0 if owner.is_platform_admin else 1

    def get_aiApplicationVersionsSize(self, app) -> float | None:
        return app.versions_size / 1024 if app.versions_size is not None else None

    def get_repoUrl(self, app) -> str:
        return selectors.hub_page_url(app)


class RegistryVersion(serializers.Serializer):
    """AiApplicationVersion of the spec, with what Crucible knows of it (parameters, metrics, task)."""

    id = serializers.CharField(source="uid")
    applicationId = serializers.CharField(source="application.uid")
    applicationName = serializers.CharField(source="application.name")
    createUser = serializers.SerializerMethodField()
    userName = serializers.CharField(source="application.owner.username")
    loginUser = serializers.SerializerMethodField()
    version = serializers.CharField()
    description = serializers.CharField()
    source = serializers.IntegerField()
    sourceName = serializers.CharField(source="get_source_display")
    status = serializers.IntegerField()
    statusName = serializers.CharField(source="get_status_display")
    error = serializers.CharField(allow_null=True)
    image = serializers.CharField(source="image_ref")
    imageType = serializers.IntegerField(source="image_type", allow_null=True)
    framework = serializers.IntegerField(allow_null=True)
    frameworkStyle = serializers.IntegerField(source="framework_style", allow_null=True)
    saveType = serializers.IntegerField(source="save_type")
    savePath = serializers.SerializerMethodField()
    configSaveType = serializers.IntegerField(source="config_save_type")
    configPath = serializers.SerializerMethodField()
    trainTaskVersionId = serializers.CharField(source="train_task_version_id")
    llmFineTuneTaskId = serializers.CharField(source="llm_fine_tune_task_id")
    size = serializers.FloatField(source="size_kb")
    scale = serializers.CharField()
    parameterCount = serializers.IntegerField(source="parameter_count", allow_null=True)
    modelStructure = serializers.CharField(source="model_structure")
    label = serializers.CharField()
    hyperParameterList = JsonText(source="hyper_parameters")
    preDeployLabel = serializers.CharField(source="pre_deploy_label")
    parameterStatus = serializers.SerializerMethodField()
    parameters = serializers.SerializerMethodField()
    originalParameters = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    deployJson, softVersion, use, fromMarket, isDelete = Const(), Const(), Const(), Const(0), Const(0)
    hideSourcePath = serializers.SerializerMethodField()
    absolutePath = serializers.SerializerMethodField()
    commit = serializers.CharField(source="commit.oid", allow_null=True)
    repoId = serializers.CharField(source="application.repository.full_name")
    files = serializers.ListField(child=serializers.DictField())
    createTime = Timestamp(source="created_at")
    modifiedTime = Timestamp(source="modified_at")

    get_loginUser = RegistryApplication.get_loginUser

    def to_representation(self, version):
        data = super().to_representation(version)
        data["error"] = data["error"] or None
        return data

    def get_createUser(self, version) -> str:
        return str(version.created_by_id or version.application.owner_id)

    def get_savePath(self, version) -> str:
        return "/" + version.save_path.removeprefix("/") if version.save_path else ""

    def get_configPath(self, version) -> str | None:
        return "/" + version.config_path if version.config_path else None

    def get_parameterStatus(self, version) -> int:
        return 2 if version.parameter_count is not None else (1 if version.status == VersionStatus.IMPORTING else 0)

    def get_parameters(self, version) -> str | None:
        """What Crucible read from the version's files (weights and config.json)."""
        if version.parameter_count is None and not version.model_structure:
            return None
        return json.dumps({"parameterCount": version.parameter_count, "scale": version.scale,
                           "modelType": version.model_type, "modelStructure": version.model_structure})

    def get_originalParameters(self, version) -> str | None:
        return selectors.version_config_text(version)

    def get_metrics(self, version) -> str | None:
        return JsonText().to_representation(selectors.latest_evaluation_results(version))

    def get_hideSourcePath(self, version) -> str | None:
        return f"{version.application.repository.full_name}@{version.commit.oid}" if version.commit_id else None

    def get_absolutePath(self, version) -> str | None:
        return selectors.hub_revision_url(version)


class RegistryView(FacadeView):
    envelope, tags = "server", TAGS
    spec_fields = {"name": "application.name", "type": "application.type", "description": "application.description",
                   "developer": "application.developer"}

    def spec_field(self, field):
        """Also "versions[0].save_path" -> "aiApplicationVersionList[0].savePath"."""
        match = re.fullmatch(r"(\w+)\[(\d+)\]\.(.+)", field)
        if match is None:
            return super().spec_field(field)
        listed, index, rest = match.groups()
        spec = super().spec_field(f"{listed}.{rest}")
        head, _, tail = spec.partition(".")
        return f"{head}[{index}].{tail}" if tail else f"{spec}[{index}]"


class CreateApplicationView(RegistryView):
    """POST /model/aiApplication/createAiApplication"""

    class Input(serializers.Serializer):
        application = RegistryApplicationInput(help_text="name, type, description, developer")
        aiApplicationVersionList = RegistryVersionInput(source="versions", many=True, required=False, allow_null=True,
                                                max_length=20)
        hyperParameterList = RegistryHyperParameter(source="hyper_parameters", many=True, required=False,
                                                 allow_null=True, max_length=200)

        def validate(self, attrs):
            for index, version in enumerate(attrs.get("versions") or []):
                named = (version or {}).pop("application_name", "") or ""
                if named.strip() and named.strip() != attrs["application"]["name"].strip():
                    raise serializers.ValidationError(
                        f"aiApplicationVersionList[{index}].applicationName: must be the application's name")
            return attrs

    class Output(serializers.Serializer):
        application = RegistryApplication()
        aiApplicationVersionList = RegistryVersion(many=True)
        hyperParameterList = serializers.ListField(child=serializers.DictField())

    @facade(summary="Create an application (or add versions to yours of that name); each version imports into "
                    "the hub", output=Output())
    def post(self, request):
        data = self.input(request)
        app, versions, hyper = services.create_application(
            owner=request.user, **data.pop("application"), versions=data.get("versions") or [],
            hyper_parameters=data.get("hyper_parameters") or [])
        answer = {"application": selectors.get_application_for_user(request.user, app.uid),
                  "aiApplicationVersionList": versions, "hyperParameterList": hyper}
        return self.answer(self.Output(answer).data, code=SUCCESS)


class ApplicationListView(RegistryView):
    """POST /model/aiApplication/getAiApplicationList"""

    class Input(PageInput):
        class QueryInfo(serializers.Serializer):
            name = optional_text(max_length=96)
            type = optional_text(max_length=32)
            developer = optional_text(max_length=100)
            source = choice(VersionSource.choices)
            status = choice(VersionStatus.choices)
            userName = optional_text(source="owner", max_length=150)
            createUser = optional_text(source="owner", max_length=150)

            def to_internal_value(self, data):
                unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
                if unknown:
                    raise serializers.ValidationError(f"unknown filter {unknown[0]!r}; use {', '.join(self.fields)}")
                return super().to_internal_value(data)

        queryInfo = QueryInfo(source="query", required=False, allow_null=True)

    class Output(serializers.Serializer):
        total = serializers.IntegerField()
        rows = RegistryApplication(many=True)
        pageNum = serializers.IntegerField()
        pageSize = serializers.IntegerField()

    @facade(summary="Your applications, newest first, paged; filters in queryInfo", output=Output())
    def post(self, request):
        data = self.input(request)
        query = {k: v for k, v in (data.get("query") or {}).items() if v not in (None, "")}
        total, rows = page(selectors.search_applications(request.user, **query), data)
        answer = {"total": total, "rows": rows, "pageNum": data["pageNum"], "pageSize": data["pageSize"]}
        return self.answer(self.Output(answer).data, code=SUCCESS)


class ApplicationById(serializers.Serializer):
    aiApplicationId = Text(source="application_id", max_length=200)


class ApplicationDetailView(RegistryView):
    """GET /model/aiApplication/getAiApplicationDetail?aiApplicationId="""

    Input = ApplicationById

    @facade(summary="One application", output=RegistryApplication())
    def get(self, request):
        app = selectors.get_application_for_user(request.user, self.input(request)["application_id"])
        return self.answer(RegistryApplication(app).data, code=SUCCESS)


class VersionListView(RegistryView):
    """GET /model/aiApplicationVersion/getAiApplicationVersionList?aiApplicationId="""

    Input = ApplicationById

    @facade(summary="An application's versions, newest first", output=RegistryVersion(many=True))
    def get(self, request):
        app = selectors.get_application_for_user(request.user, self.input(request)["application_id"])
        return self.answer(RegistryVersion(selectors.versions_of(app), many=True).data, code=SUCCESS)


class VersionDetailView(RegistryView):
    """GET /model/aiApplicationVersion/getAiApplicationVersionDetail?aiApplicationVersionId="""

    class Input(serializers.Serializer):
        aiApplicationVersionId = Text(source="version_id", max_length=200)

    @facade(summary="One version", output=RegistryVersion())
    def get(self, request):
        version = selectors.resolve_version(request.user, self.input(request)["version_id"])
        return self.answer(RegistryVersion(version).data, code=SUCCESS)


urlpatterns = [
    path("model/aiApplication/createAiApplication", CreateApplicationView.as_view(), name="spec-create"),
    path("model/aiApplication/getAiApplicationList", ApplicationListView.as_view(), name="spec-list"),
    path("model/aiApplication/getAiApplicationDetail", ApplicationDetailView.as_view(), name="spec-detail"),
    path("model/aiApplicationVersion/getAiApplicationVersionList", VersionListView.as_view(), name="spec-versions"),
    path("model/aiApplicationVersion/getAiApplicationVersionDetail", VersionDetailView.as_view(),
         name="spec-version"),
]
