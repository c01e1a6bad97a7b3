"""platform-api.md 1.1 and 1.2: uploads into the private and public file spaces.

Answers are in the platform envelope {"success", "errorCode", "message", "result"} (core.facades);
the multipart fields are read by each view's Input serializer.
"""

from django.contrib.auth import get_user_model
from django.urls import path
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser

from core.errors import Forbidden, NotFound
from core.facades import FacadeView, Text, facade

from . import services
from .models import Space
from .paths import normalize_path
from .uploads import StreamedUploadMixin, placed_uploads

UPLOADED = "文件上传成功"


class PublicSpaceOwner(Text):
    """publicUserId (a user id or username): the caller's own, or for a platform admin anyone's."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip()
        if not value:
            self.fail("required")
        actor = self.context["request"].user
        if value in (str(actor.pk), actor.username):
            return actor
        if not actor.is_platform_admin:
            raise Forbidden("You may only upload to your own public space")
        users = get_user_model().objects
        owner = (users.filter(pk=int(value)).first() if value.isdigit() and len(value) < 19 else None) or \
            users.filter(username=value).first()
        if owner is None:
            raise NotFound(f"{self.field_name}: no user {value}")
        return owner


class UploadFolderView(StreamedUploadMixin, FacadeView):
    """POST /api/file/file/uploadFolder: files into the caller's private space."""

    envelope, tags = "plat", ["platform files (files)"]
    parser_classes = [MultiPartParser, FormParser]
    space = Space.PRIVATE

    class Input(serializers.Serializer):
        file = serializers.ListField(source="files", child=serializers.FileField(allow_empty_file=True),
                                     help_text="one or several files")
        currentPath = Text(source="folder", required=False, allow_blank=True, default="/",
                           help_text='folder in the space, default "/"')
        relativePath = serializers.ListField(source="relative_paths", child=Text(), required=False,
                                             help_text="optional, one per file: where it lands under currentPath")

    @facade(summary="Upload files into the private space")
    def post(self, request):
        data = self.input(request)
        folder = normalize_path(data["folder"] or "/", field="folder")
        uploads = placed_uploads(folder, data["files"], data.get("relative_paths"))
        services.upload_files(actor=request.user, owner=data.get("owner", request.user), space=self.space, folder=folder, uploads=uploads)
        return self.answer(None, message=UPLOADED)


class UploadPublicFolderView(UploadFolderView):
    """POST /api/file/file/uploadPublicFolder: files into publicUserId's public space."""

    space = Space.PUBLIC

    class Input(UploadFolderView.Input):
        publicUserId = PublicSpaceOwner(source="owner", help_text="user id or username (yours; any for an admin)")

    @facade(summary="Upload files into a user's public space (its owner or a platform admin)")
    def post(self, request):
        return super().post(request)


urlpatterns = [
    path("api/file/file/uploadFolder", UploadFolderView.as_view(), name="upload-folder"),
    path("api/file/file/uploadPublicFolder", UploadPublicFolderView.as_view(), name="upload-public-folder"),
]
