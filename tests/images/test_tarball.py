"""The tarball reader on its own (no worker): formats, digests, and every refusal."""

import gzip
import io
import json
import tarfile

import pytest

from images import tarball
from images.builders import build_docker_save, build_oci_layout, demo_files, layer_tar, sha256

LIMITS = tarball.Limits(max_members=100, max_member_bytes=10 * 1024**2, max_total_bytes=20 * 1024**2)


def read(data, store, limits=LIMITS):
    return tarball.import_archive(io.BytesIO(data), store, limits)


@pytest.fixture
def store(tmp_path):
    return tarball.ImageStore(tmp_path / "store")


def stored_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def tar_of(members):
    """members: [(TarInfo-like dict or name, bytes)]"""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def end_of_members(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    return last.offset_data + -(-last.size // 512) * 512


def test_docker_save_is_read_and_verified(store):
    data, details = build_docker_save(demo_files(), entrypoint=["/app/run.sh"], cmd=["--port", "8080"])
    image = read(data, store)
    assert image["format"] == "docker-save"
    assert image["config_digest"] == details["config_digest"]
    assert [(l["digest"], l["size"], l["diff_id"]) for l in image["layers"]] == [
        (l["digest"], l["size"], l["diff_id"]) for l in details["layers"]
    ]
    assert (image["architecture"], image["os"]) == ("amd64", "linux")
    assert image["entrypoint"] == ["/app/run.sh"] and image["cmd"] == ["--port", "8080"]
    assert "MODEL_DIR=/models" in image["env"] and image["exposed_ports"] == ["8080/tcp"]
    assert image["repo_tags"] == ["crucible/demo:1.0"]
    assert image["size"] == details["config_size"] + details["layers"][0]["size"]
    kept = stored_files(store.root)
    assert kept == sorted(["blobs/sha256/" + details["config_digest"][7:], "blobs/sha256/" + details["layers"][0]["digest"][7:]])


def test_gzipped_docker_save_and_oci_layout(store):
    data, details = build_docker_save(demo_files())
    assert read(gzip.compress(data), store)["config_digest"] == details["config_digest"]
    data, details = build_oci_layout(demo_files(), architecture="arm64")
    image = read(data, store)
    assert image["format"] == "oci" and image["architecture"] == "arm64"
    assert image["manifest_digest"] == details["manifest_digest"]
    assert image["layers"][0]["diff_id"] == details["layers"][0]["diff_id"]
    assert image["layers"][0]["media_type"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert image["repo_tags"] == ["1.0"]


def refused(data, store, limits=LIMITS):
    with pytest.raises(tarball.ArchiveError) as caught:
        read(data, store, limits)
    assert stored_files(store.root) == []  # staging removed, nothing kept
    return str(caught.value)


def test_refusals_leave_nothing_behind(store, tmp_path):
    valid, _ = build_docker_save(demo_files())
    assert "truncated" in refused(valid[: len(valid) // 2], store)
    assert "truncated" in refused(valid[: end_of_members(valid)], store)  # no end-of-archive marker
    assert "truncated" in refused(valid[: end_of_members(valid) - 512 - 100], store)  # inside the last header
    assert "corrupt" in refused(b"this is not a tar archive at all" * 40, store)
    damaged = bytearray(valid)
    damaged[700:1200] = b"\xff" * 500  # inside the first member: its data no longer hashes right
    assert refused(bytes(damaged), store)
    assert "truncated" in refused(gzip.compress(valid)[:-100], store)
    assert "'..'" in refused(tar_of([("../escape.txt", b"x")]), store)
    assert not (tmp_path / "escape.txt").exists() and not (store.root / ".." / "escape.txt").exists()
    assert "absolute" in refused(tar_of([("/etc/passwd", b"x")]), store)
    assert "more than 3 members" in refused(valid, store, tarball.Limits(3, 10**7, 10**8))
    assert "more than the limit" in refused(valid, store, tarball.Limits(100, 100, 10**8))
    assert "more than 1000 bytes" in refused(valid, store, tarball.Limits(100, 10**7, 1000))
    assert "neither manifest.json" in refused(tar_of([("hello.txt", b"hi")]), store)


def test_links_outside_the_archive_are_refused(store):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.type, info.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tar.addfile(info)
    assert "outside the archive" in refused(buffer.getvalue(), store)


def test_digest_mismatches_are_refused(store):
    layer = layer_tar(demo_files())
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"diff_ids": ["sha256:" + "0" * 64]}}).encode()
    manifest = [{"Config": f"{sha256(config)}.json", "Layers": ["l/layer.tar"]}]
    data = tar_of([("l/layer.tar", layer), (f"{sha256(config)}.json", config), ("manifest.json", json.dumps(manifest).encode())])
    assert "does not match the config" in refused(data, store)
    manifest = [{"Config": f"{'a' * 64}.json", "Layers": []}]
    data = tar_of([(f"{'a' * 64}.json", config), ("manifest.json", json.dumps(manifest).encode())])
    assert "not the digest in its name" in refused(data, store)


def test_oci_blob_with_wrong_content_is_refused(store):
    data, details = build_oci_layout(demo_files())
    layer_hex = details["layers"][0]["digest"][7:]
    members = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            content = tar.extractfile(member).read()
            if member.name.endswith(layer_hex):
                content = gzip.compress(b"tampered layer", mtime=0)
            members.append((member.name, content))
    assert "corrupt" in refused(tar_of(members), store)
