"""platform-api.md section 2 (镜像管理): /docker/image/upload, /uploadOld, /findListSort.

Answers are in the platform envelope {"success", "errorCode", "message", "result"} with
errorCode 200 on success; errors carry their HTTP status as errorCode (core.envelopes).
"""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from core.envelopes import ok
from core.errors import Forbidden, InvalidInput

from . import selectors, services
from .models import ImageStatus

PLAT_BODY = inline_serializer(
    "ImagesPlatBody",
    fields={
        "success": serializers.BooleanField(),
        "errorCode": serializers.IntegerField(help_text="200 on success, the HTTP status on error"),
        "message": serializers.CharField(),
        "result": serializers.JSONField(allow_null=True),
    },
)
ERRORS = {code: OpenApiResponse(PLAT_BODY, description="success false") for code in (400, 401, 403, 404, 409, 413)}


def json_body(request):
    if not isinstance(request.data, dict):
        raise InvalidInput("the body must be a JSON object")
    return request.data


def check_user_id(request, value, field="userId"):
    """A userId in the body is a check, never an identity."""
    if value in (None, ""):
        return
    if str(value) not in (str(request.user.pk), request.user.username):
        raise Forbidden(f"{field} does not match the signed-in user")


def image_row(image):
    status = image.latest_status if image.latest_status is not None else ImageStatus.EMPTY
    return {
        "id": image.uid,
        "imageName": image.name,
        "imageDescribe": image.description,
        "imageOverView": image.overview,
        "imageLabel": image.labels or None,
        "imageIcon": image.icon,
        "imageStatus": status,
        "statusName": ImageStatus(status).label,
        "imageTag": image.latest_tag,
        "tagNum": image.tag_count,
        "imageSize": selectors.human_size(image.latest_size or 0),
        "createTime": selectors.spec_time(image.created_at),
        "updateTime": selectors.spec_time(image.updated_at),
        "user_id": str(image.owner_id),
    }


def parse_page(body):
    def number(name, default, low, high):
        value = body.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            raise InvalidInput(f"{name}: must be an integer")
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{name}: must be an integer") from None
        if not low <= value <= high:
            raise InvalidInput(f"{name}: must be between {low} and {high}")
        return value

    page_num = number("pageNum", 1, 0, 1_000_000) or 1
    page_size = number("pageSize", selectors.PAGE_SIZE_DEFAULT, 0, selectors.PAGE_SIZE_MAX) or selectors.PAGE_SIZE_DEFAULT
    return page_num, page_size


class CreateImageView(APIView):
    """POST /docker/image/upload: a new (empty) image of the caller."""

    envelope = "plat"

    @extend_schema(
        tags=["platform images (images)"],
        summary="Create an image record",
        request=inline_serializer(
            "CreateImageRequest",
            fields={
                "imageName": serializers.CharField(help_text="lowercase, like dzq/45"),
                "imageIcon": serializers.CharField(required=False),
                "imageOverView": serializers.CharField(required=False),
                "imageLabel": serializers.ListField(child=serializers.CharField(), required=False),
                "imageDescribe": serializers.CharField(required=False),
                "userId": serializers.CharField(required=False, help_text="checked against the signed-in user"),
            },
        ),
        responses={200: PLAT_BODY, **ERRORS},
    )
    def post(self, request):
        body = json_body(request)
        check_user_id(request, body.get("userId"))
        image = services.create_image(
            owner=request.user,
            name=body.get("imageName"),
            icon=body.get("imageIcon"),
            overview=body.get("imageOverView"),
            labels=body.get("imageLabel"),
            description=body.get("imageDescribe"),
        )
        image = selectors.get_image_for_user(request.user, image.uid)
        return ok("plat", image_row(image), message="新增镜像成功")


class UploadImageView(APIView):
    """POST /docker/image/uploadOld: import a tarball from the private file space as a tag."""

    envelope = "plat"

    @extend_schema(
        tags=["platform images (images)"],
        summary="Import an image tarball (docker save or OCI layout) as a tag",
        request=inline_serializer(
            "UploadImageRequest",
            fields={
                "fileUrl": serializers.CharField(help_text="tarball path in your private file space"),
                "imageId": serializers.CharField(required=False),
                "imageName": serializers.CharField(required=False, help_text="used (or created) without imageId"),
                "imageTag": serializers.CharField(required=False, help_text="default latest"),
                "userId": serializers.CharField(required=False),
            },
        ),
        responses={200: PLAT_BODY, **ERRORS},
    )
    def post(self, request):
        body = json_body(request)
        check_user_id(request, body.get("userId"))
        image = services.image_for_upload(owner=request.user, image_id=body.get("imageId"), name=body.get("imageName"))
        image_tag = services.start_import(
            owner=request.user, image=image, file_url=body.get("fileUrl"), tag=body.get("imageTag")
        )
        result = {
            "imageId": image.uid,
            "imageName": image.name,
            "imageTag": image_tag.tag,
            "imageStatus": image_tag.status,
            "statusName": image_tag.get_status_display(),
            "jobId": image_tag.import_job.pk,
        }
        return ok("plat", result, message="镜像开始上传")


class FindImagesView(APIView):
    """POST /docker/image/findListSort: the caller's images, newest first, paged."""

    envelope = "plat"

    @extend_schema(
        tags=["platform images (images)"],
        summary="List images (paged, name search, newest first)",
        request=inline_serializer(
            "FindImagesRequest",
            fields={
                "pageNum": serializers.IntegerField(required=False, help_text="from 1"),
                "pageSize": serializers.IntegerField(required=False, help_text="default 10, at most 100"),
                "imageName": serializers.JSONField(required=False, help_text="a name or a list of names (substring)"),
                "userId": serializers.CharField(required=False),
            },
        ),
        responses={200: PLAT_BODY, **ERRORS},
    )
    def post(self, request):
        body = json_body(request)
        check_user_id(request, body.get("userId"))
        page_num, page_size = parse_page(body)
        names = body.get("imageName")
        if names in (None, ""):
            names = []
        elif isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or len(names) > 20 or not all(isinstance(n, str) and len(n) <= 128 for n in names):
            raise InvalidInput("imageName: a name or a list of at most 20 names")
        qs = selectors.search_images(request.user, [n.strip() for n in names if n.strip()])
        total = qs.count()
        start = (page_num - 1) * page_size
        rows = [image_row(image) for image in qs[start : start + page_size]]
        return ok("plat", {"total": total, "rows": rows}, message="success")


urlpatterns = [
    path("docker/image/upload", CreateImageView.as_view(), name="spec-upload"),
    path("docker/image/uploadOld", UploadImageView.as_view(), name="spec-upload-old"),
    path("docker/image/findListSort", FindImagesView.as_view(), name="spec-find-list-sort"),
]
