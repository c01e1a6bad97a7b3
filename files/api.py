"""The clean JSON API of the file spaces, under /api/v1/files/.

Every call names a space ("private" or "public"), optionally an owner (a username;
default: the caller) and a path. Another user's private space answers 404; another
user's public space is read-only (403 on writes) except for platform admins.
"""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import storage_status
from core.parsers import NUL_MESSAGE, query_has_nul

from . import selectors, services
from .downloads import file_response
from .models import Space
from .paths import display, normalize_path
from .uploads import StreamedUploadMixin, placed_uploads


class TargetSerializer(serializers.Serializer):
    space = serializers.ChoiceField(choices=Space.values, default=Space.PRIVATE)
    owner = serializers.CharField(required=False, allow_blank=True, max_length=150)
    path = serializers.CharField(required=False, allow_blank=True, default="", max_length=4096, trim_whitespace=False)


# "from" is a Python keyword, so the move serializer is built with type().
MoveSerializer = type(
    "MoveSerializer",
    (TargetSerializer,),
    {
        "path": None,
        "from": serializers.CharField(max_length=4096, trim_whitespace=False),
        "to": serializers.CharField(max_length=4096, trim_whitespace=False),
    },
)


class EntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    path = serializers.SerializerMethodField()
    isDir = serializers.BooleanField(source="is_dir")  # noqa: N815 (the API's field name)
    size = serializers.IntegerField()
    modified = serializers.DateTimeField(source="modified_at")
    sha256 = serializers.SerializerMethodField()

    def get_path(self, node) -> str:
        return display(node.path)

    def get_sha256(self, node) -> str | None:
        return node.sha256 or None


class FolderListingSerializer(serializers.Serializer):
    owner = serializers.CharField(source="owner.username")
    space = serializers.CharField()
    path = serializers.CharField()
    items = EntrySerializer(many=True)


class UploadRequestSerializer(TargetSerializer):
    file = serializers.ListField(child=serializers.FileField(allow_empty_file=True))
    relativePath = serializers.ListField(child=serializers.CharField(), required=False)  # noqa: N815


class FilesUsageSerializer(serializers.Serializer):
    usedBytes = serializers.IntegerField(source="used_bytes")  # noqa: N815
    usedInodes = serializers.IntegerField(source="used_inodes")  # noqa: N815
    fileSpaceBytes = serializers.IntegerField(source="own_bytes")  # noqa: N815
    fileSpaceInodes = serializers.IntegerField(source="own_inodes")  # noqa: N815
    bytesQuota = serializers.IntegerField(source="quota.bytes_quota", allow_null=True)  # noqa: N815
    inodesQuota = serializers.IntegerField(source="quota.inodes_quota", allow_null=True)  # noqa: N815
    maxUploadBytes = serializers.IntegerField(source="max_upload_bytes")  # noqa: N815


TAGS = ["files"]


def target(request, serializer_class=TargetSerializer, data=None):
    """(owner, space, validated data) named by a request."""
    serializer = serializer_class(data=request.query_params if data is None else data)
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    owner = services.resolve_owner(request.user, values.get("owner"))
    return owner, values["space"], values


class ListView(APIView):
    """GET ?space=&owner=&path=: the entries of a folder."""

    @extend_schema(
        tags=TAGS, summary="List a folder", parameters=[TargetSerializer], responses=FolderListingSerializer
    )
    def get(self, request):
        owner, space, values = target(request)
        selectors.check_read(request.user, owner, space)
        path = normalize_path(values["path"])
        items = selectors.list_folder(owner, space, path)
        return Response(FolderListingSerializer({"owner": owner, "space": space, "path": display(path),
                                                 "items": items}).data)


class AnyContentNegotiation(BaseContentNegotiation):
    """A download answers bytes whatever the Accept header says (a NUL in the query is still a 400)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        if query_has_nul(request):
            raise ParseError(NUL_MESSAGE)
        return renderers[0], renderers[0].media_type


class DownloadView(APIView):
    """GET ?space=&owner=&path=: the file's bytes (Range, If-Range, If-None-Match, HEAD)."""

    content_negotiation_class = AnyContentNegotiation

    @extend_schema(
        tags=TAGS, summary="Download a file (Range supported)", parameters=[TargetSerializer],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   (206, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request):
        owner, space, values = target(request)
        selectors.check_read(request.user, owner, space)
        return file_response(request, selectors.get_file(owner, space, values["path"]))


class UploadView(StreamedUploadMixin, APIView):
    """POST multipart space, owner, path (the folder), file (repeated), relativePath (optional, one per file)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=TAGS, summary="Upload files into a folder",
        request={"multipart/form-data": UploadRequestSerializer},
        responses={201: inline_serializer("FilesUploaded", {"uploaded": serializers.ListField()})},
    )
    def post(self, request):
        owner, space, values = target(request, UploadRequestSerializer, data=request.data)
        selectors.check_write(request.user, owner, space)
        folder = normalize_path(values["path"])
        uploads = placed_uploads(folder, values["file"], values.get("relativePath"))
        paths = services.upload_files(actor=request.user, owner=owner, space=space, folder=folder, uploads=uploads)
        return Response({"uploaded": [display(p) for p in paths]}, status=status.HTTP_201_CREATED)


class FolderView(APIView):
    """POST {space, owner, path}: make a folder (and missing parents)."""

    @extend_schema(tags=TAGS, summary="Make a folder", request=TargetSerializer, responses={201: EntrySerializer})
    def post(self, request):
        owner, space, values = target(request, data=request.data)
        node = services.make_folder(actor=request.user, owner=owner, space=space, path=values["path"])
        return Response(EntrySerializer(node).data, status=status.HTTP_201_CREATED)


class DeleteView(APIView):
    """POST {space, owner, path}: delete a file, or a folder and everything in it."""

    @extend_schema(
        tags=TAGS, summary="Delete a file or a folder", request=TargetSerializer,
        responses=inline_serializer("FilesDeleted", {"deleted": serializers.IntegerField()}),
    )
    def post(self, request):
        owner, space, values = target(request, data=request.data)
        removed = services.delete_path(actor=request.user, owner=owner, space=space, path=values["path"])
        return Response({"deleted": removed})


class MoveView(APIView):
    """POST {space, owner, from, to}: move or rename inside one space."""

    @extend_schema(tags=TAGS, summary="Move or rename", request=MoveSerializer, responses=EntrySerializer)
    def post(self, request):
        owner, space, values = target(request, MoveSerializer, data=request.data)
        node = services.move_path(actor=request.user, owner=owner, space=space, source=values["from"], destination=values["to"])
        return Response(EntrySerializer(node).data)


class UsageView(APIView):
    """GET: the caller's storage use (every provider) and quota."""

    @extend_schema(tags=TAGS, summary="Storage use and quota", responses=FilesUsageSerializer)
    def get(self, request):
        own_bytes, own_inodes = selectors.storage_usage(request.user)
        usage = {**storage_status(request.user), "own_bytes": own_bytes, "own_inodes": own_inodes,
                 "max_upload_bytes": services.max_upload_bytes()}
        return Response(FilesUsageSerializer(usage).data)


urlpatterns = [
    path("api/v1/files/list", ListView.as_view(), name="api-list"),
    path("api/v1/files/download", DownloadView.as_view(), name="api-download"),
    path("api/v1/files/upload", UploadView.as_view(), name="api-upload"),
    path("api/v1/files/folders", FolderView.as_view(), name="api-folders"),
    path("api/v1/files/delete", DeleteView.as_view(), name="api-delete"),
    path("api/v1/files/move", MoveView.as_view(), name="api-move"),
    path("api/v1/files/usage", UsageView.as_view(), name="api-usage"),
]
