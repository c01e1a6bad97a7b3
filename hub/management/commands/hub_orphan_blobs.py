"""Find (and with --delete remove) hub content that nothing uses.

- Blob rows no commit holds, older than --older-than hours (content of an upload whose commit
  never came; LFS objects are uploaded before their commit, so recent ones are left alone);
- on local storage, files under hub/blobs/ that no Blob row names (left by a crash between
  writing a file and recording it);
- multipart LFS uploads and temporary files under hub/tmp/ older than --older-than hours.
"""

import datetime

from django.core.management.base import BaseCommand
from django.utils import timezone

from hub.models import Blob, LfsUpload, TreeEntry
from hub.storage import delete_blobs_if_unused, local_root


class Command(BaseCommand):
    help = "List hub blobs, files and uploads that nothing uses; --delete removes them."

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true", help="remove what is found")
        parser.add_argument("--older-than", type=float, default=24.0, help="hours (default 24)")

    def handle(self, *args, delete=False, older_than=24.0, **options):
        cutoff = timezone.now() - datetime.timedelta(hours=older_than)
        orphans = list(
            Blob.objects.filter(created_at__lt=cutoff).exclude(pk__in=TreeEntry.objects.values("blob_id")).order_by("pk")
        )
        orphan_bytes = sum(b.size for b in orphans)
        for blob in orphans:
            self.stdout.write(f"orphan blob {blob.sha256} {blob.size} bytes {blob.storage_name}")
        stray_files, stale_uploads, stale_temp = [], [], []
        root = local_root()
        if root is not None:
            known = set(Blob.objects.values_list("storage_name", flat=True))
            blobs_dir = root / "hub" / "blobs"
            cutoff_ts = cutoff.timestamp()
            if blobs_dir.exists():
                for path in blobs_dir.rglob("*"):
                    name = path.relative_to(root).as_posix()
                    if path.is_file() and name not in known and path.stat().st_mtime < cutoff_ts:
                        stray_files.append(path)
                        self.stdout.write(f"stray file {name} {path.stat().st_size} bytes")
            stale_uploads = list(LfsUpload.objects.filter(created_at__lt=cutoff))
            in_progress = set(LfsUpload.objects.filter(created_at__gte=cutoff).values_list("temp_name", flat=True))
            tmp_dir = root / "hub" / "tmp"
            if tmp_dir.exists():
                for path in tmp_dir.iterdir():
                    name = path.relative_to(root).as_posix()
                    if path.is_file() and name not in in_progress and path.stat().st_mtime < cutoff_ts:
                        stale_temp.append(path)
                        self.stdout.write(f"stale temporary file {name} {path.stat().st_size} bytes")
        self.stdout.write(
            f"{len(orphans)} orphan blobs ({orphan_bytes} bytes), {len(stray_files)} stray files, "
            f"{len(stale_uploads)} stale multipart uploads, {len(stale_temp)} stale temporary files"
        )
        if not delete:
            if orphans or stray_files or stale_uploads or stale_temp:
                self.stdout.write("run with --delete to remove them")
            return
        delete_blobs_if_unused(orphans)
        for path in stray_files + stale_temp:
            path.unlink(missing_ok=True)
        for upload in stale_uploads:
            if root is not None:
                (root / upload.temp_name).unlink(missing_ok=True)
            upload.delete()
        self.stdout.write("deleted")
