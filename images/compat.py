"""platform-api.md section 2 (镜像管理): /docker/image/upload, /uploadOld, /findListSort.

Answers are in the platform envelope {"success", "errorCode", "message", "result"} with
errorCode 200 on success; errors carry their HTTP status as errorCode (core.envelopes). Built
from core.facades: each view's Input serializer reads the spec's fields, its Output serializer
writes the spec's shapes, and both are the OpenAPI document.
"""

from django.urls import path
from rest_framework import serializers

from core.facades import FacadeView, NameList, PageInput, Text, UserIdCheck, facade, optional_text, page

from . import selectors, services
from .models import ImageStatus

TAGS = ["platform images (images)"]


class ImageRow(serializers.Serializer):
    """One image as the spec lists it."""

    id = serializers.CharField(source="uid")
    imageName = serializers.CharField(source="name")
    imageDescribe = serializers.CharField(source="description")
    imageOverView = serializers.CharField(source="overview")
    imageLabel = serializers.SerializerMethodField()
    imageIcon = serializers.CharField(source="icon")
    imageStatus = serializers.SerializerMethodField()
    statusName = serializers.SerializerMethodField()
    imageTag = serializers.CharField(source="latest_tag", allow_null=True)
    tagNum = serializers.IntegerField(source="tag_count")
    imageSize = serializers.SerializerMethodField()
    createTime = serializers.SerializerMethodField()
    updateTime = serializers.SerializerMethodField()
    user_id = serializers.SerializerMethodField()

    def get_imageLabel(self, image) -> list[str] | None:
        return image.labels or None

    def _status(self, image):
        return ImageStatus(image.latest_status if image.latest_status is not None else ImageStatus.EMPTY)

    def get_imageStatus(self, image) -> int:
        return self._status(image).value

    def get_statusName(self, image) -> str:
        return self._status(image).label

    def get_imageSize(self, image) -> str:
        return selectors.human_size(image.latest_size or 0)

    def get_createTime(self, image) -> str:
        return selectors.spec_time(image.created_at)

    def get_updateTime(self, image) -> str:
        return selectors.spec_time(image.updated_at)

    def get_user_id(self, image) -> str:
        return str(image.owner_id)


class CreateImageView(FacadeView):
    """POST /docker/image/upload: a new (empty) image of the caller."""

    envelope, tags = "plat", TAGS

    class Input(serializers.Serializer):
        imageName = Text(source="name", help_text="lowercase, like dzq/45")
        imageIcon = optional_text(source="icon")
        imageOverView = optional_text(source="overview")
        imageLabel = serializers.ListField(source="labels", child=Text(), required=False, allow_null=True)
        imageDescribe = optional_text(source="description")
        userId = UserIdCheck()

    @facade(summary="Create an image record", output=ImageRow())
    def post(self, request):
        data = self.input(request)
        image = services.create_image(owner=request.user, **data)
        return self.answer(ImageRow(selectors.get_image_for_user(request.user, image.uid)).data,
                           message="新增镜像成功")


class UploadImageView(FacadeView):
    """POST /docker/image/uploadOld: import a tarball from the private file space as a tag."""

    envelope, tags = "plat", TAGS

    class Input(serializers.Serializer):
        fileUrl = Text(source="file_url", help_text="tarball path in your private file space")
        imageId = optional_text(source="image_id")
        imageName = serializers.JSONField(source="name", required=False, help_text="used (or created) without imageId")
        imageTag = optional_text(source="tag", help_text="default latest")
        userId = UserIdCheck()

        def validate(self, attrs):
            if attrs.get("image_id") in (None, "") and attrs.get("name") in (None, ""):
                raise serializers.ValidationError("imageId or imageName: one is required")
            return attrs

    class Output(serializers.Serializer):
        imageId = serializers.CharField(source="image.uid")
        imageName = serializers.CharField(source="image.name")
        imageTag = serializers.CharField(source="tag")
        imageStatus = serializers.IntegerField(source="status")
        statusName = serializers.CharField(source="get_status_display")
        jobId = serializers.IntegerField(source="import_job.pk")

    @facade(summary="Import an image tarball (docker save or OCI layout) as a tag", output=Output())
    def post(self, request):
        data = self.input(request)
        image = services.image_for_upload(owner=request.user, image_id=data.get("image_id"), name=data.get("name"))
        image_tag = services.start_import(owner=request.user, image=image, file_url=data["file_url"],
                                          tag=data.get("tag"))
        return self.answer(self.Output(image_tag).data, message="镜像开始上传")


class FindImagesView(FacadeView):
    """POST /docker/image/findListSort: the caller's images, newest first, paged."""

    envelope, tags = "plat", TAGS

    class Input(PageInput):
        imageName = NameList(source="names", required=False, help_text="a name or a list of names (substring)")
        userId = UserIdCheck()

    class Output(serializers.Serializer):
        total = serializers.IntegerField()
        rows = ImageRow(many=True)

    @facade(summary="List images (paged, name search, newest first)", output=Output())
    def post(self, request):
        data = self.input(request)
        total, images = page(selectors.search_images(request.user, data.get("names", [])), data)
        return self.answer(self.Output({"total": total, "rows": images}).data, message="success")


urlpatterns = [
    path("docker/image/upload", CreateImageView.as_view(), name="spec-upload"),
    path("docker/image/uploadOld", UploadImageView.as_view(), name="spec-upload-old"),
    path("docker/image/findListSort", FindImagesView.as_view(), name="spec-find-list-sort"),
]
