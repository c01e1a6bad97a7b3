"""The hub's clean REST API under /api/v1/hub/: repositories (filtered, paged), commits, uploads."""

import django_filters
from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticatedOrReadOnly
from rest_framework.response import Response

from core.errors import InvalidInput, TooLarge

from . import selectors, services
from .models import Repository, RepoType

TAGS = ["hub"]
# Room for the multipart boundaries and form fields around the files themselves.
MULTIPART_OVERHEAD = 1024 * 1024


class HubRepoSerializer(serializers.Serializer):
    id = serializers.CharField(source="uid", read_only=True, help_text="24-hex public id")
    type = serializers.ChoiceField(choices=RepoType.choices, default=RepoType.MODEL)
    owner = serializers.CharField(source="owner.username", read_only=True)
    name = serializers.CharField(max_length=96)
    full_name = serializers.CharField(read_only=True, help_text="owner/name")
    private = serializers.BooleanField(default=False)
    license = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    tags = serializers.JSONField(required=False, help_text="{task: [...], library: [...], ...}")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="",
                                        write_only=True)
    downloads = serializers.IntegerField(read_only=True)
    head = serializers.CharField(source="head.oid", read_only=True, allow_null=True,
                                 help_text="the latest commit; null before the first")
    last_modified = serializers.DateTimeField(read_only=True)
    last_message = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, repo):
        return {**super().to_representation(repo), "tags": selectors.repo_tags_by_category(repo)}

    def create(self, data):
        data["license_name"] = data.pop("license")
        return services.create_repository(owner=self.context["request"].user, **data)


class HubCommitSerializer(serializers.Serializer):
    id = serializers.CharField(source="oid")
    parent = serializers.CharField(source="parent.oid", allow_null=True)
    message = serializers.CharField()
    author = serializers.CharField(source="author.username", allow_null=True)
    created_at = serializers.DateTimeField()


class HubUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField())
    paths = serializers.ListField(child=serializers.CharField(), required=False,
                                  help_text="relative paths, one per file in the same order (default: file names)")
    path = serializers.CharField(required=False, default="", allow_blank=True, help_text="folder to upload into")
    message = serializers.CharField(required=False, default="", allow_blank=True)


class HubUploadResultSerializer(HubCommitSerializer):
    files = serializers.ListField(child=serializers.CharField(), help_text="paths committed, sorted")


class RepositoryFilter(django_filters.FilterSet):
    task = django_filters.CharFilter(method="tagged", help_text="tag name(s), comma separated")
    library = django_filters.CharFilter(method="tagged")
    dataset = django_filters.CharFilter(method="tagged")
    language = django_filters.CharFilter(method="tagged")
    other = django_filters.CharFilter(method="tagged")
    search = django_filters.CharFilter(field_name="full_name", lookup_expr="icontains",
                                       max_length=selectors.NAME_SEARCH_MAX)
    type = django_filters.ChoiceFilter(choices=RepoType.choices)
    sort = django_filters.ChoiceFilter(choices=[(s, s) for s in selectors.SORTS], method="sorted",
                                       help_text=f"default {selectors.DEFAULT_SORT}")

    def tagged(self, qs, category, value):
        return selectors.with_tags(qs, {category: selectors.parse_filter_values(value)})

    def sorted(self, qs, name, value):
        return selectors.order_repositories(qs, value)


class RepositoryList(generics.ListCreateAPIView):
    """Repositories you can see (public ones without login), newest downloads first; POST creates one."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    serializer_class = HubRepoSerializer
    filterset_class = RepositoryFilter

    def get_queryset(self):
        qs = selectors.visible_repositories(self.request.user).select_related("owner", "head")
        return selectors.order_repositories(qs.prefetch_related("tags"), selectors.DEFAULT_SORT)


class RepositoryMixin:
    queryset = Repository.objects.none()  # the model, for the schema

    def get_object(self):
        kwargs = self.kwargs
        return selectors.get_repository(self.request.user, services.parse_repo_type(kwargs["type"]),
                                        kwargs["owner"], kwargs["name"])


class RepositoryDetail(RepositoryMixin, generics.RetrieveAPIView):
    permission_classes = [AllowAny]
    serializer_class = HubRepoSerializer


class CommitList(RepositoryMixin, generics.ListAPIView):
    """A repository's commits, newest first (at most 100)."""

    permission_classes = [AllowAny]
    serializer_class = HubCommitSerializer
    pagination_class = None
    filterset_class = None

    def get_queryset(self):
        return selectors.commits_of(self.get_object())


class Upload(RepositoryMixin, generics.GenericAPIView):
    parser_classes = [MultiPartParser]
    serializer_class = HubUploadSerializer

    @extend_schema(tags=TAGS, summary="Upload files to a repository as one commit",
                   responses={201: HubUploadResultSerializer})
    def post(self, request, **kwargs):
        repo = self.get_object()
        services.check_can_write(repo, request.user)
        # Refuse an oversized body before Django spools it to disk.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise InvalidInput("bad Content-Length") from None
        if length > settings.HUB_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
            raise TooLarge(f"an upload may carry at most {settings.HUB_MAX_UPLOAD_BYTES} bytes")
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        files, paths, folder = body.validated_data["files"], body.validated_data.get("paths"), body.validated_data["path"]
        if paths and len(paths) != len(files):
            raise InvalidInput("give one path per file, in the same order", field="paths")
        uploads = list(zip(paths or [f.name for f in files], files))
        commit = services.upload_files(repo=repo, user=request.user, uploads=uploads,
                                       message=body.validated_data["message"], prefix=folder)
        committed = sorted(services.normalize_path(p, prefix=folder) for p, _ in uploads)
        return Response({**HubCommitSerializer(commit).data, "files": committed}, status=201)


for view in (RepositoryList, RepositoryDetail, CommitList):
    extend_schema(tags=TAGS)(view)

REPO = "hub/repos/<str:type>/<str:owner>/<str:name>"
urlpatterns = [
    path("api/v1/hub/repos", RepositoryList.as_view(), name="api-repos"),
    path(f"api/v1/{REPO}", RepositoryDetail.as_view(), name="api-repo"),
    path(f"api/v1/{REPO}/commits", CommitList.as_view(), name="api-repo-commits"),
    path(f"api/v1/{REPO}/upload", Upload.as_view(), name="api-repo-upload"),
]
