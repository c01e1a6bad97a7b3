"""The specs' account endpoints, as thin facades over accounts.services and selectors.

- hub-api.md: /api/login, /api/personalInformation, /api/register/verifyUsername,
  /api/register/submitUserInfo (JWT in the `Authorization` response header).
- chat-api.md: /myapp/register/, /myapp/login/ (also logs the Django session in).
- sgt-api.md: /sgt/private/update_auth_token, /sgt/public/check_auth_token.
- platform-api.md 4.5, 9.1, 9.2: remaining resources and storage quota.

Errors come out in each spec's envelope through core.envelopes.exception_handler.
"""

from django.contrib.auth import login as session_login
from django.urls import path
from django.utils import timezone
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.envelopes import ok
from core.facades import error_schema
from core.parsers import JSONParser

from . import selectors, services
from .serializers import (
    SPEC_DATETIME_FORMAT,
    CredentialsSerializer,
    HubRegistrationSerializer,
    RemainResourceRequestSerializer,
    SgtCheckTokenSerializer,
    SgtUpdateTokenSerializer,
    StorageQuotaRequestSerializer,
    UsernameSerializer,
)
from .throttling import LoginThrottle


class BearerJWTAuthenticationScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.BearerJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        definition = super().get_security_definition(auto_schema)
        definition["description"] = "JWT access token in Authorization, with or without the `Bearer ` prefix"
        return definition


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Secret-Key",
            "description": "X-Secret-Id and X-Secret-Key headers, or `Authorization: Bearer <secret_id>:<secret_key>`",
        }


class PublicAuthView(APIView):
    """Login and registration: public, under the one login throttle (accounts.throttling).

    No authenticators run: a stale or broken token sent along must not block a login.
    DRF views are exempt from Django's CSRF middleware and only SessionAuthentication
    enforces CSRF; with no authenticators, clients without a session (there is none
    before login or registration) need no CSRF token.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]


def token_headers(user):
    """The hub spec's login answer: the JWT access token, bare, in `Authorization`."""
    access, refresh = services.issue_tokens(user)
    return {
        "Authorization": access,
        "X-Refresh-Token": refresh,
        "Access-Control-Expose-Headers": "Authorization, X-Refresh-Token",
    }


def spec_time(value):
    return timezone.localtime(value).strftime(SPEC_DATETIME_FORMAT) if value else None


def validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- schema helpers ----------------------------------------------------------------


def hub_body(name, data=None):
    return inline_serializer(
        name,
        fields={
            "code": serializers.IntegerField(help_text="1 on success, the HTTP status on error"),
            "msg": serializers.CharField(),
            "data": data or serializers.CharField(help_text='"" '),
        },
    )


HUB_ERROR = OpenApiResponse(hub_body("HubError"), description='Error: code = HTTP status, data ""')
CHAT_BODY = inline_serializer(
    "ChatResult",
    fields={"code": serializers.IntegerField(help_text="0 on success, the HTTP status on error"), "msg": serializers.CharField()},
)
CHAT_ERROR = OpenApiResponse(CHAT_BODY, description="Error: code = HTTP status")
SGT_ERROR = OpenApiResponse(
    inline_serializer(
        "SgtError",
        fields={
            "exception": serializers.CharField(help_text="AuthException, ValidationException, ThrottledException..."),
            "message": serializers.CharField(),
        },
    ),
    description="Every SGT error answers status 400",
)


def plat_body(name, result):
    return inline_serializer(
        name,
        fields={
            "success": serializers.BooleanField(),
            "errorCode": serializers.IntegerField(help_text="200 on success, the HTTP status on error"),
            "message": serializers.CharField(),
            "result": result,
        },
    )


PLAT_ERROR = OpenApiResponse(
    error_schema("plat"),
    description="Error: success false, errorCode = HTTP status",
)


# --- hub-api.md --------------------------------------------------------------------


class HubLoginView(PublicAuthView):
    envelope = "hub"

    @extend_schema(
        tags=["hub (accounts)"],
        summary="Log in; the JWT comes back in the Authorization response header",
        request=CredentialsSerializer,
        responses={200: hub_body("HubLoginResult"), 400: HUB_ERROR, 401: HUB_ERROR, 429: HUB_ERROR},
    )
    def post(self, request):
        data = validated(CredentialsSerializer, request)
        user = services.login_with_password(data["username"], data["password"])
        return ok("hub", "", message="success", headers=token_headers(user))


class HubPersonalInformationView(APIView):
    envelope = "hub"

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated("no login")
        super().permission_denied(request, message=message, code=code)

    @extend_schema(
        tags=["hub (accounts)"],
        summary="The authenticated user's name, team and avatar URL",
        responses={
            200: hub_body(
                "HubPersonalInformation",
                inline_serializer(
                    "HubPersonalInformationData",
                    fields={
                        "username": serializers.CharField(),
                        "team": serializers.CharField(help_text='"" without a team'),
                        "avatar": serializers.CharField(help_text="URL of the avatar (a default one when none)"),
                    },
                ),
            ),
            401: HUB_ERROR,
        },
    )
    def get(self, request):
        user = request.user
        data = {"username": user.username, "team": user.team.name if user.team_id else "", "avatar": user.avatar_url}
        return ok("hub", data, message="success")


class HubVerifyUsernameView(PublicAuthView):
    envelope = "hub"

    @extend_schema(
        tags=["hub (accounts)"],
        summary="Check that a username is well formed and free",
        request=UsernameSerializer,
        responses={200: hub_body("HubVerifyUsernameResult"), 400: HUB_ERROR, 403: HUB_ERROR, 409: HUB_ERROR, 429: HUB_ERROR},
    )
    def post(self, request):
        services.ensure_registration_open()
        services.validate_username(validated(UsernameSerializer, request)["username"])
        return ok("hub", "", message="verification successful")


class HubSubmitUserInfoView(PublicAuthView):
    envelope = "hub"
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        tags=["hub (accounts)"],
        summary="Register (multipart, optional avatar); the JWT comes back in the Authorization header",
        request={"multipart/form-data": HubRegistrationSerializer, "application/json": HubRegistrationSerializer},
        responses={
            200: hub_body("HubRegistrationResult"),
            400: HUB_ERROR,
            403: HUB_ERROR,
            409: HUB_ERROR,
            413: HUB_ERROR,
            429: HUB_ERROR,
        },
    )
    def post(self, request):
        data = validated(HubRegistrationSerializer, request)
        user = services.register_user(
            username=data["username"], password=data["password"], team_name=data["team"], avatar=data.get("avatar")
        )
        if not user.is_active:  # REGISTRATION=approval: no token until an admin approves
            return ok("hub", "", message="registration received: an administrator must approve the account")
        return ok("hub", "", message="registration completed", headers=token_headers(user))


# --- chat-api.md -------------------------------------------------------------------


class ChatRegisterView(PublicAuthView):
    envelope = "chat"

    @extend_schema(
        tags=["chat (accounts)"],
        summary="Register (form-encoded or JSON)",
        request={"application/x-www-form-urlencoded": CredentialsSerializer, "application/json": CredentialsSerializer},
        responses={200: CHAT_BODY, 400: CHAT_ERROR, 403: CHAT_ERROR, 409: CHAT_ERROR, 429: CHAT_ERROR},
    )
    def post(self, request):
        data = validated(CredentialsSerializer, request)
        user = services.register_user(username=data["username"], password=data["password"])
        if not user.is_active:  # REGISTRATION=approval
            return ok("chat", message="registration received: an administrator must approve the account")
        return ok("chat", message="注册成功！")


class ChatLoginView(PublicAuthView):
    envelope = "chat"

    @extend_schema(
        tags=["chat (accounts)"],
        summary="Log in: sets the session cookie, and the JWT in the Authorization response header",
        request={"application/x-www-form-urlencoded": CredentialsSerializer, "application/json": CredentialsSerializer},
        responses={200: CHAT_BODY, 400: CHAT_ERROR, 401: CHAT_ERROR, 429: CHAT_ERROR},
    )
    def post(self, request):
        data = validated(CredentialsSerializer, request)
        user = services.login_with_password(data["username"], data["password"])
        # The chat app's clients keep a cookie session.
        session_login(request._request, user)
        return ok("chat", message="登陆成功", headers=token_headers(user))


# --- sgt-api.md ----------------------------------------------------------------------


class SgtUpdateAuthTokenView(PublicAuthView):
    """Guarded by the system key in the body (settings.SGT_SYSTEM_KEY), not by a user."""

    envelope = "sgt"

    @extend_schema(
        tags=["sgt (accounts)"],
        summary="Create or replace an API key (system key required)",
        request=SgtUpdateTokenSerializer,
        responses={200: OpenApiResponse({"type": "object", "nullable": True, "example": None}, description="JSON null"), 400: SGT_ERROR},
    )
    def post(self, request):
        data = validated(SgtUpdateTokenSerializer, request)
        services.set_api_key_by_system(
            system_key=data["key"],
            secret_id=data["secret_id"],
            secret_key=data["secret_key"],
            description=data["doc"],
            end_time=data["end_time"],
            username=data["username"],
        )
        return ok("sgt", None)


class SgtCheckAuthTokenView(PublicAuthView):
    envelope = "sgt"

    @extend_schema(
        tags=["sgt (accounts)"],
        summary="true when the key pair is valid, active and unexpired, else false",
        request=SgtCheckTokenSerializer,
        responses={200: OpenApiResponse(OpenApiTypes.BOOL, description="true or false"), 400: SGT_ERROR},
    )
    def post(self, request):
        data = validated(SgtCheckTokenSerializer, request)
        return ok("sgt", services.authenticate_api_key(data["secret_id"], data["secret_key"]) is not None)


# --- platform-api.md quotas ---------------------------------------------------------------

REMAIN_RESOURCE_RESULT = inline_serializer(
    "RemainResource",
    fields={
        "remainCpu": serializers.IntegerField(),
        "remainGpu": serializers.IntegerField(),
        "remainJobNum": serializers.IntegerField(),
        "remainMemory": serializers.FloatField(help_text="GB"),
        "remainMerory": serializers.FloatField(help_text="Same as remainMemory (the 4.5 table's spelling)"),
        "remainMig": serializers.IntegerField(),
        "remainVgpu": serializers.IntegerField(),
        "isInitConfig": serializers.BooleanField(help_text="false: default quota (no record)"),
        "startTime": serializers.CharField(allow_null=True, help_text="YYYY-MM-DD HH:MM:SS"),
        "endTime": serializers.CharField(allow_null=True, help_text="YYYY-MM-DD HH:MM:SS"),
    },
)


class RemainResourceView(APIView):
    envelope = "plat"

    @extend_schema(
        tags=["platform quotas (accounts)"],
        summary="Remaining compute quota (quota minus queued and running jobs)",
        request=RemainResourceRequestSerializer,
        responses={
            200: plat_body("RemainResourceResult", REMAIN_RESOURCE_RESULT),
            400: PLAT_ERROR,
            401: PLAT_ERROR,
            403: PLAT_ERROR,
            404: PLAT_ERROR,
        },
    )
    def post(self, request):
        subject = selectors.quota_subject(request.user, validated(RemainResourceRequestSerializer, request)["userId"])
        status = selectors.remaining_resources(subject)
        remain = status["remain"]
        result = {
            "remainCpu": remain["cpu"],
            "remainGpu": remain["gpu"],
            "remainJobNum": remain["job_slots"],
            "remainMemory": remain["memory_gb"],
            "remainMerory": remain["memory_gb"],
            "remainMig": remain["mig"],
            "remainVgpu": remain["vgpu"],
            "isInitConfig": status["initialized"],
            "startTime": spec_time(status["start_time"]),
            "endTime": spec_time(status["end_time"]),
        }
        return ok("plat", result, message="获取剩余资源成功", code=200)


UNLIMITED = "存储配额未开启-无限制"
NO_END = "无限制"
BLOCK_BYTES = 1024  # blocks as Linux quota tools count them (1 KiB)


def storage_result(status):
    if not status["initialized"]:
        result = {name: UNLIMITED for name in ("inodeQuota", "inodeUsed", "inodeRemain", "blockQuota", "blockUsed")}
        return {**result, "blockRemain": UNLIMITED, "startTime": UNLIMITED, "endTime": NO_END, "initConfig": False}
    used_blocks = -(-status["used_bytes"] // BLOCK_BYTES)
    quota_blocks = status["bytes_quota"] // BLOCK_BYTES
    return {
        "inodeQuota": status["inodes_quota"],
        "inodeUsed": status["used_inodes"],
        "inodeRemain": status["inodes_remain"],
        "blockQuota": quota_blocks,
        "blockUsed": used_blocks,
        "blockRemain": max(0, quota_blocks - used_blocks) if status["active"] else 0,
        "startTime": spec_time(status["start_time"]),
        "endTime": spec_time(status["end_time"]) or NO_END,
        "initConfig": True,
    }


QUOTA_VALUE = serializers.JSONField(help_text=f'integer, or "{UNLIMITED}" without a storage quota')
STORAGE_QUOTA_RESULT = inline_serializer(
    "StorageQuotaRemain",
    fields={
        "inodeQuota": QUOTA_VALUE,
        "inodeUsed": QUOTA_VALUE,
        "inodeRemain": QUOTA_VALUE,
        "blockQuota": serializers.JSONField(help_text="1 KiB blocks, or the unlimited string"),
        "blockUsed": serializers.JSONField(help_text="1 KiB blocks, or the unlimited string"),
        "blockRemain": serializers.JSONField(help_text="1 KiB blocks, or the unlimited string"),
        "startTime": serializers.CharField(allow_null=True),
        "endTime": serializers.CharField(help_text=f'YYYY-MM-DD HH:MM:SS or "{NO_END}"'),
        "initConfig": serializers.BooleanField(),
    },
)


class StorageQuotaRemainView(APIView):
    envelope = "plat"

    @extend_schema(
        tags=["platform quotas (accounts)"],
        summary="Storage quota (inodes and 1 KiB blocks) and use",
        request=StorageQuotaRequestSerializer,
        responses={
            200: plat_body("StorageQuotaRemainResult", STORAGE_QUOTA_RESULT),
            400: PLAT_ERROR,
            401: PLAT_ERROR,
            403: PLAT_ERROR,
            404: PLAT_ERROR,
        },
    )
    def post(self, request):
        subject = selectors.quota_subject(request.user, validated(StorageQuotaRequestSerializer, request)["userId"])
        return ok("plat", storage_result(selectors.storage_status(subject)), message="查询成功", code=200)


urlpatterns = [
    path("api/login", HubLoginView.as_view(), name="compat-hub-login"),
    path("api/personalInformation", HubPersonalInformationView.as_view(), name="compat-hub-personal-information"),
    path("api/register/verifyUsername", HubVerifyUsernameView.as_view(), name="compat-hub-verify-username"),
    path("api/register/submitUserInfo", HubSubmitUserInfoView.as_view(), name="compat-hub-submit-user-info"),
    path("myapp/register/", ChatRegisterView.as_view(), name="compat-chat-register"),
    path("myapp/login/", ChatLoginView.as_view(), name="compat-chat-login"),
    path("sgt/private/update_auth_token", SgtUpdateAuthTokenView.as_view(), name="compat-sgt-update-auth-token"),
    path("sgt/public/check_auth_token", SgtCheckAuthTokenView.as_view(), name="compat-sgt-check-auth-token"),
    path("api/system/config/getRemainResource", RemainResourceView.as_view(), name="compat-plat-remain-resource"),
    path("system/config/getRemainResource", RemainResourceView.as_view(), name="compat-plat-remain-resource-console"),
    path(
        "resource/configRemake/getQuotaRemainResource",
        StorageQuotaRemainView.as_view(),
        name="compat-plat-storage-quota",
    ),
]
