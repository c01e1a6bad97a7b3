"""platform-api.md 1.1 and 1.2: uploads into the private and public file spaces."""

from django.contrib.auth import get_user_model
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.views import APIView

from core.envelopes import ok
from core.errors import Forbidden, InvalidInput, NotFound

from . import services
from .models import Space
from .paths import normalize_path
from .uploads import StreamedUploadMixin, uploads_from_request

UPLOADED = "文件上传成功"


FILES = serializers.ListField(child=serializers.FileField(), help_text="one or several files")
RELATIVE_PATHS = serializers.ListField(
    child=serializers.CharField(), required=False, help_text="optional, one per file: where it lands under currentPath"
)
CURRENT_PATH = serializers.CharField(required=False, help_text='folder in the space, default "/"')
PLAT_BODY = inline_serializer(
    "FilesPlatBody",
    fields={
        "success": serializers.BooleanField(),
        "errorCode": serializers.IntegerField(help_text="200 on success, the HTTP status on error"),
        "message": serializers.CharField(),
        "result": serializers.JSONField(allow_null=True, help_text="null"),
    },
)
PLAT_ERROR = OpenApiResponse(PLAT_BODY, description="Error: success false, errorCode = HTTP status")
ERRORS = {code: PLAT_ERROR for code in (400, 401, 403, 404, 409, 413)}


def _current_path(request):
    return normalize_path(request.data.get("currentPath") or "/", field="currentPath")


class UploadFolderView(StreamedUploadMixin, APIView):
    """POST /api/file/file/uploadFolder: files into the caller's private space."""

    envelope = "plat"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=["platform files (files)"],
        summary="Upload files into the private space",
        request={
            "multipart/form-data": inline_serializer(
                "UploadFolderRequest",
                fields={"file": FILES, "currentPath": CURRENT_PATH, "relativePath": RELATIVE_PATHS},
            )
        },
        responses={200: PLAT_BODY, **ERRORS},
    )
    def post(self, request):
        folder = _current_path(request)
        uploads = uploads_from_request(request, folder)
        services.upload_files(request.user, request.user, Space.PRIVATE, folder, uploads)
        return ok("plat", None, message=UPLOADED)


def public_space_owner(actor, public_user_id):
    """The user whose public space `publicUserId` names: the caller, or anyone for an admin."""
    value = (public_user_id or "").strip()
    if not value:
        raise InvalidInput("publicUserId: this field is required")
    if value in (str(actor.pk), actor.username):
        return actor
    if not actor.is_platform_admin:
        raise Forbidden("You may only upload to your own public space")
    users = get_user_model().objects
    owner = (users.filter(pk=int(value)).first() if value.isdigit() and len(value) < 19 else None) or users.filter(username=value).first()
    if owner is None:
        raise NotFound(f"publicUserId: no user {value}")
    return owner


class UploadPublicFolderView(StreamedUploadMixin, APIView):
    """POST /api/file/file/uploadPublicFolder: files into publicUserId's public space."""

    envelope = "plat"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=["platform files (files)"],
        summary="Upload files into a user's public space (its owner or a platform admin)",
        request={
            "multipart/form-data": inline_serializer(
                "UploadPublicFolderRequest",
                fields={
                    "file": FILES,
                    "publicUserId": serializers.CharField(help_text="user id or username"),
                    "currentPath": CURRENT_PATH,
                    "relativePath": RELATIVE_PATHS,
                },
            )
        },
        responses={200: PLAT_BODY, **ERRORS},
    )
    def post(self, request):
        owner = public_space_owner(request.user, request.data.get("publicUserId"))
        folder = _current_path(request)
        uploads = uploads_from_request(request, folder)
        services.upload_files(request.user, owner, Space.PUBLIC, folder, uploads)
        return ok("plat", None, message=UPLOADED)


urlpatterns = [
    path("api/file/file/uploadFolder", UploadFolderView.as_view(), name="upload-folder"),
    path("api/file/file/uploadPublicFolder", UploadPublicFolderView.as_view(), name="upload-public-folder"),
]
