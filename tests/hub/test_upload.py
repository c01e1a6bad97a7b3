"""Uploads into a repository: commits, validation, limits, quota, storage use."""

import hashlib
import io

import pytest
from django.core.files.storage import default_storage

from accounts.models import StorageQuota
from accounts.selectors import storage_status
from hub import selectors
from hub.models import Blob, Repository

from .factories import make_repo, multipart_files

pytestmark = pytest.mark.django_db

URL = "/api/v1/hub/repos/model/alice/repo/upload"


def post_files(client, files, url=URL, **fields):
    handles, paths = multipart_files(files)
    return client.post(url, {"files": handles, "paths": paths, **fields}, format="multipart")


def test_upload_creates_a_commit_with_content_addressed_blobs(auth_client, user):
    make_repo(user)
    big = bytes(range(256)) * 20_000  # 5 MB: Django spools it to a temporary file
    response = post_files(auth_client, {"weights/model.bin": big, "config.json": b"{}"}, message="First upload")
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["id"]) == 40 and body["message"] == "First upload" and body["author"] == "alice"
    assert body["files"] == ["config.json", "weights/model.bin"]
    repo = Repository.objects.get(full_name="alice/repo")
    assert repo.head.oid == body["id"] and repo.last_message == "First upload"
    blob = Blob.objects.get(size=len(big))
    assert blob.sha256 == hashlib.sha256(big).hexdigest()
    assert blob.git_oid == hashlib.sha1(b"blob %d\0" % len(big) + big).hexdigest()
    with default_storage.open(blob.storage_name, "rb") as handle:
        assert handle.read() == big

    # The same content again is stored once; a second commit keeps the first file.
    again = post_files(auth_client, {"copy.bin": big}, message="Copy")
    assert again.status_code == 201
    assert Blob.objects.filter(size=len(big)).count() == 1
    repo.refresh_from_db()
    assert set(repo.head.entries.values_list("path", flat=True)) == {"config.json", "weights/model.bin", "copy.bin"}
    assert repo.head.parent.oid == body["id"]
    commits = auth_client.get("/api/v1/hub/repos/model/alice/repo/commits").json()
    assert [c["message"] for c in commits] == ["Copy", "First upload"]


def test_upload_into_a_folder_with_default_names(auth_client, user):
    make_repo(user)
    handle = io.BytesIO(b"hello")
    handle.name = "notes.txt"
    response = auth_client.post(URL, {"files": [handle], "path": "docs"}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["files"] == ["docs/notes.txt"]
    assert response.json()["message"] == "Upload docs/notes.txt"


def test_readme_front_matter_sets_the_tags(auth_client, user):
    make_repo(user, tags={"task": ["Robotics"]})
    card = b"---\npipeline_tag: text-generation\nlibrary_name: transformers\nlanguage: [English, German]\n" b"datasets:\n- wikipedia\ntags: [demo]\nlicense: apache-2.0\n---\n# Hello\n"
    assert post_files(auth_client, {"README.md": card}).status_code == 201
    repo = Repository.objects.get(full_name="alice/repo")
    assert selectors.repo_tags_by_category(repo) == {
        "task": ["Text Generation"],  # one vocabulary: the card's ids, shown by their display names
        "library": ["Transformers"],
        "dataset": ["wikipedia"],
        "language": ["English", "German"],
        "other": ["demo"],
    }
    assert repo.license == "apache-2.0"


@pytest.mark.parametrize(
    "path",
    ["../evil.txt", "a/../../evil.txt", "/etc/passwd", "C:/x.txt", "a\0b", "a/\x07b", ".git/config", "x" * 256, "/".join(["d" * 200] * 6)],
)
def test_upload_rejects_bad_paths(auth_client, user, path):
    make_repo(user)
    response = post_files(auth_client, {path: b"x"})
    assert response.status_code == 400, response.content
    assert Blob.objects.count() == 0


def test_upload_rejects_a_file_folder_clash_and_duplicates(auth_client, user):
    make_repo(user, files={"data": b"file"})
    assert post_files(auth_client, {"data/x.txt": b"x"}).status_code == 409
    handles, _ = multipart_files({"a.txt": b"1", "b.txt": b"2"})
    response = auth_client.post(URL, {"files": handles, "paths": ["same.txt", "same.txt"]}, format="multipart")
    assert response.status_code == 400


def test_upload_validation_of_the_form(auth_client, user):
    make_repo(user)
    assert auth_client.post(URL, {"message": "nothing"}, format="multipart").status_code == 400
    handles, _ = multipart_files({"a.txt": b"1"})
    assert auth_client.post(URL, {"files": handles, "paths": ["a", "b"]}, format="multipart").status_code == 400
    assert post_files(auth_client, {"a.txt": b"1"}, message="m" * 501).status_code == 400


def test_upload_size_limits(auth_client, user, settings):
    make_repo(user)
    settings.HUB_MAX_FILE_BYTES = 10
    assert post_files(auth_client, {"big.bin": b"x" * 11}).status_code == 413
    settings.HUB_MAX_FILE_BYTES = 100
    settings.HUB_MAX_UPLOAD_BYTES = 15
    assert post_files(auth_client, {"a.bin": b"x" * 10, "b.bin": b"y" * 10}).status_code == 413
    settings.HUB_MAX_UPLOAD_FILES = 1
    settings.HUB_MAX_UPLOAD_BYTES = 100
    assert post_files(auth_client, {"a.bin": b"x", "b.bin": b"y"}).status_code == 413
    assert Blob.objects.count() == 0


def test_upload_respects_the_storage_quota(auth_client, user):
    make_repo(user, files={"a.bin": b"a" * 100})
    assert selectors.storage_usage(user) == (100, 1)
    StorageQuota.objects.create(user=user, bytes_quota=150, inodes_quota=10)
    response = post_files(auth_client, {"b.bin": b"b" * 60})
    assert response.status_code == 403 and "quota" in response.json()["detail"]
    assert post_files(auth_client, {"b.bin": b"b" * 40}).status_code == 201
    status = storage_status(user)
    assert status["used_bytes"] >= 140 and status["bytes_remain"] <= 10
    StorageQuota.objects.filter(user=user).update(bytes_quota=10**9, inodes_quota=2)
    assert post_files(auth_client, {"c.bin": b"c"}).status_code == 403


def test_only_the_owner_uploads_and_private_repositories_stay_hidden(auth_client, api_client, other_user):
    make_repo(other_user, "public")
    make_repo(other_user, "secret", private=True)
    url = "/api/v1/hub/repos/model/bob/{}/upload"
    assert post_files(auth_client, {"a.txt": b"a"}, url=url.format("public")).status_code == 403
    assert post_files(auth_client, {"a.txt": b"a"}, url=url.format("secret")).status_code == 404
    assert post_files(api_client, {"a.txt": b"a"}, url=url.format("public")).status_code == 401
    assert auth_client.get("/api/v1/hub/repos/model/bob/secret").status_code == 404
    assert auth_client.get("/api/v1/hub/repos/model/bob/public").json()["full_name"] == "bob/public"


def test_clean_api_lists_and_creates(auth_client, user, other_user):
    make_repo(other_user, "visible", tags={"task": ["Robotics"]})
    make_repo(other_user, "invisible", private=True)
    created = auth_client.post("/api/v1/hub/repos", {"name": "mine", "type": "dataset"}, format="json")
    assert created.status_code == 201 and created.json()["type"] == "dataset"
    listing = auth_client.get("/api/v1/hub/repos", {"sort": "name"}).json()
    assert [r["full_name"] for r in listing["results"]] == ["alice/mine", "bob/visible"]
    assert auth_client.get("/api/v1/hub/repos", {"task": "Robotics"}).json()["count"] == 1
    assert auth_client.get("/api/v1/hub/repos", {"sort": "nope"}).status_code == 400
    assert auth_client.post("/api/v1/hub/repos", {"name": "mine", "type": "dataset"}, format="json").status_code == 409


def test_a_replacing_commit_holds_exactly_its_files(user):
    from hub.services import commit_blobs
    from hub.storage import store_bytes

    repo = make_repo(user, "versions", files={"adapter_config.json": b"{}", "model.bin": b"v1"})
    first = repo.head
    commit = commit_blobs(
        repo=repo, author=user, files=[("model.bin", store_bytes(b"v2"))], message="v2", replace_tree=True
    )
    assert sorted(commit.entries.values_list("path", flat=True)) == ["model.bin"]
    # The earlier revision is untouched.
    assert sorted(first.entries.values_list("path", flat=True)) == ["adapter_config.json", "model.bin"]


def test_a_large_upload_is_renamed_into_the_blob_store_not_copied(auth_client, user, settings):
    from pathlib import Path

    make_repo(user)
    content = bytes(range(256)) * (12 * 1024)  # 3 MiB: Django spools it to a temporary file
    spool = Path(settings.FILE_UPLOAD_TEMP_DIR)
    before = set(spool.iterdir())
    response = post_files(auth_client, {"weights.bin": content})
    assert response.status_code == 201
    blob = Blob.objects.get(size=len(content))
    assert blob.sha256 == hashlib.sha256(content).hexdigest()
    assert blob.storage_name == f"hub/blobs/sha256/{blob.sha256[:2]}/{blob.sha256}"
    with default_storage.open(blob.storage_name, "rb") as handle:
        assert handle.read() == content
    assert set(spool.iterdir()) == before  # the spooled file became the blob
