"""platform-api.md 1.1 and 1.2: POST /api/file/file/uploadFolder and uploadPublicFolder."""

import hashlib

import pytest
from django.test import override_settings

from accounts.models import StorageQuota
from files import selectors
from files.models import FileNode
from tests.factories import UserFactory

from .helpers import UPLOAD_FOLDER, UPLOAD_PUBLIC, UPLOADED, a_file, plat_error, stored_blobs

pytestmark = pytest.mark.django_db


def read(user, space, path):
    with selectors.open_file(user, space, path) as handle:
        return handle.read()


def test_upload_into_the_private_space_answers_the_spec_envelope(auth_client, user):
    response = auth_client.post(UPLOAD_FOLDER, {"file": a_file(), "currentPath": "/upload/folder"}, format="multipart")

    assert response.status_code == 200
    assert response.json() == UPLOADED
    assert read(user, "private", "upload/folder/hello.txt") == b"hello, crucible\n"
    node = FileNode.objects.get(owner=user, path="upload/folder/hello.txt")
    assert (node.space, node.size, node.is_dir) == ("private", 16, False)
    assert node.sha256 == hashlib.sha256(b"hello, crucible\n").hexdigest()
    # The folders on the way were created.
    assert FileNode.objects.get(owner=user, path="upload").is_dir
    assert FileNode.objects.get(owner=user, path="upload/folder").is_dir


def test_current_path_defaults_to_the_root(auth_client, user):
    assert auth_client.post(UPLOAD_FOLDER, {"file": a_file("root.bin", b"\x00\x01")}).json() == UPLOADED
    assert [n.path for n in selectors.list_folder(user, "private", "")] == ["root.bin"]


def test_several_files_and_a_whole_folder_with_relative_paths(auth_client, user):
    files = [a_file("a.jsonl", b'{"x": 1}\n'), a_file("b.jsonl", b'{"x": 2}\n'), a_file("config.json", b"{}")]
    relative = ["Data/train/a.jsonl", "Data/validate/b.jsonl", "Config/LoRA/config.json"]
    response = auth_client.post(
        UPLOAD_FOLDER, {"file": files, "relativePath": relative, "currentPath": "/project"}, format="multipart"
    )

    assert response.json() == UPLOADED
    assert read(user, "private", "project/Data/train/a.jsonl") == b'{"x": 1}\n'
    assert read(user, "private", "project/Data/validate/b.jsonl") == b'{"x": 2}\n'
    assert read(user, "private", "project/Config/LoRA/config.json") == b"{}"
    assert [n.name for n in selectors.list_folder(user, "private", "project")] == ["Config", "Data"]


def test_replacing_a_file_keeps_one_node_with_the_new_bytes(auth_client, user, django_capture_on_commit_callbacks):
    auth_client.post(UPLOAD_FOLDER, {"file": a_file("x.txt", b"old")})
    with django_capture_on_commit_callbacks(execute=True):
        auth_client.post(UPLOAD_FOLDER, {"file": a_file("x.txt", b"newer")})
    assert read(user, "private", "x.txt") == b"newer"
    assert FileNode.objects.filter(owner=user).count() == 1
    assert len(stored_blobs()) == 1


def test_missing_file_is_400(auth_client, user):
    plat_error(auth_client.post(UPLOAD_FOLDER, {"currentPath": "/a"}, format="multipart"), 400)
    assert not FileNode.objects.exists()


@pytest.mark.parametrize(
    "current_path",
    [
        "../etc",
        "/a/../../b",
        "a/..",
        "a\x00b",
        "a\x07b",
        "C:\\Users\\alice",
        "C:/Users",
        "a\\b",
        "x" * 1025,
        "/" + "n" * 256,
        "/" + "é" * 128,  # 256 bytes in UTF-8
    ],
)
def test_bad_current_path_is_400_and_stores_nothing(auth_client, user, current_path):
    body = plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file(), "currentPath": current_path}), 400)
    assert "currentPath" in body["message"]
    assert not FileNode.objects.exists()
    assert stored_blobs() == []


@pytest.mark.parametrize("relative", ["../escape.txt", "/abs/x.txt", "a/../../x.txt", "d\\x.txt", "./", "C:x.txt"])
def test_bad_relative_path_is_400(auth_client, user, relative):
    plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file(), "relativePath": relative}), 400)
    assert not FileNode.objects.exists()


def test_relative_paths_must_match_the_files(auth_client, user):
    body = plat_error(
        auth_client.post(UPLOAD_FOLDER, {"file": [a_file("a"), a_file("b")], "relativePath": ["x/a"]}), 400
    )
    assert "one per file" in body["message"]


def test_a_path_too_long_once_joined_is_400(auth_client, user):
    folder = "/".join(["d" * 200] * 5)  # 1004 characters
    plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file("f" * 30), "currentPath": folder}), 400)
    assert not FileNode.objects.exists()


@override_settings(FILES_MAX_UPLOAD_BYTES=10)
def test_a_file_over_the_size_limit_is_413(auth_client, user):
    body = plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file("big.bin", b"x" * 11)}), 413)
    assert "limit" in body["message"]
    assert not FileNode.objects.exists()
    assert stored_blobs() == []
    assert auth_client.post(UPLOAD_FOLDER, {"file": a_file("ok.bin", b"x" * 10)}).json() == UPLOADED


@override_settings(FILES_MAX_UPLOAD_BYTES=3 * 1024 * 1024)
def test_a_large_streamed_upload_over_the_limit_is_stopped(auth_client, user):
    # Over FILE_UPLOAD_MAX_MEMORY_SIZE, so it is received into a temporary file and capped while streaming.
    body = plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file("big.bin", b"x" * (4 * 1024 * 1024))}), 413)
    assert "3.0 MB" in body["message"]
    assert stored_blobs() == []


def test_bytes_quota_exceeded_is_403_and_keeps_nothing(auth_client, user):
    StorageQuota.objects.create(user=user, bytes_quota=100, inodes_quota=1000)
    assert auth_client.post(UPLOAD_FOLDER, {"file": a_file("a.bin", b"x" * 60)}).json() == UPLOADED

    body = plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file("b.bin", b"x" * 41)}), 403)
    assert "quota" in body["message"].lower()
    assert [n.path for n in FileNode.objects.filter(owner=user)] == ["a.bin"]
    assert len(stored_blobs()) == 1
    # Replacing a file with one of the same size fits.
    assert auth_client.post(UPLOAD_FOLDER, {"file": a_file("a.bin", b"y" * 60)}).json() == UPLOADED


def test_inodes_quota_counts_files_and_new_folders(auth_client, user):
    StorageQuota.objects.create(user=user, bytes_quota=10**9, inodes_quota=2)
    body = plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file(), "currentPath": "/a/b"}), 403)
    assert "file count" in body["message"].lower()
    assert not FileNode.objects.exists()
    assert stored_blobs() == []
    assert auth_client.post(UPLOAD_FOLDER, {"file": a_file(), "currentPath": "/a"}).json() == UPLOADED
    assert FileNode.objects.filter(owner=user).count() == 2


def test_a_file_cannot_take_a_folders_name_nor_the_reverse(auth_client, user):
    auth_client.post(UPLOAD_FOLDER, {"file": a_file("Data"), "currentPath": "/"})
    plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file("x.txt"), "currentPath": "/Data"}), 409)
    auth_client.post(UPLOAD_FOLDER, {"file": a_file("x.txt"), "currentPath": "/Code"})
    plat_error(auth_client.post(UPLOAD_FOLDER, {"file": a_file("Code"), "currentPath": "/"}), 409)
    assert stored_blobs() and len(stored_blobs()) == 2


def test_uploads_need_authentication(api_client, user):
    plat_error(api_client.post(UPLOAD_FOLDER, {"file": a_file()}), 401)
    plat_error(api_client.post(UPLOAD_PUBLIC, {"file": a_file(), "publicUserId": str(user.pk)}), 401)


def test_get_is_405_in_the_envelope(auth_client):
    plat_error(auth_client.get(UPLOAD_FOLDER), 405)


@pytest.mark.parametrize("who", ["id", "username"])
def test_upload_into_ones_own_public_space(auth_client, user, who):
    public_user_id = str(user.pk) if who == "id" else user.username
    response = auth_client.post(
        UPLOAD_PUBLIC, {"file": a_file(), "publicUserId": public_user_id, "currentPath": "/shared"}
    )
    assert response.json() == UPLOADED
    assert read(user, "public", "shared/hello.txt") == b"hello, crucible\n"
    assert not FileNode.objects.filter(space="private").exists()


def test_public_upload_needs_public_user_id(auth_client, user):
    body = plat_error(auth_client.post(UPLOAD_PUBLIC, {"file": a_file()}), 400)
    assert "publicUserId" in body["message"]


def test_another_users_public_space_is_refused(auth_client, user, other_user):
    for target in (str(other_user.pk), other_user.username, "99999"):
        plat_error(auth_client.post(UPLOAD_PUBLIC, {"file": a_file(), "publicUserId": target}), 403)
    assert not FileNode.objects.exists()
    assert stored_blobs() == []


def test_a_platform_admin_writes_any_public_space(api_client, user):
    admin = UserFactory(username="root", role="admin")
    api_client.force_authenticate(admin)
    response = api_client.post(UPLOAD_PUBLIC, {"file": a_file(), "publicUserId": str(user.pk), "currentPath": "/x"})
    assert response.json() == UPLOADED
    assert read(user, "public", "x/hello.txt") == b"hello, crucible\n"
    assert FileNode.objects.get(path="x/hello.txt").owner == user
    response = api_client.post(UPLOAD_PUBLIC, {"file": a_file(), "publicUserId": user.username})
    assert response.json() == UPLOADED
    plat_error(api_client.post(UPLOAD_PUBLIC, {"file": a_file(), "publicUserId": "nobody"}), 404)
    plat_error(api_client.post(UPLOAD_PUBLIC, {"file": a_file(), "publicUserId": "9" * 30}), 404)


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=3)
def test_too_many_files_in_one_request_is_400_in_the_envelope(auth_client, user):
    files = [a_file(f"f{i}.txt") for i in range(4)]
    body = plat_error(auth_client.post(UPLOAD_FOLDER, {"file": files}), 400)
    assert "several requests" in body["message"]
    assert not FileNode.objects.exists()
