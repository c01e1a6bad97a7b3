"""Nothing is left behind: a failed upload removes the content it stored, and
`manage.py hub_orphan_blobs` finds (and with --delete removes) what nothing uses."""

import datetime
import io

from django.core.management import call_command
from django.utils import timezone

from hub import storage
from hub.models import Blob, LfsObject
from tests.hub.factories import make_repo, multipart_files

URL = "/api/v1/hub/repos/model/alice/repo/upload"


def blob_files():
    root = storage.local_root() / "hub" / "blobs"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def test_an_upload_whose_commit_fails_leaves_nothing_stored(auth_client, user):
    make_repo(user, files={"weights": b"old weights"})
    before_rows, before_files = Blob.objects.count(), blob_files()
    # "weights" is a file, so "weights/extra.bin" makes the commit fail after the content is stored.
    handles, paths = multipart_files({"weights/extra.bin": b"new content", "notes.txt": b"new notes"})
    response = auth_client.post(URL, {"files": handles, "paths": paths}, format="multipart")
    assert response.status_code == 409
    assert Blob.objects.count() == before_rows
    assert blob_files() == before_files


def test_orphan_command_lists_then_deletes_old_unused_content(user):
    repo = make_repo(user, files={"kept.txt": b"kept"})
    orphan = storage.store_stream(io.BytesIO(b"uploaded, never committed").read, 25)
    LfsObject.objects.create(repo=repo, blob=orphan)
    fresh = storage.store_stream(io.BytesIO(b"uploaded a moment ago").read, 21)
    Blob.objects.filter(pk=orphan.pk).update(created_at=timezone.now() - datetime.timedelta(days=2))
    orphan_path = storage.local_root() / orphan.storage_name

    out = io.StringIO()
    call_command("hub_orphan_blobs", stdout=out)
    assert f"orphan blob {orphan.sha256}" in out.getvalue() and fresh.sha256 not in out.getvalue()
    assert Blob.objects.filter(pk=orphan.pk).exists() and orphan_path.exists()  # listing deletes nothing

    call_command("hub_orphan_blobs", "--delete", stdout=io.StringIO())
    assert not Blob.objects.filter(pk=orphan.pk).exists() and not orphan_path.exists()
    assert Blob.objects.filter(pk=fresh.pk).exists()
    assert Blob.objects.filter(entries__path="kept.txt").exists()
