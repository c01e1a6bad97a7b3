"""platform-api.md section 3 (模型管理): applications and their versions.

The spec's examples for this section answer {"code", "success", "message", "data"}
(not the errorCode/result form of sections 1 and 2), so these views use that envelope:
code 200 on success as in the createAiApplication example; errors carry their HTTP
status as code (core.envelopes, kind "server").
"""

import json

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from core.envelopes import ok
from core.errors import InvalidInput

from . import selectors, services
from .models import VersionSource, VersionStatus

ENVELOPE = "server"
SUCCESS = 200
BODY = inline_serializer(
    "RegistryEnvelope",
    fields={
        "code": serializers.IntegerField(help_text="200 on success, the HTTP status on error"),
        "success": serializers.BooleanField(),
        "message": serializers.CharField(),
        "data": serializers.JSONField(allow_null=True),
    },
)
ERRORS = {code: OpenApiResponse(BODY, description="success false") for code in (400, 401, 403, 404, 409)}
TAGS = ["platform model registry (registry)"]


def spec_time(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else None


def spec_timestamp(value):
    """A time as section 3.4 shows it: the JSON of a java.sql.Timestamp (JavaScript Date
    fields, in the server's time zone): month from 0, year since 1900, day the weekday
    (0 Sunday), time the epoch milliseconds, timezoneOffset minutes behind UTC, nanos the
    fraction of the second."""
    if not value:
        return None
    local = timezone.localtime(value)
    offset = local.utcoffset()
    return {
        "date": local.day,
        "day": (local.weekday() + 1) % 7,
        "hours": local.hour,
        "minutes": local.minute,
        "month": local.month - 1,
        "nanos": local.microsecond * 1000,
        "seconds": local.second,
        "time": int(value.timestamp() * 1000),
        "timezoneOffset": -int(offset.total_seconds() // 60) if offset is not None else 0,
        "year": local.year - 1900,
    }


def json_text(value):
    return json.dumps(value, ensure_ascii=False) if value is not None else None


def parameters_json(version):
    """`parameters`: what Crucible read from the version's files (weights and config.json)."""
    if version.parameter_count is None and not version.model_structure:
        return None
    return json_text({
        "parameterCount": version.parameter_count,
        "scale": version.scale,
        "modelType": version.model_type,
        "modelStructure": version.model_structure,
    })


def login_user(user):
    return 0 if user.is_platform_admin else 1


def application_json(app):
    """AiApplication of the spec; `app` is annotated by selectors.with_version_stats."""
    size = getattr(app, "versions_size", None)
    return {
        "id": app.uid,
        "createUser": str(app.owner_id),
        "name": app.name,
        "description": app.description,
        "createTime": spec_time(app.created_at),
        "userName": app.owner.username,
        "modifiedTime": spec_time(app.modified_at),
        "isDelete": 0,
        "type": app.type,
        "developer": app.developer,
        "loginUser": login_user(app.owner),
        "aiApplicationVersionsCount": getattr(app, "version_count", None),
        "aiApplicationVersionsSize": size / 1024 if size is not None else None,
        "latestVersion": getattr(app, "latest_version", None),
        "status": getattr(app, "latest_status", None),
        "repoId": app.repository.full_name,
        "repoUrl": selectors.hub_page_url(app),
    }


def version_json(version):
    app = version.application
    commit = version.commit
    return {
        "id": version.uid,
        "applicationId": app.uid,
        "applicationName": app.name,
        "createUser": str(version.created_by_id or app.owner_id),
        "userName": app.owner.username,
        "loginUser": login_user(app.owner),
        "version": version.version,
        "description": version.description,
        "source": version.source,
        "sourceName": VersionSource(version.source).label,
        "status": version.status,
        "statusName": VersionStatus(version.status).label,
        "error": version.error or None,
        "image": version.image_ref,
        "imageType": version.image_type,
        "framework": version.framework,
        "frameworkStyle": version.framework_style,
        "saveType": version.save_type,
        "savePath": "/" + version.save_path if version.save_path and not version.save_path.startswith("/") else version.save_path,
        "configSaveType": version.config_save_type,
        "configPath": "/" + version.config_path if version.config_path else None,
        "trainTaskVersionId": version.train_task_version_id,
        "llmFineTuneTaskId": version.llm_fine_tune_task_id,
        "size": version.size_kb,
        "scale": version.scale,
        "parameterCount": version.parameter_count,
        "modelStructure": version.model_structure,
        "label": version.label,
        "hyperParameterList": json.dumps(version.hyper_parameters, ensure_ascii=False),
        "preDeployLabel": version.pre_deploy_label,
        "parameterStatus": 2 if version.parameter_count is not None else (1 if version.status == VersionStatus.IMPORTING else 0),
        "parameters": parameters_json(version),
        "originalParameters": selectors.version_config_text(version),
        "metrics": json_text(selectors.latest_evaluation_results(version)),
        "deployJson": None,
        "softVersion": None,
        "use": None,
        "fromMarket": 0,
        "isDelete": 0,
        "hideSourcePath": f"{app.repository.full_name}@{commit.oid}" if commit else None,
        "absolutePath": selectors.hub_revision_url(version),
        "commit": commit.oid if commit else None,
        "repoId": app.repository.full_name,
        "files": version.files,
        "createTime": spec_timestamp(version.created_at),
        "modifiedTime": spec_timestamp(version.modified_at),
    }


def json_body(request):
    if not isinstance(request.data, dict):
        raise InvalidInput("the body must be a JSON object")
    return request.data


def page_numbers(body):
    def number(name, default, high):
        value = body.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            raise InvalidInput(f"{name}: must be an integer")
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{name}: must be an integer") from None
        if not 0 <= value <= high:
            raise InvalidInput(f"{name}: must be between 0 and {high}")
        return value or default

    return number("pageNum", 1, 1_000_000), number("pageSize", 10, 100)


def clean_query_info(raw):
    """queryInfo filters: name (substring), type, developer, source, status."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput("queryInfo: must be an object")
    known = {"name", "type", "developer", "source", "status", "userName", "createUser"}
    unknown = set(raw) - known
    if unknown:
        raise InvalidInput(f"queryInfo: unknown filter {sorted(unknown)[0]!r}; use {', '.join(sorted(known))}")
    return {
        "name": services.clean_text(raw.get("name"), "queryInfo.name", 96),
        "type": services.clean_text(raw.get("type"), "queryInfo.type", 32),
        "developer": services.clean_text(raw.get("developer"), "queryInfo.developer", 100),
        "source": services.clean_int(raw.get("source"), "queryInfo.source", choices=VersionSource.values),
        "status": services.clean_int(raw.get("status"), "queryInfo.status", choices=VersionStatus.values),
        "userName": services.clean_text(raw.get("userName"), "queryInfo.userName", 150),
        "createUser": services.clean_text(raw.get("createUser"), "queryInfo.createUser", 150),
    }


def query_param(request, name):
    value = request.query_params.get(name)
    if not value:
        raise InvalidInput(f"{name}: is required")
    return value


class CreateApplicationView(APIView):
    """POST /model/aiApplication/createAiApplication"""

    envelope = ENVELOPE

    @extend_schema(
        tags=TAGS,
        summary="Create an application (or add versions to yours of that name); each version imports into the hub",
        request=inline_serializer(
            "CreateAiApplicationRequest",
            fields={
                "application": serializers.JSONField(help_text="name, type, description, developer"),
                "aiApplicationVersionList": serializers.JSONField(
                    help_text="versions: source (1 training result, 2 custom image, 3 local files), savePath, "
                    "image (name:tag for source 2), version, description, framework, ..."
                ),
                "hyperParameterList": serializers.JSONField(help_text="[{paramName, type, value, valueRange, edit}]"),
            },
        ),
        responses={200: BODY, **ERRORS},
    )
    def post(self, request):
        body = json_body(request)
        app, versions, hyper = services.create_applications_from_request(
            actor=request.user,
            application=body.get("application"),
            versions=body.get("aiApplicationVersionList"),
            hyper_parameters=body.get("hyperParameterList"),
        )
        app = selectors.get_application_for_user(request.user, app.uid)
        data = {
            "application": application_json(app),
            "aiApplicationVersionList": [version_json(v) for v in versions],
            "hyperParameterList": hyper,
        }
        return ok(ENVELOPE, data, message="success", code=SUCCESS)


class ApplicationListView(APIView):
    """POST /model/aiApplication/getAiApplicationList"""

    envelope = ENVELOPE

    @extend_schema(
        tags=TAGS,
        summary="Your applications, newest first, paged; filters in queryInfo",
        request=inline_serializer(
            "AiApplicationListRequest",
            fields={
                "pageNum": serializers.IntegerField(required=False, help_text="from 1 (0 means 1)"),
                "pageSize": serializers.IntegerField(required=False, help_text="default 10, at most 100"),
                "queryInfo": serializers.JSONField(required=False, help_text="name, type, developer, source, status"),
            },
        ),
        responses={200: BODY, **ERRORS},
    )
    def post(self, request):
        body = json_body(request)
        page_num, page_size = page_numbers(body)
        query = clean_query_info(body.get("queryInfo"))
        qs = selectors.filtered_applications(request.user, query)
        total = qs.count()
        start = (page_num - 1) * page_size
        rows = [application_json(app) for app in qs[start : start + page_size]]
        data = {"total": total, "rows": rows, "pageNum": page_num, "pageSize": page_size}
        return ok(ENVELOPE, data, message="success", code=SUCCESS)


ID_PARAM = OpenApiParameter("aiApplicationId", OpenApiTypes.STR, required=True)


class ApplicationDetailView(APIView):
    """GET /model/aiApplication/getAiApplicationDetail?aiApplicationId="""

    envelope = ENVELOPE

    @extend_schema(tags=TAGS, summary="One application", parameters=[ID_PARAM], responses={200: BODY, **ERRORS})
    def get(self, request):
        app = selectors.get_application_for_user(request.user, query_param(request, "aiApplicationId"))
        return ok(ENVELOPE, application_json(app), message="success", code=SUCCESS)


class VersionListView(APIView):
    """GET /model/aiApplicationVersion/getAiApplicationVersionList?aiApplicationId="""

    envelope = ENVELOPE

    @extend_schema(tags=TAGS, summary="An application's versions, newest first", parameters=[ID_PARAM],
                   responses={200: BODY, **ERRORS})
    def get(self, request):
        app = selectors.get_application_for_user(request.user, query_param(request, "aiApplicationId"))
        return ok(ENVELOPE, [version_json(v) for v in selectors.versions_of(app)], message="success", code=SUCCESS)


class VersionDetailView(APIView):
    """GET /model/aiApplicationVersion/getAiApplicationVersionDetail?aiApplicationVersionId="""

    envelope = ENVELOPE

    @extend_schema(
        tags=TAGS,
        summary="One version",
        parameters=[OpenApiParameter("aiApplicationVersionId", OpenApiTypes.STR, required=True)],
        responses={200: BODY, **ERRORS},
    )
    def get(self, request):
        version = selectors.resolve_version(request.user, query_param(request, "aiApplicationVersionId"))
        return ok(ENVELOPE, version_json(version), message="success", code=SUCCESS)


urlpatterns = [
    path("model/aiApplication/createAiApplication", CreateApplicationView.as_view(), name="spec-create"),
    path("model/aiApplication/getAiApplicationList", ApplicationListView.as_view(), name="spec-list"),
    path("model/aiApplication/getAiApplicationDetail", ApplicationDetailView.as_view(), name="spec-detail"),
    path("model/aiApplicationVersion/getAiApplicationVersionList", VersionListView.as_view(), name="spec-versions"),
    path(
        "model/aiApplicationVersion/getAiApplicationVersionDetail", VersionDetailView.as_view(), name="spec-version"
    ),
]
