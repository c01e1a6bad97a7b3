"""Decompression bombs and quota, as an attacker tries them: a gzip tarball of a few hundred
KB that unpacks to 100 MB is refused while it streams, early, with a clear reason, and
leaves nothing on disk; staging never writes past the owner's storage quota."""

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import StorageQuota
from images import tarball
from images.builders import build_docker_save, demo_files
from images.models import ImageStatus, ImageTag
from tests.images.helpers import put_file
from tests.images.test_import_worker import data_files_outside_store, import_tarball, store_files

BOMB_BYTES = 100 * 1024**2


class Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def gzip_bomb(size=BOMB_BYTES):
    """A docker-save-looking tarball: manifest.json, then one layer of `size` zero bytes, gzipped."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packed, tarfile.open(fileobj=packed, mode="w|") as tar:
        manifest = b'[{"Config": "config.json", "Layers": ["layer.tar"]}]'
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo("layer.tar")
        info.size = size
        tar.addfile(info, io.BufferedReader(Zeros(size), 1024 * 1024))
    return out.getvalue()


class Counting(io.BytesIO):
    """The uploaded file, counting how much of it the reader consumed."""

    consumed = 0

    def read(self, size=-1):
        data = super().read(size)
        self.consumed += len(data)
        return data


@pytest.fixture(scope="module")
def bomb():
    data = gzip_bomb()
    assert len(data) < 200 * 1024  # ~1000x
    return data


def test_the_reader_stops_a_bomb_at_its_expansion_cap(bomb, tmp_path):
    store = tarball.ImageStore(tmp_path / "store")
    cap = tarball.expansion_cap(len(bomb), 20)
    limits = tarball.Limits(100, 10 * 1024**3, 40 * 1024**3, max_stream_bytes=cap)
    upload = Counting(bomb)
    with pytest.raises(tarball.ArchiveError) as caught:
        tarball.import_archive(upload, store, limits)
    assert "archive bomb refused" in str(caught.value) and "unpacks to more than" in str(caught.value)
    # Refused early: a small part of the upload was read, and nothing is left behind.
    assert upload.consumed < len(bomb) // 4
    assert not [p for p in store.root.rglob("*") if p.is_file()]


def test_the_cap_never_refuses_small_honest_archives(tmp_path):
    valid, _ = build_docker_save(demo_files())
    packed = gzip.compress(valid)
    assert len(valid) / len(packed) > 10  # tar padding alone compresses far beyond a ratio of 5
    limits = tarball.Limits(100, 10**7, 10**8, max_stream_bytes=tarball.expansion_cap(len(packed), 5))
    assert tarball.import_archive(io.BytesIO(packed), tarball.ImageStore(tmp_path / "s"), limits)["format"]


def test_staging_stops_at_the_quota(tmp_path):
    valid, _ = build_docker_save(demo_files())
    store = tarball.ImageStore(tmp_path / "store")
    with pytest.raises(tarball.ArchiveError) as caught:
        tarball.import_archive(io.BytesIO(valid), store, tarball.Limits(100, 10**7, 10**8, quota_bytes=100))
    assert "storage quota" in str(caught.value)
    assert not [p for p in store.root.rglob("*") if p.is_file()]


@pytest.mark.django_db(transaction=True)
def test_a_bomb_upload_fails_its_job_with_a_clear_reason(celery_worker, auth_client, user, bomb):
    store_before, outside_before = store_files(), data_files_outside_store()
    tag, job = import_tarball(auth_client, user, bomb, name="evil/bomb", tag="boom")
    assert job.status == "failed"
    assert tag.status == ImageStatus.FAILED
    assert "archive bomb refused" in tag.reason and "IMAGES_MAX_EXPANSION_RATIO" in tag.reason
    assert store_files() == store_before
    added = data_files_outside_store() - outside_before
    assert all("/files/" in str(p) for p in added), added  # only the uploaded tarball itself
    staging = Path(settings.IMAGES_STORE_DIR) / "tmp"
    assert not staging.exists() or not any(staging.iterdir())


@pytest.mark.django_db(transaction=True)
def test_imports_stage_within_the_storage_quota(celery_worker, auth_client, user):
    valid, _ = build_docker_save(demo_files())
    packed = gzip.compress(valid)
    members = sum(m.size for m in tarfile.open(fileobj=io.BytesIO(valid)).getmembers() if m.isreg())
    assert members > 4 * len(packed)
    # Room for the packed tarball in the file space and as much again, not for what it unpacks to.
    StorageQuota.objects.create(user=user, bytes_quota=3 * len(packed))
    tag, job = import_tarball(auth_client, user, packed, name="quota/image", tag="q")
    assert job.status == "failed" and tag.status == ImageStatus.FAILED
    assert "storage quota" in tag.reason


@pytest.mark.django_db
def test_an_import_is_refused_at_once_when_the_quota_cannot_hold_it(auth_client, user):
    put_file(user, "Image/big.tar", b"x" * 4096)
    StorageQuota.objects.create(user=user, bytes_quota=5000)
    response = auth_client.post("/docker/image/uploadOld", {"imageName": "big", "fileUrl": "Image/big.tar"},
                                format="json")
    assert response.status_code == 403
    body = response.json()
    assert body["success"] is False and "storage quota" in body["message"]
    assert not ImageTag.objects.exists()
