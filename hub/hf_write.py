"""The Hugging Face Hub write API, so that huggingface_hub (HfApi.create_repo, upload_file,
upload_folder, create_commit, delete_file, create_branch/create_tag, ...) and transformers'
push_to_hub work unchanged against Crucible.

Routes (models; datasets the same with `datasets` / `datasets/`):
- POST   /api/repos/create, DELETE /api/repos/delete          create_repo / delete_repo
- POST   /api/validate-yaml                                    README metadata check before a commit
- GET    /api/whoami-v2                                        whoami
- POST   /api/models/<owner>/<name>/preupload/<rev>            regular or LFS, per file
- POST   /api/models/<owner>/<name>/commit/<rev>               NDJSON commit (header, file, lfsFile,
                                                               deletedFile, deletedFolder)
- POST   /api/models/<owner>/<name>/paths-info/<rev>           get_paths_info (copies)
- GET    /api/models/<owner>/<name>/refs                       list_repo_refs
- GET    /api/models/<owner>/<name>/commits/<rev>              list_repo_commits (Link paging)
- POST/DELETE /api/models/<owner>/<name>/branch/<branch>       create_branch / delete_branch
- POST   /api/models/<owner>/<name>/tag/<rev>, DELETE .../tag/<tag>   create_tag / delete_tag
- POST   /<owner>/<name>.git/info/lfs/objects/batch            LFS batch API (basic and multipart)
- PUT/POST/GET /api/hub/lfs/<token>, PUT .../part/<n>, POST .../verify   the LFS transfer URLs

The transfer URLs carry a signed token (the client sends them no credentials, as to S3): the
batch endpoint, which checks the caller's token, write rights and quota, hands them out.
"""

import base64
import binascii
import json
import re
import tempfile

import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAuthenticated
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, TooLarge

from . import selectors, services, storage
from .hf import HubCompatView, iso_datetime, tree_item
from .models import Blob, LfsUpload, RefKind, Repository, RepoType, TreeEntry

SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
REF_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}\Z")
LINE_MAX = 64 * 1024 * 1024
COMMITS_PAGE = 50
TOKEN_SALT = "hub.lfs"
TOKEN_MAX_AGE = 24 * 3600


def require_login(request):
    if not request.user.is_authenticated:
        raise NotAuthenticated()


def writable_repository(request, repo_type, owner, name):
    """The repository for a write: 404 when the caller cannot see it, 403 when they may not write."""
    require_login(request)
    repo = selectors.get_repository(request.user, repo_type, owner, name)
    services.check_can_write(repo, request.user)
    return repo


def base_url(request):
    return request.build_absolute_uri("/").rstrip("/")


def repo_url(request, repo):
    return f"{base_url(request)}/{repo.url_prefix}{repo.full_name}"


def json_body(request):
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body must be JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def clean_ref_name(name):
    if not isinstance(name, str) or not REF_NAME_RE.match(name) or ".." in name or name.endswith((".lock", "/")):
        raise InvalidInput("a branch or tag name is 1-200 letters, digits, '.', '_', '-' and '/'")
    if name.startswith("refs/") or COMMIT_LIKE.match(name):
        raise InvalidInput("a branch or tag name may not look like a commit id or start with refs/")
    return name


COMMIT_LIKE = re.compile(r"^[0-9a-f]{40}\Z")


# --- repositories ------------------------------------------------------------------


@extend_schema(exclude=True)
class RepoCreateView(HubCompatView):
    def post(self, request):
        require_login(request)
        data = json_body(request)
        organization = data.get("organization")
        if organization not in (None, "", request.user.username):
            raise Forbidden(f"you can only create repositories under your own name ({request.user.username})")
        repo_type = services.parse_repo_type(data.get("type"))
        private = data.get("private")
        if data.get("visibility") is not None:
            private = data.get("visibility") == "private"
        name = data.get("name")
        try:
            repo = services.create_repository(
                owner=request.user, name=name, type=repo_type, private=bool(private)
            )
        except Conflict:
            repo = Repository.objects.get(type=repo_type, owner=request.user, name=name)
            return Response(
                {"error": "You already created this repo", "url": repo_url(request, repo)},
                status=409,
                headers={"X-Error-Message": "You already created this repo"},
            )
        return Response({"url": repo_url(request, repo), "name": repo.full_name, "id": repo.uid})


@extend_schema(exclude=True)
class RepoDeleteView(HubCompatView):
    def delete(self, request):
        require_login(request)
        data = json_body(request)
        owner = data.get("organization") or request.user.username
        repo = writable_repository(request, services.parse_repo_type(data.get("type")), owner, data.get("name") or "")
        services.delete_repository(repo=repo, user=request.user)
        return Response({})


@extend_schema(exclude=True)
class ValidateYamlView(HubCompatView):
    """The client checks a README's metadata here before committing it."""

    def post(self, request):
        require_login(request)
        data = json_body(request)
        content = data.get("content")
        if not isinstance(content, str):
            raise InvalidInput("content must be a string")
        content = content[: settings.HUB_CARD_MAX_BYTES]
        if content.startswith("---"):
            lines = content.splitlines()
            end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
            if end is not None:

                try:
                    metadata = yaml.safe_load("\n".join(lines[1:end])) or {}
                except yaml.YAMLError as exc:
                    return Response({"errors": [{"message": f"invalid YAML: {exc}"}]}, status=400)
                if not isinstance(metadata, dict):
                    return Response({"errors": [{"message": "the metadata must be a YAML mapping"}]}, status=400)
        return Response({"errors": [], "warnings": []})


@extend_schema(exclude=True)
class WhoamiView(HubCompatView):
    def get(self, request):
        require_login(request)
        user = request.user
        return Response(
            {
                "type": "user",
                "id": str(user.pk),
                "name": user.username,
                "fullname": user.get_full_name() or user.username,
                "email": user.email or None,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "crucible", "role": "write"}},
            }
        )


# --- commits -------------------------------------------------------------------------


def file_oid(blob):
    """The oid preupload reports for a file already in the repository: the sha256 of an
    LFS-sized file, the git blob id of a regular one (what the client compares to its own)."""
    return blob.sha256 if blob.size >= storage.LFS_THRESHOLD else blob.git_oid


@extend_schema(exclude=True)
class PreuploadView(HubCompatView):
    def post(self, request, owner, name, revision):
        repo = writable_repository(request, self.repo_type, owner, name)
        data = json_body(request)
        files = data.get("files")
        if not isinstance(files, list) or len(files) > 1000:
            raise InvalidInput("files must be a list of at most 1000 {path, sample, size}")
        try:
            commit = selectors.resolve_revision(repo, revision)
        except NotFound:
            commit = None
        answers = []
        for item in files:
            if not isinstance(item, dict) or not isinstance(item.get("size"), int) or item["size"] < 0:
                raise InvalidInput("each file needs a path and a size")
            file_path = services.normalize_path(item.get("path"))
            remote = None
            if commit is not None:
                entry = commit.entries.select_related("blob").filter(path=file_path).first()
                remote = file_oid(entry.blob) if entry else None
            mode = "lfs" if item["size"] >= storage.LFS_THRESHOLD else "regular"
            answers.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": remote})
        return Response({"files": answers, "commitOid": commit.oid if commit else None})


class Addition:
    def __init__(self, path, size, content=None, blob=None):
        self.path = path
        self.size = size
        self.content = content  # a spooled temporary file for inline files
        self.blob = blob  # the Blob of an lfsFile


def parse_commit(stream, repo, user):
    """(header, additions, deletes, deleted_folders) of an NDJSON commit body."""
    header = {}
    additions = {}
    deletes, folders = [], []
    while True:
        raw = stream.readline(LINE_MAX + 1)
        if not raw:
            break
        if len(raw) > LINE_MAX:
            raise TooLarge("a commit line is larger than 64 MiB: send large files through LFS")
        line = raw.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("each commit line must be a JSON object") from None
        if not isinstance(item, dict) or not isinstance(item.get("value"), dict):
            raise InvalidInput("each commit line is {key, value}")
        key, value = item.get("key"), item["value"]
        if key == "header":
            header = value
        elif key == "file":
            file_path = services.normalize_path(value.get("path"))
            content = value.get("content")
            if not isinstance(content, str):
                raise InvalidInput(f"{file_path}: content must be a string")
            if value.get("encoding", "base64") == "base64":
                try:
                    data = base64.b64decode(content, validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidInput(f"{file_path}: content is not valid base64") from None
            else:
                data = content.encode()
            spooled = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, dir=settings.FILE_UPLOAD_TEMP_DIR)
            spooled.write(data)
            additions[file_path] = Addition(file_path, len(data), content=spooled)
        elif key == "lfsFile":
            file_path = services.normalize_path(value.get("path"))
            oid = value.get("oid")
            if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or not SHA256_RE.match(oid):
                raise InvalidInput(f"{file_path}: an lfsFile needs a sha256 oid")
            blob = Blob.objects.filter(sha256=oid).first()
            if blob is None or not (selectors.lfs_blob_available(repo, blob) or visible_elsewhere(user, blob)):
                raise InvalidInput(f"{file_path}: LFS object {oid} has not been uploaded")
            if value.get("size") is not None and value.get("size") != blob.size:
                raise InvalidInput(f"{file_path}: size {value.get('size')} does not match the uploaded {blob.size}")
            additions[file_path] = Addition(file_path, blob.size, blob=blob)
        elif key == "deletedFile":
            deletes.append(services.normalize_path(value.get("path")))
        elif key == "deletedFolder":
            folders.append(services.normalize_path(value.get("path")))
        else:
            raise InvalidInput(f"unknown commit operation {key!r}")
        if len(additions) + len(deletes) + len(folders) > settings.HUB_MAX_UPLOAD_FILES:
            raise TooLarge(f"at most {settings.HUB_MAX_UPLOAD_FILES} operations per commit")
    return header, list(additions.values()), deletes, folders


def visible_elsewhere(user, blob):
    """A copy from another repository the caller can read (CommitOperationCopy across repos)."""
    return TreeEntry.objects.filter(blob=blob, commit__repo__in=selectors.visible_repositories(user)).exists()


class StreamedBodyParser(BaseParser):
    """Leaves the body unread: the view reads it as a stream, line by line (parse_commit). Needed
    because a session-authenticated request (the site's upload page) has its CSRF token checked
    through `request.POST`, which makes DRF parse the body first."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


@extend_schema(exclude=True)
class CommitView(HubCompatView):
    parser_classes = [StreamedBodyParser]

    def post(self, request, owner, name, revision):
        repo = writable_repository(request, self.repo_type, owner, name)
        if request.query_params.get("create_pr") in ("1", "true"):
            raise InvalidInput("pull requests are not supported: commit to a branch instead")
        if body_length(request) > settings.HUB_MAX_UPLOAD_BYTES * 4 // 3 + 1024 * 1024:
            raise TooLarge(f"a commit may carry at most {settings.HUB_MAX_UPLOAD_BYTES} bytes inline")
        header, additions, deletes, folders = parse_commit(request._request, repo, request.user)
        if not (additions or deletes or folders):
            raise InvalidInput("nothing to commit")
        try:
            message = services.clean_message(header.get("summary"), "Upload files")
            description = header.get("description") or ""
            if not isinstance(description, str):
                raise InvalidInput("description must be a string")
            parent = header.get("parentCommit")
            if parent is not None and (not isinstance(parent, str) or not re.match(r"^[0-9a-f]{7,40}\Z", parent)):
                raise InvalidInput("parentCommit must be a commit id")
            commit = services.commit_operations(
                repo=repo,
                user=request.user,
                branch=revision,
                inline=[(a.path, a.content, a.size) for a in additions if a.blob is None],
                lfs=[(a.path, a.blob) for a in additions if a.blob is not None],
                deletes=deletes,
                deleted_folders=folders,
                message=message,
                description=description,
                expected_parent=parent,
            )
        finally:
            for addition in additions:
                if addition.content is not None:
                    addition.content.close()
        return Response(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{repo_url(request, repo)}/commit/{commit.oid}",
                "hookOutput": "",
            }
        )


@extend_schema(exclude=True)
class PathsInfoView(HubCompatView):
    def post(self, request, owner, name, revision):
        repo = self.repository(owner, name)
        commit = selectors.resolve_revision(repo, revision)
        paths = request.data.getlist("paths") if hasattr(request.data, "getlist") else request.data.get("paths", [])
        if isinstance(paths, str):
            paths = [paths]
        expand = str(request.data.get("expand", "")).lower() in ("1", "true")
        items = []
        for raw in paths[:1000]:
            try:
                file_path = services.normalize_path(raw)
            except InvalidInput:
                continue
            entry = commit.entries.select_related("blob", "last_commit").filter(path=file_path).first()
            if entry is not None:
                item = {"type": "file", "path": file_path, "entry": entry, "last_commit": entry.last_commit}
                items.append(tree_item(commit, item, expand))
                continue
            inside = commit.entries.filter(path__startswith=file_path + "/").select_related("last_commit")
            newest = inside.order_by("-last_commit__created_at").first()
            if newest is not None:
                item = {"type": "directory", "path": file_path, "last_commit": newest.last_commit}
                items.append(tree_item(commit, item, expand))
        return Response(items)


# --- refs and history --------------------------------------------------------------------


def ref_json(kind, name, commit):
    return {"name": name, "ref": f"refs/{'heads' if kind == 'branch' else 'tags'}/{name}", "targetCommit": commit.oid}


@extend_schema(exclude=True)
class RefsView(HubCompatView):
    def get(self, request, owner, name):
        repo = self.repository(owner, name)
        refs = selectors.refs_of(repo)
        return Response(
            {
                "branches": [ref_json("branch", n, c) for n, c in refs["branches"]],
                "tags": [ref_json("tag", n, c) for n, c in refs["tags"]],
                "converts": [],
                "pullRequests": [],
            }
        )


@extend_schema(exclude=True)
class CommitHistoryView(HubCompatView):
    def get(self, request, owner, name, revision):
        repo = self.repository(owner, name)
        commit = selectors.resolve_revision(repo, revision)
        try:
            page = max(0, int(request.query_params.get("p", 0)))
        except ValueError:
            raise InvalidInput("p must be a page number") from None
        chain = selectors.history(repo, commit)
        rows = chain[page * COMMITS_PAGE : (page + 1) * COMMITS_PAGE]
        data = [
            {
                "id": c.oid,
                "title": c.message.split("\n", 1)[0],
                "message": c.message,
                "authors": [{"user": c.author.username}] if c.author_id else [],
                "date": iso_datetime(c.created_at),
            }
            for c in rows
        ]
        headers = {}
        if (page + 1) * COMMITS_PAGE < len(chain):
            next_url = request.build_absolute_uri(request.path) + f"?p={page + 1}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        return Response(data, headers=headers)


@extend_schema(exclude=True)
class BranchView(HubCompatView):
    def post(self, request, owner, name, branch):
        repo = writable_repository(request, self.repo_type, owner, name)
        branch = clean_ref_name(branch)
        data = json_body(request)
        start = selectors.resolve_revision(repo, data.get("startingPoint") or "main")
        services.create_ref(repo=repo, kind=RefKind.BRANCH, name=branch, commit=start)
        return Response({})

    def delete(self, request, owner, name, branch):
        repo = writable_repository(request, self.repo_type, owner, name)
        services.delete_ref(repo=repo, kind=RefKind.BRANCH, name=branch)
        return Response({})


@extend_schema(exclude=True)
class TagView(HubCompatView):
    """POST .../tag/<revision> {"tag"} tags a revision; DELETE .../tag/<tag> removes a tag."""

    def post(self, request, owner, name, revision):
        repo = writable_repository(request, self.repo_type, owner, name)
        data = json_body(request)
        tag = clean_ref_name(data.get("tag"))
        commit = selectors.resolve_revision(repo, revision)
        services.create_ref(repo=repo, kind=RefKind.TAG, name=tag, commit=commit)
        return Response({})

    def delete(self, request, owner, name, revision):
        repo = writable_repository(request, self.repo_type, owner, name)
        services.delete_ref(repo=repo, kind=RefKind.TAG, name=revision)
        return Response({})


# --- LFS batch API and transfers ------------------------------------------------------------


def lfs_token(repo, user, oid, size):
    return signing.dumps({"r": repo.pk, "u": user.pk, "o": oid, "s": size}, salt=TOKEN_SALT, compress=True)


class GitLfsJSONRenderer(JSONRenderer):
    media_type = "application/vnd.git-lfs+json"


def multipart_available():
    return storage.local_root() is not None


@extend_schema(exclude=True)
class LfsBatchView(HubCompatView):
    """git-lfs batch API, operation upload. Objects the repository already has get no actions;
    others a basic transfer (one PUT) or, above HUB_LFS_PART_BYTES on local storage, a
    multipart one (chunk_size and one URL per part; parts already stored are listed in
    `completed_parts` {number: etag}, and re-sent parts are accepted)."""

    renderer_classes = [GitLfsJSONRenderer, JSONRenderer]

    def post(self, request, owner, name):
        repo = writable_repository(request, self.repo_type, owner, name)
        data = json_body(request)
        if data.get("operation") != "upload":
            raise InvalidInput("only the upload operation is supported (download through resolve)")
        objects = data.get("objects")
        if not isinstance(objects, list) or len(objects) > 1000:
            raise InvalidInput("objects must be a list of at most 1000 {oid, size}")
        transfers = data.get("transfers") or ["basic"]
        wanted = []
        for item in objects:
            oid, size = (item or {}).get("oid"), (item or {}).get("size")
            if not isinstance(oid, str) or not SHA256_RE.match(oid) or not isinstance(size, int) or size < 0:
                raise InvalidInput("each object needs a sha256 oid and a size")
            if size > settings.HUB_MAX_FILE_BYTES:
                raise TooLarge(f"{oid} is larger than {settings.HUB_MAX_FILE_BYTES} bytes")
            wanted.append((oid, size))
        answers, to_upload = [], []
        for oid, size in wanted:
            blob = Blob.objects.filter(sha256=oid, size=size).first()
            if blob is not None and selectors.lfs_blob_available(repo, blob):
                answers.append({"oid": oid, "size": size})
            else:
                to_upload.append((oid, size))
        # Quota before anything is stored: every byte still to come.
        if to_upload:
            services.check_quota(repo.owner, sum(s for _, s in to_upload), len(to_upload))
        base = base_url(request)
        use_multipart = "multipart" in transfers and multipart_available()
        chosen = "basic"
        for oid, size in to_upload:
            token = lfs_token(repo, request.user, oid, size)
            href = f"{base}/api/hub/lfs/{token}"
            actions = {"verify": {"href": f"{href}/verify"}}
            answer = {"oid": oid, "size": size, "authenticated": True}
            part_size = settings.HUB_LFS_PART_BYTES
            if use_multipart and size > part_size:
                chosen = "multipart"
                upload = services.open_lfs_upload(repo=repo, user=request.user, sha256=oid, size=size)
                header = {"chunk_size": str(upload.part_size)}
                for number in range(1, upload.part_count + 1):
                    header[str(number)] = f"{href}/part/{number}"
                actions["upload"] = {"href": href, "header": header}
                answer["completed_parts"] = {str(p.number): p.etag for p in upload.parts.all()}
            else:
                actions["upload"] = {"href": href}
            answer["actions"] = actions
            answers.append(answer)
        return Response({"transfer": chosen, "objects": answers, "hash_algo": "sha256"})


def lfs_error(message, status):
    return JsonResponse({"error": message, "message": message}, status=status, headers={"X-Error-Message": message})


def lfs_claims(token):
    try:
        claims = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise NotFound("this upload link is not valid or has expired") from None
    repo = Repository.objects.filter(pk=claims["r"]).select_related("owner").first()
    user = get_user_model().objects.filter(pk=claims["u"], is_active=True).first()
    if repo is None or user is None:
        raise NotFound("this upload link is not valid any more")
    services.check_can_write(repo, user)
    return repo, user, claims["o"], claims["s"]


def raw_body_reader(request):
    """read(n) over the request body, for bodies streamed to storage.

    Under gunicorn the bytes come straight from the client socket (recv_into, after whatever
    gunicorn had already buffered): its own body reader moves each byte through several
    Python buffers and tops out near 130 MiB/s, below a disk's speed. Anywhere else (runserver,
    the test server, a body already being read) this is request.read.
    """
    environ = request.META
    sock = environ.get("gunicorn.socket")
    body = environ.get("wsgi.input")
    reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    usable = (
        sock is not None
        and sock.gettimeout() != 0.0
        and not getattr(request, "_read_started", False)
        and type(reader).__name__ == "LengthReader"
        and hasattr(unreader, "take_buffered")
        and hasattr(body, "buf")
    )
    if not usable:
        return request.read
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    pending = [body.buf.getvalue() + unreader.take_buffered()]
    body.buf.seek(0)
    body.buf.truncate()
    # gunicorn must not read this body again after the view: it is consumed here.
    reader.length = 0
    state = {"remaining": remaining}

    def read(size):
        if state["remaining"] <= 0:
            return b""
        size = min(size, state["remaining"])
        if pending[0]:
            data, pending[0] = pending[0][:size], pending[0][size:]
            state["remaining"] -= len(data)
            return data
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        while filled < size:
            received = sock.recv_into(view[filled:])
            if not received:
                break
            filled += received
        state["remaining"] -= filled
        return buffer if filled == size else bytes(view[:filled])

    # For hub.storage.store_stream: the socket itself, so that the body can be spliced into its
    # file by the kernel (taken as a whole: `read` is not to be used as well).
    read.socket_source = (sock, pending[0])
    return read


def body_length(request):
    try:
        return int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        return -1


def lfs_view(handler):
    """Plain Django view (no DRF parsing: the body is read as a stream), errors as JSON."""

    @csrf_exempt
    def view(request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except DomainError as exc:
            return lfs_error(exc.message, exc.status_code)

    return view


@lfs_view
def lfs_object(request, token):
    """PUT: the whole object (basic transfer). POST: complete a multipart upload.
    GET: state of a multipart upload (which parts are stored)."""
    repo, user, oid, size = lfs_claims(token)
    if request.method == "PUT":
        length = body_length(request)
        if length < 0:
            return lfs_error("Content-Length is required", 411)
        if length != size:
            return lfs_error(f"the body is {length} bytes, the object {size}", 400)
        services.check_quota(repo.owner, size, 1)
        services.store_lfs_object(repo=repo, read=raw_body_reader(request), size=size, sha256=oid)
        return JsonResponse({})
    if request.method == "POST":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return lfs_error("the body must be JSON", 400)
        if not isinstance(data, dict) or data.get("oid") != oid or not isinstance(data.get("parts"), list):
            return lfs_error("the completion body is {oid, parts: [{partNumber, etag}]}", 400)
        services.complete_lfs_upload(repo=repo, sha256=oid, size=size, parts=data["parts"])
        return JsonResponse({})
    if request.method == "GET":
        upload = LfsUpload.objects.filter(repo=repo, sha256=oid, size=size).first()
        done = Blob.objects.filter(sha256=oid, size=size).exists() and upload is None
        parts = {str(p.number): p.etag for p in upload.parts.all()} if upload else {}
        return JsonResponse(
            {
                "oid": oid,
                "size": size,
                "stored": done,
                "chunk_size": upload.part_size if upload else None,
                "completed_parts": parts,
            }
        )
    return lfs_error("method not allowed", 405)


@lfs_view
def lfs_part(request, token, number):
    repo, user, oid, size = lfs_claims(token)
    if request.method != "PUT":
        return lfs_error("method not allowed", 405)
    upload = LfsUpload.objects.filter(repo=repo, sha256=oid, size=size).first()
    if upload is None:
        return lfs_error("no upload in progress for this object: ask the batch endpoint again", 404)
    if not 1 <= number <= upload.part_count:
        return lfs_error(f"part {number} is not one of 1-{upload.part_count}", 400)
    length = body_length(request)
    if length < 0:
        return lfs_error("Content-Length is required", 411)
    if length != upload.part_length(number):
        return lfs_error(f"part {number} must be {upload.part_length(number)} bytes, not {length}", 400)
    etag = services.store_lfs_part(upload=upload, number=number, read=raw_body_reader(request))
    return HttpResponse(status=200, headers={"ETag": etag})


@lfs_view
def lfs_verify(request, token):
    repo, user, oid, size = lfs_claims(token)
    blob = Blob.objects.filter(sha256=oid).first()
    if blob is None or not selectors.lfs_blob_available(repo, blob):
        return lfs_error(f"object {oid} has not been uploaded", 404)
    if blob.size != size:
        return lfs_error(f"object {oid} is {blob.size} bytes, not {size}", 400)
    return JsonResponse({})


# --- routes ------------------------------------------------------------------------------------


def typed(view, repo_type):
    return type(f"{repo_type.title()}{view.__name__}", (view,), {"repo_type": repo_type}).as_view()


urlpatterns = [
    path("api/repos/create", RepoCreateView.as_view(), name="hf-repo-create"),
    path("api/repos/delete", RepoDeleteView.as_view(), name="hf-repo-delete"),
    path("api/validate-yaml", ValidateYamlView.as_view(), name="hf-validate-yaml"),
    path("api/whoami-v2", WhoamiView.as_view(), name="hf-whoami"),
    path("api/hub/lfs/<str:token>", lfs_object, name="hf-lfs-object"),
    path("api/hub/lfs/<str:token>/part/<int:number>", lfs_part, name="hf-lfs-part"),
    path("api/hub/lfs/<str:token>/verify", lfs_verify, name="hf-lfs-verify"),
]
for repo_type, api_prefix, git_prefix in ((RepoType.MODEL, "models", ""), (RepoType.DATASET, "datasets", "datasets/")):
    base = f"api/{api_prefix}/<str:owner>/<str:name>"
    urlpatterns += [
        path(f"{base}/preupload/<path:revision>", typed(PreuploadView, repo_type)),
        path(f"{base}/commit/<path:revision>", typed(CommitView, repo_type)),
        path(f"{base}/paths-info/<path:revision>", typed(PathsInfoView, repo_type)),
        path(f"{base}/refs", typed(RefsView, repo_type)),
        path(f"{base}/commits/<path:revision>", typed(CommitHistoryView, repo_type)),
        path(f"{base}/branch/<path:branch>", typed(BranchView, repo_type)),
        path(f"{base}/tag/<path:revision>", typed(TagView, repo_type)),
        path(f"{git_prefix}<str:owner>/<str:name>.git/info/lfs/objects/batch", typed(LfsBatchView, repo_type)),
    ]
