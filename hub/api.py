"""The hub's clean REST API under /api/v1/hub/: repositories, commits, uploads."""

from django.conf import settings
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput, TooLarge

from . import schema, selectors, services
from .models import TagCategory

# Room for the multipart boundaries and form fields around the files themselves.
MULTIPART_OVERHEAD = 1024 * 1024


def repo_json(repo):
    return {
        "id": repo.uid,
        "type": repo.type,
        "owner": repo.owner.username,
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "license": repo.license,
        "tags": selectors.repo_tags_by_category(repo),
        "downloads": repo.downloads,
        "head": repo.head.oid if repo.head_id else None,
        "last_modified": repo.last_modified,
        "last_message": repo.last_message,
        "created_at": repo.created_at,
    }


def commit_json(commit):
    return {
        "id": commit.oid,
        "parent": commit.parent.oid if commit.parent_id else None,
        "message": commit.message,
        "author": commit.author.username if commit.author_id else None,
        "created_at": commit.created_at,
    }


class RepoCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=96)
    type = serializers.ChoiceField(choices=["model", "dataset"], default="model")
    private = serializers.BooleanField(default=False)
    tags = serializers.JSONField(required=False, help_text="{task: [...], library: [...], ...}")
    license = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class RepoListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=schema.TAGS,
        summary="Repositories you can see, filtered by tags and name, one page at a time",
        operation_id="api_v1_hub_repos_list",
        parameters=[
            *[OpenApiParameter(c, OpenApiTypes.STR) for c in TagCategory],
            OpenApiParameter("search", OpenApiTypes.STR),
            OpenApiParameter("sort", OpenApiTypes.STR, description=", ".join(selectors.SORTS)),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("type", OpenApiTypes.STR),
        ],
        responses={200: schema.REPO_PAGE, **schema.READ_ERRORS},
    )
    def get(self, request):
        params = request.query_params
        filters = {c: selectors.parse_filter_values(params.get(c)) for c in TagCategory.values}
        qs = selectors.filtered_repositories(
            request.user,
            filters=filters,
            name=params.get("search", "").strip(),
            type=services.parse_repo_type(params.get("type"), default=None),
        )
        qs = selectors.order_repositories(qs, params.get("sort")).prefetch_related("tags").select_related("head")
        rows, total = selectors.page_of(qs, selectors.parse_page_index(params.get("page")))
        return Response({"count": total, "page_size": selectors.PAGE_SIZE, "results": [repo_json(r) for r in rows]})

    @extend_schema(
        tags=schema.TAGS,
        summary="Create a repository",
        request=RepoCreateSerializer,
        responses={201: schema.REPO, **schema.WRITE_ERRORS},
    )
    def post(self, request):
        if not request.user.is_authenticated:

            raise NotAuthenticated()
        body = RepoCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        repo = services.create_repository(
            owner=request.user,
            name=data["name"],
            type=data["type"],
            private=data["private"],
            tags=data.get("tags"),
            license_name=data["license"],
            description=data["description"],
        )
        return Response(repo_json(repo), status=201)


class RepoDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=schema.TAGS, summary="One repository", responses={200: schema.REPO, **schema.READ_ERRORS}
    )
    def get(self, request, type, owner, name):
        repo = selectors.get_repository(request.user, services.parse_repo_type(type), owner, name)
        return Response(repo_json(repo))


class CommitListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=schema.TAGS,
        summary="A repository's commits, newest first (at most 100)",
        responses={200: schema.COMMITS, **schema.READ_ERRORS},
    )
    def get(self, request, type, owner, name):
        repo = selectors.get_repository(request.user, services.parse_repo_type(type), owner, name)
        return Response([commit_json(c) for c in selectors.commits_of(repo)])


class UploadView(APIView):
    """Multipart: `files` (repeated), `paths` (repeated, relative paths in the same order;
    default: each file's name), `path` (folder to upload into), `message`."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=schema.TAGS,
        summary="Upload files to a repository as one commit",
        request={
            "multipart/form-data": inline_serializer(
                "HubUpload",
                {
                    "files": serializers.ListField(child=serializers.FileField()),
                    "paths": serializers.ListField(child=serializers.CharField(), required=False),
                    "path": serializers.CharField(required=False),
                    "message": serializers.CharField(required=False),
                },
            )
        },
        responses={
            201: schema.UPLOAD_RESULT,
            **schema.WRITE_ERRORS,
            413: OpenApiResponse(schema.ERROR.response, description="Too many or too large files"),
        },
    )
    def post(self, request, type, owner, name):
        repo = selectors.get_repository(request.user, services.parse_repo_type(type), owner, name)
        services.check_can_write(repo, request.user)
        # Refuse an oversized body before Django spools it to disk.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise InvalidInput("bad Content-Length") from None
        if length > settings.HUB_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
            raise TooLarge(f"an upload may carry at most {settings.HUB_MAX_UPLOAD_BYTES} bytes")
        files = request.FILES.getlist("files")
        paths = request.data.getlist("paths") if hasattr(request.data, "getlist") else []
        if paths and len(paths) != len(files):
            raise InvalidInput("give one path per file, in the same order")
        uploads = list(zip(paths or [f.name for f in files], files))
        commit = services.upload_files(
            repo=repo,
            user=request.user,
            uploads=uploads,
            message=request.data.get("message", ""),
            prefix=request.data.get("path", ""),
        )
        prefix = request.data.get("path", "")
        committed = sorted(services.normalize_path(p, prefix=prefix) for p, _ in uploads)
        return Response({**commit_json(commit), "files": committed}, status=201)


REPO = "hub/repos/<str:type>/<str:owner>/<str:name>"
urlpatterns = [
    path("api/v1/hub/repos", RepoListView.as_view(), name="api-repos"),
    path(f"api/v1/{REPO}", RepoDetailView.as_view(), name="api-repo"),
    path(f"api/v1/{REPO}/commits", CommitListView.as_view(), name="api-repo-commits"),
    path(f"api/v1/{REPO}/upload", UploadView.as_view(), name="api-repo-upload"),
]
