"""The Hugging Face compatible routes, request by request: headers, HEAD, ranges, errors."""

import hashlib

import pytest

from accounts.services import create_api_key
from hub import hf
from hub.models import Repository

from .factories import make_repo

pytestmark = pytest.mark.django_db

CONTENT = b"0123456789" * 10


@pytest.fixture
def repo(user):
    return make_repo(
        user,
        "tiny",
        tags={"task": ["Text Generation"]},
        files={"config.json": b'{"a": 1}', "model.bin": CONTENT, "sub/dir/file.txt": b"deep"},
    )


def body_of(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_resolve_get_and_head_headers(api_client, repo):
    git_oid = hashlib.sha1(b"blob 100\0" + CONTENT).hexdigest()
    head = api_client.head("/alice/tiny/resolve/main/model.bin")
    assert head.status_code == 200
    assert head["X-Repo-Commit"] == repo.head.oid
    assert head["ETag"] == f'"{git_oid}"'
    assert head["Content-Length"] == "100" and head["Accept-Ranges"] == "bytes"
    assert head.content == b""
    get = api_client.get(f"/alice/tiny/resolve/{repo.head.oid}/model.bin")
    assert get.status_code == 200 and body_of(get) == CONTENT


def test_large_files_are_described_as_lfs(api_client, user, monkeypatch):
    from hub import storage

    monkeypatch.setattr(hf, "LFS_THRESHOLD", 50)
    monkeypatch.setattr(storage, "LFS_THRESHOLD", 50)
    make_repo(user, "lfs", files={"weights.bin": CONTENT})
    head = api_client.head("/alice/lfs/resolve/main/weights.bin")
    sha = hashlib.sha256(CONTENT).hexdigest()
    assert head["ETag"] == f'"{sha}"' and head["X-Linked-Etag"] == f'"{sha}"' and head["X-Linked-Size"] == "100"
    tree = api_client.get("/api/models/alice/lfs/tree/main").json()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize 100\n".encode()
    assert tree[0]["lfs"] == {"oid": sha, "size": 100, "pointerSize": len(pointer)}
    # As on the Hub, an LFS file's oid is the git id of its pointer file.
    assert tree[0]["oid"] == hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()


@pytest.mark.parametrize(
    "header,status,expected,content_range",
    [
        ("bytes=0-9", 206, CONTENT[:10], "bytes 0-9/100"),
        ("bytes=95-", 206, CONTENT[95:], "bytes 95-99/100"),
        ("bytes=-5", 206, CONTENT[-5:], "bytes 95-99/100"),
        ("bytes=90-500", 206, CONTENT[90:], "bytes 90-99/100"),
        ("bytes=100-", 416, b"", "bytes */100"),
        ("bytes=5-1", 200, CONTENT, None),  # malformed: ignored (RFC 9110)
        ("chars=0-1", 200, CONTENT, None),  # another unit: ignored
    ],
)
def test_ranges(api_client, repo, header, status, expected, content_range):
    response = api_client.get("/alice/tiny/resolve/main/model.bin", HTTP_RANGE=header)
    assert response.status_code == status
    assert response.get("Content-Range") == content_range
    assert body_of(response) == expected


def test_downloads_are_handed_to_the_proxy_when_one_is_in_front(api_client, repo, settings):
    from django.core.files.storage import default_storage

    from hub.models import Blob

    blob = Blob.objects.get(entries__commit=repo.head, entries__path="model.bin")
    settings.DOWNLOAD_ACCEL = "nginx"
    settings.DOWNLOAD_ACCEL_PREFIX = "/protected/"
    response = api_client.get("/alice/tiny/resolve/main/model.bin", HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200 and body_of(response) == b""
    assert response["X-Accel-Redirect"] == f"/protected/{blob.storage_name}"
    assert response["X-Repo-Commit"] == repo.head.oid and response["ETag"]
    settings.DOWNLOAD_ACCEL = "apache"
    response = api_client.get("/alice/tiny/resolve/main/model.bin")
    assert response["X-Sendfile"] == default_storage.path(blob.storage_name)
    # HEAD is still answered here, with the size.
    assert api_client.head("/alice/tiny/resolve/main/model.bin")["Content-Length"] == str(len(CONTENT))


def test_errors_carry_the_hub_error_codes(api_client, auth_client, repo):
    missing = api_client.head("/alice/tiny/resolve/main/nope.json")
    assert missing.status_code == 404 and missing["X-Error-Code"] == "EntryNotFound"
    assert missing["X-Repo-Commit"] == repo.head.oid
    revision = api_client.get("/alice/tiny/resolve/abcdef0/config.json")
    assert revision.status_code == 404 and revision["X-Error-Code"] == "RevisionNotFound"
    no_repo = auth_client.get("/alice/none/resolve/main/config.json")
    assert no_repo.status_code == 404 and no_repo["X-Error-Code"] == "RepoNotFound"
    assert no_repo.json() == {"error": "model alice/none not found"}
    dataset_route = api_client.get("/datasets/alice/tiny/resolve/main/config.json")
    assert dataset_route.status_code == 401 and dataset_route["X-Error-Code"] == "RepoNotFound"


def test_model_info_and_revision(api_client, repo):
    info = api_client.get("/api/models/alice/tiny", {"blobs": "true"}).json()
    assert info["id"] == "alice/tiny" and info["sha"] == repo.head.oid and info["private"] is False
    assert info["pipeline_tag"] == "text-generation" and "text-generation" in info["tags"]  # the Hub's ids
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    # The tags given at creation made a README card in the first commit.
    assert set(siblings) == {"README.md", "config.json", "model.bin", "sub/dir/file.txt"}
    assert siblings["model.bin"]["size"] == 100 and len(siblings["model.bin"]["blobId"]) == 40
    by_revision = api_client.get(f"/api/models/alice/tiny/revision/{repo.head.oid[:12]}").json()
    assert by_revision["sha"] == repo.head.oid
    assert api_client.get("/api/models/alice/tiny/revision/v9").status_code == 404


def test_tree_listing(api_client, repo):
    top = api_client.get("/api/models/alice/tiny/tree/main").json()
    assert [(e["type"], e["path"]) for e in top] == [
        ("directory", "sub"),
        ("file", "README.md"),
        ("file", "config.json"),
        ("file", "model.bin"),
    ]
    recursive = api_client.get("/api/models/alice/tiny/tree/main", {"recursive": "true", "expand": "true"}).json()
    assert [e["path"] for e in recursive if e["type"] == "file"] == [
        "README.md",
        "config.json",
        "model.bin",
        "sub/dir/file.txt",
    ]
    assert {e["path"] for e in recursive if e["type"] == "directory"} == {"sub", "sub/dir"}
    titles = {e["path"]: e["lastCommit"]["title"] for e in recursive}
    assert titles["README.md"] == "Initial commit" and titles["model.bin"] == "Add files"
    inner = api_client.get("/api/models/alice/tiny/tree/main/sub/dir").json()
    assert inner == [{"type": "file", "oid": inner[0]["oid"], "size": 4, "path": "sub/dir/file.txt"}]
    missing = api_client.get("/api/models/alice/tiny/tree/main/additional_chat_templates")
    assert missing.status_code == 404 and missing["X-Error-Code"] == "EntryNotFound"


def test_private_repositories_need_the_owners_token(api_client, user, other_user):
    make_repo(user, "hidden", private=True, files={"config.json": b"{}"})
    assert api_client.get("/api/models/alice/hidden").status_code == 401
    from accounts.services import issue_tokens

    bob = issue_tokens(other_user)[0]
    response = api_client.get("/api/models/alice/hidden", HTTP_AUTHORIZATION=f"Bearer {bob}")
    assert response.status_code == 404 and response["X-Error-Code"] == "RepoNotFound"
    key, secret = create_api_key(user)
    ok = api_client.get(
        "/alice/hidden/resolve/main/config.json", HTTP_AUTHORIZATION=f"Bearer {key.secret_id}:{secret}"
    )
    assert ok.status_code == 200 and body_of(ok) == b"{}"
    bad = api_client.get("/alice/hidden/resolve/main/config.json", HTTP_AUTHORIZATION="Bearer nope:wrong")
    assert bad.status_code == 401


def test_download_counter_rule(api_client, user):
    model = make_repo(user, "counted", files={"config.json": b"{}", "model.bin": CONTENT, "README.md": b"# hi"})
    data = make_repo(user, "data", type="dataset", files={"train.jsonl": b"{}\n", "README.md": b"# d"})
    for url in ["/alice/counted/resolve/main/model.bin", "/alice/counted/resolve/main/README.md"]:
        body_of(api_client.get(url))
    api_client.head("/alice/counted/resolve/main/config.json")
    body_of(api_client.get("/alice/counted/resolve/main/config.json", HTTP_RANGE="bytes=1-"))
    assert Repository.objects.get(pk=model.pk).downloads == 0
    body_of(api_client.get("/alice/counted/resolve/main/config.json"))
    assert Repository.objects.get(pk=model.pk).downloads == 1
    body_of(api_client.get("/datasets/alice/data/resolve/main/README.md"))
    body_of(api_client.get("/datasets/alice/data/resolve/main/train.jsonl"))
    assert Repository.objects.get(pk=data.pk).downloads == 1
