"""`manage.py restore ARCHIVE [--force]`: a `manage.py backup` archive into an empty database (core.backup)."""

from django.core.management.base import BaseCommand, CommandError

from core.backup import restore
from core.errors import DomainError


class Command(BaseCommand):
    help = "Restore a backup archive into this instance's empty database and its data folder."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="a file written by manage.py backup")
        parser.add_argument("--force", action="store_true", help="replace a database that already has tables")

    def handle(self, *args, archive, force, **options):
        try:
            manifest, restored = restore(archive_path=archive, force=force)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"restored the {manifest['database']} database of {manifest['created']}, "
            f"{restored['data']} data files and {restored['images']} image store files"
        )
        self.stdout.write("next: manage.py migrate (a no-op on the same version), then start the services")
