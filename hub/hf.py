"""The Hugging Face Hub read API, so that huggingface_hub and transformers work unchanged
with HF_ENDPOINT (or endpoint=) pointing at Crucible.

Routes (models; datasets the same under /api/datasets/ and /datasets/):
- GET /api/models/<owner>/<name>[/revision/<rev>]       repo_info / model_info
- GET /api/models/<owner>/<name>/tree/<rev>[/<path>]    list_repo_tree / list_repo_files
- GET|HEAD /<owner>/<name>/resolve/<rev>/<path>         hf_hub_download, from_pretrained

Errors answer {"error": ...} with the X-Error-Code header the client maps to its
exceptions (RepoNotFound, RevisionNotFound, EntryNotFound). A private repository is
answered 401 to anonymous callers and 404 to other users, as the Hub does.
"""

import datetime
from urllib.parse import quote

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import DomainError
from core.ranges import serve_stored_file

from . import selectors, services
from .models import RepoType
from .storage import LFS_THRESHOLD, lfs_pointer


def iso_datetime(value):
    """The Hub's date format: "2021-05-18T18:13:48.109Z" (UTC, milliseconds)."""
    utc = value.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def resolve_url(repo, revision, file_path):
    """The path of a file's resolve route (what hf_hub_download fetches)."""
    return f"/{repo.url_prefix}{repo.full_name}/resolve/{quote(revision, safe='')}/{quote(file_path)}"


class HubCompatView(APIView):
    """Anyone may call; visibility is checked per repository. Errors in the Hub's shape."""

    permission_classes = [AllowAny]
    repo_type = RepoType.MODEL

    def handle_exception(self, exc):
        if isinstance(exc, DomainError):
            status = exc.status_code
            code = getattr(exc, "hf_code", None)
            if code == "RepoNotFound" and not self.request.user.is_authenticated:
                status = 401
            headers = {"X-Error-Message": exc.message}
            if code:
                headers["X-Error-Code"] = code
            commit = getattr(self, "resolved_commit", None)
            if commit is not None:
                headers["X-Repo-Commit"] = commit.oid
            if self.request.method == "HEAD":
                return HttpResponse(status=status, headers=headers)
            return Response({"error": exc.message}, status=status, headers=headers)
        response = super().handle_exception(exc)
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        if detail is not None:  # DRF's own errors (authentication, parsing) in the Hub's shape too
            response.data = {"error": str(detail)}
            response["X-Error-Message"] = str(detail)
        return response

    def repository(self, owner, name):
        return selectors.get_repository(self.request.user, self.repo_type, owner, name)


def card_metadata(repo):
    metadata, _ = selectors.split_front_matter(selectors.readme_text(repo.head))
    return metadata


def pointer_size(blob):
    return len(lfs_pointer(blob.sha256, blob.size))


def sibling(entry, with_blobs):
    item = {"rfilename": entry.path}
    if with_blobs:
        item.update(size=entry.blob.size, blobId=entry.blob.git_oid)
        if entry.blob.size >= LFS_THRESHOLD:
            item["lfs"] = {"sha256": entry.blob.sha256, "size": entry.blob.size, "pointerSize": pointer_size(entry.blob)}
    return item


@extend_schema(exclude=True)
class RepoInfoView(HubCompatView):
    def get(self, request, owner, name, revision=None):
        repo = self.repository(owner, name)
        commit = selectors.resolve_revision(repo, revision) if (revision or repo.head) else None
        with_blobs = request.query_params.get("blobs", "").lower() in ("1", "true")
        entries = list(commit.entries.select_related("blob")) if commit else []
        tags = selectors.repo_tags_by_category(repo, ids=True)  # the Hub's own ids: text-generation, en
        flat_tags = [name for names in tags.values() for name in names]
        data = {
            "_id": repo.uid,
            "id": repo.full_name,
            "author": repo.owner.username,
            "sha": commit.oid if commit else None,
            "lastModified": iso_datetime(commit.created_at if commit else repo.last_modified),
            "createdAt": iso_datetime(repo.created_at),
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": 0,
            "tags": flat_tags,
            "cardData": card_metadata(repo) if commit else {},
            "siblings": [sibling(e, with_blobs) for e in entries],
            "usedStorage": sum(e.blob.size for e in entries),
        }
        if repo.type == RepoType.MODEL:
            data["modelId"] = repo.full_name
            if tags["task"]:
                data["pipeline_tag"] = tags["task"][0]
            if tags["library"]:
                data["library_name"] = tags["library"][0]
        return Response(data)


@extend_schema(exclude=True)
class TreeView(HubCompatView):
    def get(self, request, owner, name, revision, subpath=""):
        repo = self.repository(owner, name)
        if repo.head is None and revision in ("main", "refs/heads/main"):
            return Response([])  # an empty repository lists no files, as on the Hub
        commit = selectors.resolve_revision(repo, revision)
        recursive = request.query_params.get("recursive", "").lower() in ("1", "true")
        listing = selectors.tree_listing(commit, subpath, recursive=recursive)
        expand = request.query_params.get("expand", "").lower() in ("1", "true")
        return Response([tree_item(commit, item, expand) for item in listing])


def tree_item(commit, item, expand):
    last = item["last_commit"]
    if item["type"] == "directory":
        data = {"type": "directory", "oid": selectors.folder_oid(commit, item["path"]), "size": 0, "path": item["path"]}
    else:
        blob = item["entry"].blob
        data = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": item["path"]}
        if blob.size >= LFS_THRESHOLD:
            data["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": pointer_size(blob)}
    if expand:
        data["lastCommit"] = {"id": last.oid, "title": last.message, "date": iso_datetime(last.created_at)}
    return data


@extend_schema(exclude=True)
class ResolveView(HubCompatView):
    """One file of a revision, with the headers hf_hub_download reads (X-Repo-Commit,
    ETag, Content-Length, X-Linked-*), HEAD, and single byte ranges (206)."""

    def get(self, request, owner, name, revision, file_path):
        return self.answer(request, owner, name, revision, file_path, head=False)

    def head(self, request, owner, name, revision, file_path):
        return self.answer(request, owner, name, revision, file_path, head=True)

    def answer(self, request, owner, name, revision, file_path, head):
        repo = self.repository(owner, name)
        if repo.head is None and revision in ("main", "refs/heads/main"):
            # On the Hub a new repository's main exists (with .gitattributes); here it is empty,
            # so a file of it is missing, not the branch (ModelCard.load relies on this).
            raise selectors.EntryNotFound(f"{file_path} not found: {repo.full_name} has no commits yet")
        commit = selectors.resolve_revision(repo, revision)
        self.resolved_commit = commit
        entry = selectors.entry_at(commit, file_path)
        blob = entry.blob
        size = blob.size
        lfs = size >= LFS_THRESHOLD
        etag = f'"{blob.sha256 if lfs else blob.git_oid}"'
        headers = {"X-Repo-Commit": commit.oid}
        if lfs:
            headers["X-Linked-Etag"] = etag
            headers["X-Linked-Size"] = str(size)
        response, byte_range = serve_stored_file(
            request,
            storage_name=blob.storage_name,
            size=size,
            etag=etag,
            content_type="application/octet-stream",
            filename=file_path.rsplit("/", 1)[-1],
            headers=headers,
        )
        if not head and response.status_code < 300 and (byte_range is None or byte_range[0] == 0):
            if services.counts_as_download(commit, file_path):
                services.record_download(repo)
        return response


class DatasetRepoInfoView(RepoInfoView):
    repo_type = RepoType.DATASET


class DatasetTreeView(TreeView):
    repo_type = RepoType.DATASET


class DatasetResolveView(ResolveView):
    repo_type = RepoType.DATASET


urlpatterns = []
for prefix, info_view, tree_view, resolve_view, resolve_prefix in (
    ("datasets", DatasetRepoInfoView, DatasetTreeView, DatasetResolveView, "datasets/"),
    ("models", RepoInfoView, TreeView, ResolveView, ""),
):
    urlpatterns += [
        path(f"api/{prefix}/<str:owner>/<str:name>", info_view.as_view(), name=f"hf-{prefix}-info"),
        path(
            f"api/{prefix}/<str:owner>/<str:name>/revision/<str:revision>",
            info_view.as_view(),
            name=f"hf-{prefix}-revision",
        ),
        path(f"api/{prefix}/<str:owner>/<str:name>/tree/<str:revision>", tree_view.as_view(), name=f"hf-{prefix}-tree"),
        path(
            f"api/{prefix}/<str:owner>/<str:name>/tree/<str:revision>/<path:subpath>",
            tree_view.as_view(),
            name=f"hf-{prefix}-tree-path",
        ),
        path(
            f"{resolve_prefix}<str:owner>/<str:name>/resolve/<str:revision>/<path:file_path>",
            resolve_view.as_view(),
            name=f"hf-{prefix}-resolve",
        ),
    ]
