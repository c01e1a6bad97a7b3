"""The specs' account endpoints, as facades (core.facades) over accounts.services and selectors.

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
from rest_framework import exceptions, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny

from core.facades import FacadeView, facade
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

HUB, CHAT, SGT, QUOTAS = ["hub (accounts)"], ["chat (accounts)"], ["sgt (accounts)"], ["platform quotas (accounts)"]


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


class PublicAuthView(FacadeView):
    """Login and registration: public, under the one login throttle (accounts.throttling).

    No authenticators run: a stale or broken token sent along must not block a login.
    DRF views are exempt from Django's CSRF middleware and only SessionAuthentication
    enforces CSRF; with no authenticators, clients without a session (there is none
    before login or registration) need no CSRF token.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]


def with_token(response, user):
    """The hub spec's login answer: the JWT access token, bare, in `Authorization`."""
    access, refresh = services.issue_tokens(user)
    response["Authorization"], response["X-Refresh-Token"] = access, refresh
    response["Access-Control-Expose-Headers"] = "Authorization, X-Refresh-Token"
    return response


HUB_EMPTY = serializers.CharField(help_text='""')


# --- hub-api.md --------------------------------------------------------------------


class HubLoginView(PublicAuthView):
    envelope, tags, Input = "hub", HUB, CredentialsSerializer

    @facade(summary="Log in; the JWT comes back in the Authorization response header", output=HUB_EMPTY)
    def post(self, request):
        user = services.login_with_password(**self.input(request))
        return with_token(self.answer(""), user)


class HubPersonalInformationView(FacadeView):
    envelope, tags = "hub", HUB

    class Output(serializers.Serializer):
        username = serializers.CharField()
        team = serializers.SerializerMethodField(help_text='"" without a team')
        avatar = serializers.CharField(source="avatar_url", help_text="URL of the avatar (a default one when none)")

        def get_team(self, user) -> str:
            return user.team.name if user.team_id else ""

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated("no login")
        super().permission_denied(request, message=message, code=code)

    @facade(summary="The authenticated user's name, team and avatar URL", output=Output())
    def get(self, request):
        return self.answer(self.Output(request.user).data)


class HubVerifyUsernameView(PublicAuthView):
    envelope, tags, Input = "hub", HUB, UsernameSerializer

    @facade(summary="Check that a username is well formed and free", output=HUB_EMPTY)
    def post(self, request):
        services.ensure_registration_open()
        services.validate_username(self.input(request)["username"])
        return self.answer("", message="verification successful")


class HubSubmitUserInfoView(PublicAuthView):
    envelope, tags, Input = "hub", HUB, HubRegistrationSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @facade(summary="Register (multipart, optional avatar); the JWT comes back in the Authorization header",
            output=HUB_EMPTY)
    def post(self, request):
        data = self.input(request)
        user = services.register_user(username=data["username"], password=data["password"], team_name=data["team"],
                                      avatar=data.get("avatar"))
        if not user.is_active:  # REGISTRATION=approval: no token until an admin approves
            return self.answer("", message="registration received: an administrator must approve the account")
        return with_token(self.answer("", message="registration completed"), user)


# --- chat-api.md -------------------------------------------------------------------


class ChatRegisterView(PublicAuthView):
    envelope, tags, Input = "chat", CHAT, CredentialsSerializer

    @facade(summary="Register (form-encoded or JSON)")
    def post(self, request):
        user = services.register_user(**self.input(request))
        if not user.is_active:  # REGISTRATION=approval
            return self.answer(message="registration received: an administrator must approve the account")
        return self.answer(message="注册成功！")


class ChatLoginView(PublicAuthView):
    envelope, tags, Input = "chat", CHAT, CredentialsSerializer

    @facade(summary="Log in: sets the session cookie, and the JWT in the Authorization response header")
    def post(self, request):
        user = services.login_with_password(**self.input(request))
        session_login(request._request, user)  # the chat app's clients keep a cookie session
        return with_token(self.answer(message="登陆成功"), user)


# --- sgt-api.md ----------------------------------------------------------------------


class SgtUpdateAuthTokenView(PublicAuthView):
    """Guarded by the system key in the body (settings.SGT_SYSTEM_KEY), not by a user."""

    envelope, tags, Input = "sgt", SGT, SgtUpdateTokenSerializer

    @facade(summary="Create or replace an API key (system key required); answers null")
    def post(self, request):
        data = self.input(request)
        services.set_api_key_by_system(
            system_key=data["key"], secret_id=data["secret_id"], secret_key=data["secret_key"],
            description=data["doc"], end_time=data["end_time"], username=data["username"],
        )
        return self.answer(None)


class SgtCheckAuthTokenView(PublicAuthView):
    envelope, tags, Input = "sgt", SGT, SgtCheckTokenSerializer

    @facade(summary="true when the key pair is valid, active and unexpired, else false", output={"type": "boolean"})
    def post(self, request):
        return self.answer(services.authenticate_api_key(**self.input(request)) is not None)


# --- platform-api.md quotas ---------------------------------------------------------------

def spec_time(value):
    return timezone.localtime(value).strftime(SPEC_DATETIME_FORMAT) if value else None


def SpecTime(source):
    return serializers.DateTimeField(source=source, format=SPEC_DATETIME_FORMAT, allow_null=True, help_text="YYYY-MM-DD HH:MM:SS")


class RemainResourceView(FacadeView):
    envelope, tags, Input = "plat", QUOTAS, RemainResourceRequestSerializer

    class Output(serializers.Serializer):
        remainCpu = serializers.IntegerField(source="remain.cpu")
        remainGpu = serializers.IntegerField(source="remain.gpu")
        remainJobNum = serializers.IntegerField(source="remain.job_slots")
        remainMemory = serializers.FloatField(source="remain.memory_gb", help_text="GB")
        remainMerory = serializers.FloatField(source="remain.memory_gb", help_text="remainMemory (4.5's spelling)")
        remainMig = serializers.IntegerField(source="remain.mig")
        remainVgpu = serializers.IntegerField(source="remain.vgpu")
        isInitConfig = serializers.BooleanField(source="initialized", help_text="false: default quota (no record)")
        startTime = SpecTime("start_time")
        endTime = SpecTime("end_time")

    spec_fields = {"user": "userId"}

    @facade(summary="Remaining compute quota (quota minus queued and running jobs)", output=Output())
    def post(self, request):
        subject = selectors.quota_subject(request.user, self.input(request)["userId"])
        return self.answer(self.Output(selectors.remaining_resources(subject)).data, message="获取剩余资源成功")


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


class StorageQuotaRemainView(FacadeView):
    envelope, tags, Input = "plat", QUOTAS, StorageQuotaRequestSerializer

    class Output(serializers.Serializer):
        inodeQuota = serializers.JSONField(help_text=f'integer, or "{UNLIMITED}" without a storage quota')
        inodeUsed = serializers.JSONField(help_text=f'integer, or "{UNLIMITED}" without a storage quota')
        inodeRemain = serializers.JSONField(help_text=f'integer, or "{UNLIMITED}" without a storage quota')
        blockQuota = serializers.JSONField(help_text="1 KiB blocks, or the unlimited string")
        blockUsed = serializers.JSONField(help_text="1 KiB blocks, or the unlimited string")
        blockRemain = serializers.JSONField(help_text="1 KiB blocks, or the unlimited string")
        startTime = serializers.CharField(allow_null=True)
        endTime = serializers.CharField(help_text=f'YYYY-MM-DD HH:MM:SS or "{NO_END}"')
        initConfig = serializers.BooleanField()

    spec_fields = {"user": "userId"}

    @facade(summary="Storage quota (inodes and 1 KiB blocks) and use", output=Output())
    def post(self, request):
        subject = selectors.quota_subject(request.user, self.input(request)["userId"])
        return self.answer(self.Output(storage_result(selectors.storage_status(subject))).data, message="查询成功")


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
