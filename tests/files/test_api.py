"""The clean API under /api/v1/files/: list, make folder, upload, download, delete, move, usage."""

import pytest

from accounts.models import StorageQuota
from files.models import FileNode
from tests.factories import UserFactory

from .helpers import UPLOAD_FOLDER, UPLOAD_PUBLIC, a_file, stored_blobs

pytestmark = pytest.mark.django_db

API = "/api/v1/files/"
CONTENT = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def tree(auth_client, user):
    """alice's private space: Data/train/a.bin (CONTENT), notes.txt; public space: shared/readme.md."""
    auth_client.post(UPLOAD_FOLDER, {"file": a_file("a.bin", CONTENT), "currentPath": "/Data/train"})
    auth_client.post(UPLOAD_FOLDER, {"file": a_file("notes.txt", b"notes"), "currentPath": "/"})
    auth_client.post(UPLOAD_PUBLIC, {"file": a_file("readme.md", b"# hi"), "publicUserId": user.username,
                                     "currentPath": "/shared"})
    return user


def listing(client, path="/", **params):
    return client.get(API + "list", {"path": path, **params})


def download(client, path, **kwargs):
    params = {"path": path, **{k: v for k, v in kwargs.items() if not k.startswith("HTTP_")}}
    headers = {k: v for k, v in kwargs.items() if k.startswith("HTTP_")}
    return client.get(API + "download", params, **headers)


def body_of(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_list_a_folder(auth_client, tree):
    response = listing(auth_client)
    assert response.status_code == 200
    body = response.json()
    assert (body["owner"], body["space"], body["path"]) == ("alice", "private", "/")
    assert [(i["name"], i["path"], i["isDir"], i["size"]) for i in body["items"]] == [
        ("Data", "/Data", True, 0),
        ("notes.txt", "/notes.txt", False, 5),
    ]
    assert all(item["modified"] for item in body["items"])
    inner = listing(auth_client, "/Data/train/").json()
    assert inner["path"] == "/Data/train"
    assert [(i["name"], i["size"]) for i in inner["items"]] == [("a.bin", len(CONTENT))]


def test_list_errors(auth_client, tree):
    assert listing(auth_client, "/nope").status_code == 404
    assert listing(auth_client, "/notes.txt").status_code == 404
    assert listing(auth_client, "/a/../..").status_code == 400
    assert listing(auth_client, space="shared").status_code == 400
    assert listing(auth_client, owner="nobody").status_code == 404


def test_make_folder(auth_client, tree):
    response = auth_client.post(API + "folders", {"path": "/Model/checkpoints"}, format="json")
    assert response.status_code == 201
    assert response.json()["path"] == "/Model/checkpoints"
    assert [i["name"] for i in listing(auth_client, "/Model").json()["items"]] == ["checkpoints"]
    assert auth_client.post(API + "folders", {"path": "/Model"}, format="json").status_code == 409
    assert auth_client.post(API + "folders", {"path": "/notes.txt"}, format="json").status_code == 409
    assert auth_client.post(API + "folders", {"path": "/notes.txt/sub"}, format="json").status_code == 409
    assert auth_client.post(API + "folders", {"path": "/"}, format="json").status_code == 409
    assert auth_client.post(API + "folders", {"path": "/x/\x00"}, format="json").status_code == 400


def test_download_whole_file(auth_client, tree):
    response = download(auth_client, "/Data/train/a.bin")
    assert response.status_code == 200
    assert body_of(response) == CONTENT
    assert response["Content-Length"] == str(len(CONTENT))
    assert response["Accept-Ranges"] == "bytes"
    assert 'filename="a.bin"' in response["Content-Disposition"]
    node = FileNode.objects.get(path="Data/train/a.bin")
    assert response["ETag"] == f'"{node.sha256}"'
    assert download(auth_client, "/Data/train/a.bin", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_download_ranges(auth_client, tree):
    path = "/Data/train/a.bin"
    response = download(auth_client, path, HTTP_RANGE="bytes=2-5")
    assert response.status_code == 206
    assert body_of(response) == CONTENT[2:6]
    assert response["Content-Range"] == f"bytes 2-5/{len(CONTENT)}"
    assert response["Content-Length"] == "4"

    response = download(auth_client, path, HTTP_RANGE="bytes=10000-")
    assert body_of(response) == CONTENT[10000:]
    response = download(auth_client, path, HTTP_RANGE="bytes=-100")
    assert body_of(response) == CONTENT[-100:]
    response = download(auth_client, path, HTTP_RANGE="bytes=10200-99999")
    assert (response.status_code, body_of(response)) == (206, CONTENT[10200:])

    response = download(auth_client, path, HTTP_RANGE=f"bytes={len(CONTENT)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(CONTENT)}"
    # A stale If-Range or several ranges: the whole file.
    response = download(auth_client, path, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"other"')
    assert (response.status_code, body_of(response)) == (200, CONTENT)
    response = download(auth_client, path, HTTP_RANGE="bytes=0-1,5-6")
    assert (response.status_code, body_of(response)) == (200, CONTENT)


def test_head_gives_the_size(auth_client, tree):
    response = auth_client.head(API + "download", {"path": "/notes.txt"})
    assert response.status_code == 200
    assert response["Content-Length"] == "5"


def test_download_errors(auth_client, tree):
    assert download(auth_client, "/Data").status_code == 404
    assert download(auth_client, "/missing.txt").status_code == 404
    assert download(auth_client, "../../etc/passwd").status_code == 400


def test_upload_through_the_clean_api(auth_client, user):
    response = auth_client.post(
        API + "upload",
        {"space": "public", "path": "/pub", "file": [a_file("a.txt", b"a"), a_file("b.txt", b"b")],
         "relativePath": ["x/a.txt", "b.txt"]},
        format="multipart",
    )
    assert response.status_code == 201
    assert response.json() == {"uploaded": ["/pub/x/a.txt", "/pub/b.txt"]}
    assert body_of(download(auth_client, "/pub/x/a.txt", space="public")) == b"a"


def test_delete_a_file_and_a_folder_recursively(auth_client, tree, django_capture_on_commit_callbacks):
    assert len(stored_blobs()) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(API + "delete", {"path": "/notes.txt"}, format="json")
    assert response.json() == {"deleted": 1}
    assert len(stored_blobs()) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(API + "delete", {"path": "/Data"}, format="json")
    assert response.json() == {"deleted": 3}
    assert listing(auth_client).json()["items"] == []
    assert len(stored_blobs()) == 1  # the public readme remains
    assert auth_client.post(API + "delete", {"path": "/Data"}, format="json").status_code == 404
    assert auth_client.post(API + "delete", {"path": "/"}, format="json").status_code == 400


def test_move_and_rename(auth_client, tree):
    move = API + "move"
    response = auth_client.post(move, {"from": "/notes.txt", "to": "/Docs/notes-v2.txt"}, format="json")
    assert response.status_code == 200
    assert response.json()["path"] == "/Docs/notes-v2.txt"
    assert body_of(download(auth_client, "/Docs/notes-v2.txt")) == b"notes"

    # A folder moves with everything in it.
    assert auth_client.post(move, {"from": "/Data", "to": "/Dataset"}, format="json").status_code == 200
    assert body_of(download(auth_client, "/Dataset/train/a.bin")) == CONTENT
    assert listing(auth_client, "/Dataset/train").json()["items"][0]["path"] == "/Dataset/train/a.bin"
    assert FileNode.objects.filter(path__startswith="Data/").count() == 0
    assert listing(auth_client, "/Data").status_code == 404

    assert auth_client.post(move, {"from": "/Dataset", "to": "/Dataset/train/x"}, format="json").status_code == 400
    assert auth_client.post(move, {"from": "/Dataset", "to": "/Docs"}, format="json").status_code == 409
    assert auth_client.post(move, {"from": "/missing", "to": "/y"}, format="json").status_code == 404
    assert auth_client.post(move, {"from": "/Docs", "to": "../y"}, format="json").status_code == 400
    assert auth_client.post(move, {"from": "/Docs"}, format="json").status_code == 400


def test_another_users_private_space_is_unreachable(api_client, tree, other_user):
    api_client.force_authenticate(other_user)
    for params in ({"owner": "alice"}, {"owner": "alice", "space": "private"}):
        assert listing(api_client, "/", **params).status_code == 404
        assert download(api_client, "/notes.txt", **params).status_code == 404
        assert api_client.post(API + "delete", {"path": "/notes.txt", **params}, format="json").status_code == 404
        assert api_client.post(API + "folders", {"path": "/x", **params}, format="json").status_code == 404
        assert api_client.post(
            API + "move", {"from": "/notes.txt", "to": "/n", **params}, format="json"
        ).status_code == 404
    # bob's own private space is empty: alice's files are not there either.
    assert listing(api_client).json()["items"] == []
    assert download(api_client, "/notes.txt").status_code == 404
    assert FileNode.objects.filter(owner=tree).count() == 6


def test_public_space_is_readable_by_all_and_writable_by_its_owner(api_client, tree, other_user):
    api_client.force_authenticate(other_user)
    params = {"owner": "alice", "space": "public"}
    assert [i["name"] for i in listing(api_client, "/shared", **params).json()["items"]] == ["readme.md"]
    assert body_of(download(api_client, "/shared/readme.md", **params)) == b"# hi"
    assert api_client.post(API + "delete", {"path": "/shared", **params}, format="json").status_code == 403
    assert api_client.post(API + "folders", {"path": "/x", **params}, format="json").status_code == 403
    upload = {"file": a_file(), "path": "/", **params}
    assert api_client.post(API + "upload", upload, format="multipart").status_code == 403
    assert FileNode.objects.filter(owner=tree, space="public").count() == 2

    admin = UserFactory(username="root", role="admin")
    api_client.force_authenticate(admin)
    assert api_client.post(API + "folders", {"path": "/from-admin", **params}, format="json").status_code == 201
    assert api_client.post(API + "delete", {"path": "/shared", **params}, format="json").json() == {"deleted": 2}
    # Admins write public spaces, not private ones.
    assert listing(api_client, owner="alice").status_code == 404


def test_needs_authentication(api_client, tree):
    assert listing(api_client).status_code == 401
    assert download(api_client, "/notes.txt").status_code == 401


def test_usage_and_the_quota_endpoint_report_the_file_spaces(auth_client, tree):
    usage = auth_client.get(API + "usage").json()
    total = len(CONTENT) + 5 + 4
    assert (usage["usedBytes"], usage["usedInodes"]) == (total, 6)  # 3 files, 3 folders
    assert usage["bytesQuota"] is None

    StorageQuota.objects.create(user=tree, bytes_quota=1024 * 1024, inodes_quota=100)
    response = auth_client.post("/resource/configRemake/getQuotaRemainResource", {"userId": "alice"}, format="json")
    result = response.json()["result"]
    assert result["inodeUsed"] == 6
    assert result["inodeRemain"] == 94
    assert result["blockUsed"] == -(-total // 1024)
    assert result["blockQuota"] == 1024
