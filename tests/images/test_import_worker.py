"""Image imports on a real worker: valid docker-save and OCI tarballs are read back with
their digests, sizes and config; bad ones fail with a reason and leave nothing behind."""

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from django.conf import settings

from images.builders import build_docker_save, build_oci_layout, demo_files
from images.models import ImageImportJob, ImageStatus, ImageTag
from tests.images.helpers import put_file
from tests.worker import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

UPLOAD = "/docker/image/uploadOld"
FIND = "/docker/image/findListSort"


def import_tarball(client, user, data, *, name="crucible/demo", tag="1.0", path=None):
    path = path or f"Image/{name.replace('/', '-')}-{tag}.tar"
    put_file(user, path, data)
    response = client.post(UPLOAD, {"imageName": name, "imageTag": tag, "fileUrl": path}, format="json")
    assert response.status_code == 200, response.content
    image_tag = ImageTag.objects.get(image__uid=response.json()["result"]["imageId"], tag=tag)
    job = ImageImportJob.objects.get(image_tag=image_tag)
    wait_until(lambda: ImageImportJob.objects.get(pk=job.pk).is_finished, timeout=60, message="image import")
    image_tag.refresh_from_db()
    job.refresh_from_db()
    return image_tag, job


def store_files():
    root = Path(settings.IMAGES_STORE_DIR)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def data_files_outside_store():
    """Every file of the data folder except the image store, the broker and the database."""
    data = Path(settings.DATA_DIR)
    skip = [Path(settings.IMAGES_STORE_DIR), data / "broker", data / "broker-control"]
    return {
        p
        for p in data.rglob("*")
        if p.is_file() and not any(s in p.parents for s in skip) and "sqlite3" not in p.name and not p.name.endswith(".log")
    }


def test_docker_save_and_oci_imports(celery_worker, auth_client, user):
    data, details = build_docker_save(demo_files(), cmd=["--port", "8080"], ports=["8080/tcp", "9090/tcp"])
    tag, job = import_tarball(auth_client, user, data)
    assert job.status == "succeeded", (job.error, job.log)
    assert tag.status == ImageStatus.SUCCESS and tag.reason == ""
    assert tag.archive_format == "docker-save" and tag.config_digest == details["config_digest"]
    assert (tag.architecture, tag.os, tag.working_dir) == ("amd64", "linux", "/app")
    assert tag.entrypoint == ["/app/run.sh"] and tag.cmd == ["--port", "8080"]
    assert tag.exposed_ports == ["8080/tcp", "9090/tcp"] and "MODEL_DIR=/models" in tag.env
    layers = list(tag.layers.values_list("digest", "size", "diff_id"))
    assert layers == [(l["digest"], l["size"], l["diff_id"]) for l in details["layers"]]
    assert tag.size == details["config_size"] + details["layers"][0]["size"]
    for digest in [details["config_digest"], details["layers"][0]["digest"]]:
        assert (Path(settings.IMAGES_STORE_DIR) / "blobs/sha256" / digest[7:]).is_file()

    oci, oci_details = build_oci_layout(demo_files(), architecture="arm64")
    tag2, job2 = import_tarball(auth_client, user, gzip.compress(oci), tag="1.1-oci")
    assert job2.status == "succeeded", (job2.error, job2.log)
    assert tag2.archive_format == "oci" and tag2.architecture == "arm64"
    assert tag2.manifest_digest == oci_details["manifest_digest"]
    assert list(tag2.layers.values_list("digest", "size")) == [
        (l["digest"], l["size"]) for l in oci_details["layers"]
    ]
    # Two tags of one image; the list shows the newest and counts both.
    row = auth_client.post(FIND, {"pageNum": 1, "imageName": "crucible/demo"}, format="json").json()["result"]["rows"][0]
    assert (row["tagNum"], row["imageTag"], row["imageStatus"], row["statusName"]) == (2, "1.1-oci", 1, "成功")
    assert row["imageSize"] == f"{tag2.size}B" and tag2.size < 1024


def with_member(name, data=b"owned"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_bad_tarballs_fail_cleanly(celery_worker, auth_client, user, settings):
    valid, _ = build_docker_save(demo_files())
    cases = {
        "corrupt": (b"\x00garbage, not a tar archive\x00" * 100, "corrupt"),
        "truncated": (valid[: len(valid) // 2], "truncated"),
        "traversal": (with_member("../../escaped.txt"), "'..'"),
    }
    store_before = store_files()
    outside_before = data_files_outside_store()
    results = {}
    for index, (case, (data, _)) in enumerate(cases.items()):
        results[case] = import_tarball(auth_client, user, data, name=f"bad/{case}", tag=f"t{index}")
    settings.IMAGES_MAX_TOTAL_BYTES = 2048  # copied into the job when it is created
    results["too-large"] = import_tarball(auth_client, user, valid, name="bad/large", tag="big")
    cases["too-large"] = (valid, "archive bomb refused")
    for case, (tag, job) in results.items():
        assert job.status == "failed", case
        assert tag.status == ImageStatus.FAILED, case
        assert cases[case][1] in tag.reason, (case, tag.reason)
        assert tag.layers.count() == 0
    assert store_files() == store_before  # staging removed, no blob kept
    outside_after = data_files_outside_store()
    added = outside_after - outside_before
    # The only new files are the uploaded tarballs themselves (in the file space).
    assert all("/files/" in str(p) for p in added), added
    assert not list(Path(settings.DATA_DIR).rglob("escaped.txt"))
    assert not (Path(settings.IMAGES_STORE_DIR).parent.parent / "escaped.txt").exists()
    row = auth_client.post(FIND, {"pageNum": 1, "imageName": "bad/corrupt"}, format="json").json()["result"]["rows"][0]
    assert (row["imageStatus"], row["statusName"]) == (3, "失败")
