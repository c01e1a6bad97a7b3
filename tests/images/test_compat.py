"""platform-api.md section 2 through HTTP: envelopes, validation, paging, isolation."""

import pytest

from images.models import Image, ImageImportJob, ImageStatus, ImageTag
from tests.images.helpers import put_file

pytestmark = pytest.mark.django_db

CREATE = "/docker/image/upload"
UPLOAD = "/docker/image/uploadOld"
FIND = "/docker/image/findListSort"


def assert_plat_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["errorCode"] == status and body["result"] is None
    assert body["message"]
    return body["message"]


def test_create_image_answers_in_the_platform_envelope(auth_client, user):
    response = auth_client.post(
        CREATE,
        {"imageName": "dzq/45", "imageIcon": "box", "imageOverView": "o", "imageLabel": ["llm", "cuda"],
         "imageDescribe": "d", "userId": str(user.pk)},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["success"], body["errorCode"], body["message"]) == (True, 200, "新增镜像成功")
    row = body["result"]
    assert row["imageName"] == "dzq/45" and row["imageLabel"] == ["llm", "cuda"]
    assert (row["imageStatus"], row["statusName"], row["tagNum"], row["imageSize"]) == (0, "未上传", 0, "0B")
    image = Image.objects.get(uid=row["id"])
    assert image.owner == user and image.description == "d"


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({}, 400, "imageName"),
        ({"imageName": "Upper/Case"}, 400, "lowercase"),
        ({"imageName": "a" * 200}, 400, "imageName"),
        ({"imageName": "ok", "imageLabel": "x" * 60}, 400, "imageLabel"),
        ({"imageName": "ok", "imageLabel": {"a": 1}}, 400, "imageLabel"),
        ({"imageName": "ok", "userId": "999999"}, 403, "userId"),
    ],
)
def test_create_image_bad_input(auth_client, body, status, words):
    assert words in assert_plat_error(auth_client.post(CREATE, body, format="json"), status)


def test_duplicate_name_and_non_object_body(auth_client):
    auth_client.post(CREATE, {"imageName": "base"}, format="json")
    assert "already" in assert_plat_error(auth_client.post(CREATE, {"imageName": "base"}, format="json"), 409)
    assert_plat_error(auth_client.post(CREATE, [1, 2], format="json"), 400)
    assert_plat_error(auth_client.post(CREATE, "{not json", content_type="application/json"), 400)


def test_endpoints_need_authentication(api_client):
    for url in (CREATE, UPLOAD, FIND):
        assert_plat_error(api_client.post(url, {}, format="json"), 401)


def test_upload_old_starts_an_import_job(auth_client, user):
    put_file(user, "dzq/aios-busybox.tar", b"not yet read")
    response = auth_client.post(
        UPLOAD, {"userId": str(user.pk), "imageName": "dzq/busybox", "imageTag": "1.0", "fileUrl": "dzq/aios-busybox.tar"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["success"], body["errorCode"], body["message"]) == (True, 200, "镜像开始上传")
    assert body["result"]["imageTag"] == "1.0" and body["result"]["statusName"] == "上传中"
    tag = ImageTag.objects.get(image__uid=body["result"]["imageId"], tag="1.0")
    assert tag.status == ImageStatus.IMPORTING and tag.file_url == "dzq/aios-busybox.tar"
    job = ImageImportJob.objects.get(image_tag=tag)
    assert job.owner == user and job.status == "queued" and job.max_members > 0
    # The same tag again while it imports: a conflict.
    again = auth_client.post(UPLOAD, {"imageId": tag.image.uid, "imageTag": "1.0", "fileUrl": "/dzq/aios-busybox.tar"}, format="json")
    assert "already exists" in assert_plat_error(again, 409)


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"imageName": "x"}, 400, "fileUrl"),
        ({"imageName": "x", "fileUrl": "missing.tar"}, 400, "no file"),
        ({"imageName": "x", "fileUrl": "../secret.tar"}, 400, "'..'"),
        ({"fileUrl": "img.tar"}, 400, "imageId or imageName"),
        ({"imageName": "x", "fileUrl": "img.tar", "imageTag": "bad tag!"}, 400, "imageTag"),
        ({"imageId": "0" * 32, "fileUrl": "img.tar"}, 404, "not found"),
        ({"imageId": "../../x", "fileUrl": "img.tar"}, 400, "imageId"),
    ],
)
def test_upload_old_bad_input(auth_client, user, body, status, words):
    put_file(user, "img.tar", b"x")
    assert words in assert_plat_error(auth_client.post(UPLOAD, body, format="json"), status)


def test_upload_old_refuses_a_tarball_over_the_limit(auth_client, user, settings):
    settings.IMAGES_MAX_TARBALL_BYTES = 10
    put_file(user, "big.tar", b"x" * 11)
    assert "limit" in assert_plat_error(
        auth_client.post(UPLOAD, {"imageName": "big", "fileUrl": "big.tar"}, format="json"), 413
    )
    assert not ImageTag.objects.exists()


def test_find_list_sort_pages_searches_and_orders_newest_first(auth_client, user):
    for name in ("zjm/a", "zjm/b", "other/c"):
        auth_client.post(CREATE, {"imageName": name}, format="json")
    response = auth_client.post(FIND, {"pageNum": 1, "pageSize": 2, "imageName": "", "userId": str(user.pk)}, format="json")
    body = response.json()
    assert (body["success"], body["errorCode"], body["message"]) == (True, 200, "success")
    assert body["result"]["total"] == 3
    assert [r["imageName"] for r in body["result"]["rows"]] == ["other/c", "zjm/b"]
    page2 = auth_client.post(FIND, {"pageNum": 2, "pageSize": 2}, format="json").json()["result"]
    assert [r["imageName"] for r in page2["rows"]] == ["zjm/a"]
    found = auth_client.post(FIND, {"pageNum": 1, "imageName": "zjm"}, format="json").json()["result"]
    assert found["total"] == 2
    listed = auth_client.post(FIND, {"pageNum": 1, "imageName": ["/c", "/b"]}, format="json").json()["result"]
    assert {r["imageName"] for r in listed["rows"]} == {"other/c", "zjm/b"}
    row = found["rows"][0]
    assert set(row) >= {"imageName", "imageDescribe", "updateTime", "imageStatus", "imageOverView", "imageLabel",
                        "tagNum", "createTime", "user_id", "imageIcon", "statusName", "id", "imageSize", "imageTag"}
    assert row["user_id"] == str(user.pk) and len(row["createTime"]) == 19


@pytest.mark.parametrize("body", [{"pageNum": "x"}, {"pageNum": -1}, {"pageSize": 1000}, {"imageName": [1]}])
def test_find_list_sort_bad_input(auth_client, body):
    assert_plat_error(auth_client.post(FIND, body, format="json"), 400)


def test_users_see_only_their_own_images(auth_client, user, other_user, api_client):
    from accounts.services import issue_tokens

    auth_client.post(CREATE, {"imageName": "alice/private"}, format="json")
    access, _ = issue_tokens(other_user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    listed = api_client.post(FIND, {"pageNum": 1}, format="json").json()["result"]
    assert listed == {"total": 0, "rows": []}
    image = Image.objects.get(name="alice/private")
    put_file(other_user, "b.tar", b"x")
    response = api_client.post(UPLOAD, {"imageId": image.uid, "fileUrl": "b.tar"}, format="json")
    assert_plat_error(response, 404)
    # bob's own image of the same name is his, not alice's
    assert api_client.post(CREATE, {"imageName": "alice/private"}, format="json").status_code == 200
    assert Image.objects.filter(name="alice/private").count() == 2
