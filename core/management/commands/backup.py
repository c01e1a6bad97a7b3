"""`manage.py backup [--output FILE]`: the database and the data folder in one archive (core.backup)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.backup import backup
from core.errors import DomainError


class Command(BaseCommand):
    help = "Back up the database (SQLite copy or pg_dump) and the data folder into one .tar (or .tar.gz)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            help="archive to write (.tar, or .tar.gz to compress); default <data>/backups/crucible-<time>.tar",
        )

    def handle(self, *args, output, **options):
        if not output:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            output = Path(settings.DATA_DIR) / "backups" / f"crucible-{stamp}.tar"
        try:
            manifest = backup(output=output)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        files = manifest["files"]
        self.stdout.write(
            f"backup written to {Path(output).resolve()}: {manifest['database']} database, "
            f"{files['data']} data files, {files['images']} image store files"
        )
        if manifest["media_in_s3"]:
            self.stderr.write("uploads live in the S3 bucket: back the bucket up with your S3 provider's tools")
