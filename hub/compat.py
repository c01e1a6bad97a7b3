"""hub-api.md facades: /api/modelLabel, /modelList, /api/model (GET, POST), /api/filesTable.

Answers are in the hub envelope {"code", "msg", "data"} with code 0 on success, as the spec's
examples; errors carry their HTTP status as code. Built from core.facades: each view's Input
reads the spec's query or body fields, its Output writes the spec's shapes, both are the OpenAPI
document. Reading needs no login (public repositories); creating does.
"""

from django.urls import path
from django.utils import timezone
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated

from core.errors import AuthError, Forbidden, NotFound
from core.facades import FacadeView, StrictInteger, Text, facade

from . import selectors, services
from .hf import iso_datetime, resolve_url
from .models import TagCategory

# sortType: the list's sort names, and the Hub's camelCase ones.
SORT_TYPES = {**{name: name for name in selectors.SORTS}, "lastModified": "modified", "createdAt": "created"}


class RepoType(Text):
    """model or dataset (also plural or capitalised); missing: both, model first."""

    def to_internal_value(self, data):
        return services.parse_repo_type(super().to_internal_value(data), default=None)


class TagNames(Text):
    """Tag names, comma separated (all must match)."""

    def __init__(self, **kwargs):
        super().__init__(required=False, max_length=1000, help_text="tag name(s), comma separated", **kwargs)

    def to_internal_value(self, data):
        return [name.strip() for name in super().to_internal_value(data).split(",") if name.strip()]


class HubTime(serializers.DateTimeField):
    """"2021-05-18T18:13:48.109Z", as the spec's examples."""

    def to_representation(self, value):
        return iso_datetime(value)


class HubTags(serializers.Serializer):
    """Tag names by category."""

    task = serializers.ListField(child=serializers.CharField())
    library = serializers.ListField(child=serializers.CharField())
    dataset = serializers.ListField(child=serializers.CharField())
    language = serializers.ListField(child=serializers.CharField())
    other = serializers.ListField(child=serializers.CharField())


class HubRepositoryRow(serializers.Serializer):
    _id = serializers.CharField(source="uid")
    name = serializers.CharField(source="full_name")
    author = serializers.CharField(source="owner.username")
    lastModified = serializers.SerializerMethodField(help_text='"2023/5/9 16:37", local time')
    type = serializers.CharField()
    downloads = serializers.IntegerField()

    def get_lastModified(self, repo) -> str:
        local = timezone.localtime(repo.last_modified)
        return f"{local.year}/{local.month}/{local.day} {local.hour}:{local.minute:02d}"


class HubRepositoryOptions(serializers.Serializer):
    lastModified = HubTime(source="last_modified")
    lastModifiedInformation = serializers.CharField(source="last_message")
    name = serializers.CharField(source="full_name")
    author = serializers.CharField(source="owner.username")
    avatar = serializers.CharField(source="owner.avatar_url")
    downloads = serializers.IntegerField()
    id = serializers.CharField(source="uid")
    type = serializers.CharField()
    isPrivate = serializers.BooleanField(source="private")


class HubRepository(serializers.Serializer):
    activeFilters = HubTags(source="tags")
    options = HubRepositoryOptions(source="repo")

    def __init__(self, repo=None, **kwargs):
        if repo is not None:
            repo = {"repo": repo, "tags": selectors.repo_tags_by_category(repo)}
        super().__init__(repo, **kwargs)


class HubView(FacadeView):
    envelope, tags = "hub", ["hub-api"]
    permission_classes = [AllowAny]

    def answer(self, data=None, *, message="success", code=0, status_code=200):
        return super().answer(data, message=message, code=code, status_code=status_code)

    def login_message(self):
        return "success" if self.request.user.is_authenticated else "no login"

    def readable_repository(self, name, type):
        """Anonymous readers see public repositories; for anything else they are asked to log in
        (401), private or missing alike, so the answer tells nothing about private names."""
        try:
            return selectors.find_repository(self.request.user, name, type)
        except NotFound:
            if not self.request.user.is_authenticated:
                raise AuthError(f"{name} is not a public repository; log in to see private ones") from None
            raise


class ModelLabelView(HubView):
    @facade(summary="Tag vocabulary by category", output=HubTags())
    def get(self, request):
        return self.answer(selectors.label_vocabulary(request.user), message=self.login_message())


class ModelListView(HubView):
    class Input(serializers.Serializer):
        task = TagNames()
        library = TagNames()
        dataset = TagNames()
        language = TagNames()
        other = TagNames()
        name = Text(source="search", required=False, default="", max_length=selectors.NAME_SEARCH_MAX,
                    help_text="in owner/name")
        sortType = serializers.ChoiceField(source="sort", choices=list(SORT_TYPES), default=selectors.DEFAULT_SORT)
        pageIndex = StrictInteger(source="page", default=1, min_value=1, max_value=1_000_000, help_text="from 1")
        type = RepoType(required=False, help_text="model or dataset (default both)")

    class Output(serializers.Serializer):
        modelList = HubRepositoryRow(many=True, source="rows")
        numTotalItems = serializers.IntegerField(source="total")

    @facade(summary="Models and datasets, 30 a page", output=Output())
    def get(self, request):
        data = self.input(request)
        tags = {c: data.get(c, []) for c in TagCategory.values}
        qs = selectors.filtered_repositories(request.user, filters=tags, name=data["search"].strip(),
                                             type=data.get("type"))
        rows, total = selectors.page_of(selectors.order_repositories(qs, SORT_TYPES[data["sort"]]), data["page"])
        return self.answer(self.Output({"rows": rows, "total": total}).data, message=self.login_message())


class ModelView(HubView):
    """GET reads a repository (public ones without login); POST creates one."""

    class Input(serializers.Serializer):
        name = Text(max_length=250, help_text='"name" or "owner/name" (owner must be you)')
        type = RepoType(required=False, default="model")
        isPrivate = serializers.BooleanField(source="private", default=False)
        tags = serializers.JSONField(required=False, help_text="{task: [...], library: [...], ...}")
        activeFilters = serializers.JSONField(required=False, help_text="same as tags (the GET answer's shape)")
        license = Text(source="license_name", max_length=64, required=False, allow_blank=True, default="")
        description = Text(max_length=5000, required=False, allow_blank=True, default="")

    class Read(serializers.Serializer):
        name = Text(help_text="owner/name")
        type = RepoType(required=False, help_text="model or dataset (default: model first)")

    def get_permissions(self):
        return [AllowAny() if self.request.method in ("GET", "HEAD", "OPTIONS") else IsAuthenticated()]

    @facade(summary="One repository", input=Read(), name="ReadModel", output=HubRepository())
    def get(self, request):
        data = self.input(request, self.Read)
        return self.answer(HubRepository(self.readable_repository(data["name"], data.get("type"))).data)

    @facade(summary="Create a repository", output=HubRepository())
    def post(self, request):
        data = self.input(request)
        if "/" in data["name"]:
            owner, data["name"] = selectors.split_full_name(data["name"])
            if owner != request.user.username:
                raise Forbidden("you can only create repositories under your own name")
        data["tags"] = data.get("tags", data.pop("activeFilters", None))
        return self.answer(HubRepository(services.create_repository(owner=request.user, **data)).data)


class HubFileRow(serializers.Serializer):
    key = serializers.CharField(source="path")
    fileName = serializers.CharField(source="name")
    isAFolder = serializers.SerializerMethodField()
    lastModified = HubTime(source="last_commit.created_at")
    lastModifiedInformation = serializers.CharField(source="last_commit.message")
    size = serializers.IntegerField(source="entry.blob.size", required=False, help_text="files only")
    fileURL = serializers.CharField(source="url", required=False, help_text="files only")

    def get_isAFolder(self, item) -> bool:
        return item["type"] == "directory"


class FilesTableView(HubView):
    """Public repositories without login; a private one only for whoever may see it (404 otherwise)."""

    class Input(serializers.Serializer):
        name = Text(help_text="owner/name")
        type = RepoType(required=False, help_text="model or dataset (default: model first)")
        path = Text(source="folder", required=False, default="", help_text="folder inside the repository")
        revision = Text(required=False, default="main", help_text="main (default) or a commit id")

    class Output(serializers.Serializer):
        filesTable = HubFileRow(many=True)

    @facade(summary="Files and folders of a repository folder", output=Output())
    def get(self, request):
        data = self.input(request)
        repo = self.readable_repository(data["name"], data.get("type"))
        revision = data["revision"] or "main"
        folder = data["folder"].strip("/")
        folder = services.normalize_path(folder) if folder else ""
        rows = []
        if repo.head is not None or revision != "main" or folder:
            for item in selectors.tree_listing(selectors.resolve_revision(repo, revision), folder):
                if item["type"] == "file":
                    item["url"] = request.build_absolute_uri(resolve_url(repo, revision, item["path"]))
                rows.append(item)
        return self.answer(self.Output({"filesTable": rows}).data)


urlpatterns = [
    path("api/modelLabel", ModelLabelView.as_view(), name="model-label"),
    path("modelList", ModelListView.as_view(), name="model-list"),
    path("api/model", ModelView.as_view(), name="model"),
    path("api/filesTable", FilesTableView.as_view(), name="files-table"),
]
