"""hub-api.md facades: /api/modelLabel, /modelList, /api/model (GET, POST), /api/filesTable.

Answers are in the hub envelope {"code", "msg", "data"} with code 0 on success, as the
spec's examples; errors carry their HTTP status as code (core.envelopes).
"""

from urllib.parse import quote

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.envelopes import ok
from core.errors import AuthError, Forbidden, InvalidInput, NotFound

from . import selectors, services
from .models import TagCategory

ENVELOPE = inline_serializer(
    "HubEnvelope", {"code": serializers.IntegerField(), "msg": serializers.CharField(), "data": serializers.JSONField()}
)


def login_message(request):
    return "success" if request.user.is_authenticated else "no login"


def repo_summary(repo):
    return {
        "_id": repo.uid,
        "name": repo.full_name,
        "author": repo.owner.username,
        "lastModified": selectors.spec_datetime(repo.last_modified),
        "type": repo.type,
        "downloads": repo.downloads,
    }


def repo_detail(repo):
    return {
        "activeFilters": selectors.repo_tags_by_category(repo),
        "options": {
            "lastModified": selectors.iso_datetime(repo.last_modified),
            "lastModifiedInformation": repo.last_message,
            "name": repo.full_name,
            "author": repo.owner.username,
            "avatar": repo.owner.avatar_url,
            "downloads": repo.downloads,
            "id": repo.uid,
            "type": repo.type,
            "isPrivate": repo.private,
        },
    }


def readable_repository(request, name, type):
    """The repository for an anonymous or signed-in reader. Anonymous readers see public
    repositories; for anything else they are asked to log in (401), whether it is private or
    missing, so the answer tells them nothing about private names."""
    try:
        return selectors.find_repository(request.user, name, type)
    except NotFound:
        if not request.user.is_authenticated:
            raise AuthError(f"{name} is not a public repository; log in to see private ones") from None
        raise


def list_filters(params):
    return {category: selectors.parse_filter_values(params.get(category)) for category in TagCategory.values}


class ModelLabelView(APIView):
    envelope = "hub"
    permission_classes = [AllowAny]

    @extend_schema(tags=["hub-api"], responses=ENVELOPE, summary="Tag vocabulary by category")
    def get(self, request):
        return ok("hub", selectors.label_vocabulary(request.user), message=login_message(request), code=0)


class ModelListView(APIView):
    envelope = "hub"
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["hub-api"],
        summary="Models and datasets, 30 a page",
        parameters=[
            *[OpenApiParameter(c, OpenApiTypes.STR, description="tag name(s), comma separated") for c in TagCategory],
            OpenApiParameter("name", OpenApiTypes.STR, description="search in owner/name"),
            OpenApiParameter("sortType", OpenApiTypes.STR, description=", ".join(selectors.SORTS)),
            OpenApiParameter("pageIndex", OpenApiTypes.INT, description="1-based"),
            OpenApiParameter("type", OpenApiTypes.STR, description="model or dataset (default both)"),
        ],
        responses=ENVELOPE,
    )
    def get(self, request):
        params = request.query_params
        type = services.parse_repo_type(params.get("type"), default=None)
        qs = selectors.filtered_repositories(
            request.user, filters=list_filters(params), name=params.get("name", "").strip(), type=type
        )
        qs = selectors.order_repositories(qs, params.get("sortType"))
        rows, total = selectors.page_of(qs, selectors.parse_page_index(params.get("pageIndex")))
        data = {"modelList": [repo_summary(r) for r in rows], "numTotalItems": total}
        return ok("hub", data, message=login_message(request), code=0)


class CreateRepositorySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=250, help_text='"name" or "owner/name" (owner must be you)')
    type = serializers.ChoiceField(choices=["model", "dataset"], default="model")
    isPrivate = serializers.BooleanField(default=False)
    tags = serializers.JSONField(required=False, help_text="{task: [...], library: [...], ...}")
    activeFilters = serializers.JSONField(required=False, help_text="same as tags (the GET answer's shape)")
    license = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class ModelView(APIView):
    """GET reads a repository (public ones without login, as hub-api.md asks); POST creates one."""

    envelope = "hub"

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [AllowAny()]
        return super().get_permissions()

    @extend_schema(
        tags=["hub-api"],
        summary="One repository",
        parameters=[
            OpenApiParameter("name", OpenApiTypes.STR, required=True, description="owner/name"),
            OpenApiParameter("type", OpenApiTypes.STR, description="model or dataset (default: model first)"),
        ],
        responses=ENVELOPE,
    )
    def get(self, request):
        name = request.query_params.get("name", "")
        if not name:
            raise InvalidInput("name is required")
        type = services.parse_repo_type(request.query_params.get("type"), default=None)
        repo = readable_repository(request, name, type)
        return ok("hub", repo_detail(repo), code=0)

    @extend_schema(tags=["hub-api"], summary="Create a repository", request=CreateRepositorySerializer, responses=ENVELOPE)
    def post(self, request):
        body = CreateRepositorySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        name = data["name"]
        if "/" in name:
            owner, name = selectors.split_full_name(name)
            if owner != request.user.username:
                raise Forbidden("you can only create repositories under your own name")
        tags = data.get("tags", data.get("activeFilters"))
        repo = services.create_repository(
            owner=request.user,
            name=name,
            type=data["type"],
            private=data["isPrivate"],
            tags=tags,
            license_name=data["license"],
            description=data["description"],
        )
        return ok("hub", repo_detail(repo), code=0)


class FilesTableView(APIView):
    """Public repositories without login; a private one only for whoever may see it (404 otherwise)."""

    envelope = "hub"
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["hub-api"],
        summary="Files and folders of a repository folder",
        parameters=[
            OpenApiParameter("name", OpenApiTypes.STR, required=True, description="owner/name"),
            OpenApiParameter("type", OpenApiTypes.STR, description="model or dataset (default: model first)"),
            OpenApiParameter("path", OpenApiTypes.STR, description="folder inside the repository (default: root)"),
            OpenApiParameter("revision", OpenApiTypes.STR, description="main (default) or a commit id"),
        ],
        responses=ENVELOPE,
    )
    def get(self, request):
        params = request.query_params
        name = params.get("name", "")
        if not name:
            raise InvalidInput("name is required")
        repo = readable_repository(request, name, services.parse_repo_type(params.get("type"), None))
        revision = params.get("revision") or "main"
        folder = params.get("path", "").strip("/")
        if folder:
            folder = services.normalize_path(folder)
        if repo.head is None and revision == "main" and not folder:
            return ok("hub", {"filesTable": []}, code=0)
        commit = selectors.resolve_revision(repo, revision)
        listing = selectors.tree_listing(commit, folder)
        return ok("hub", {"filesTable": [file_row(request, repo, revision, item) for item in listing]}, code=0)


def file_row(request, repo, revision, item):
    commit = item["last_commit"]
    row = {
        "key": item["path"],
        "fileName": item["path"].rsplit("/", 1)[-1],
        "isAFolder": item["type"] == "directory",
        "lastModified": selectors.iso_datetime(commit.created_at),
        "lastModifiedInformation": commit.message,
    }
    if item["type"] == "file":
        row["size"] = item["entry"].blob.size
        row["fileURL"] = request.build_absolute_uri(resolve_url(repo, revision, item["path"]))
    return row


def resolve_url(repo, revision, file_path):

    return f"/{repo.url_prefix}{repo.full_name}/resolve/{quote(revision, safe='')}/{quote(file_path)}"


urlpatterns = [
    path("api/modelLabel", ModelLabelView.as_view(), name="model-label"),
    path("modelList", ModelListView.as_view(), name="model-list"),
    path("api/model", ModelView.as_view(), name="model"),
    path("api/filesTable", FilesTableView.as_view(), name="files-table"),
]
