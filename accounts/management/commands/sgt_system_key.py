from django.core.management.base import BaseCommand

from accounts.system_key import key_file, off_reason, system_key


class Command(BaseCommand):
    help = "Print the SGT system key (a development instance generates one at first use)."

    def handle(self, *args, **options):
        key = system_key()
        if key:
            source = "SGT_SYSTEM_KEY" if not key_file().exists() or key_file().read_text().strip() != key else key_file()
            self.stdout.write(f"  sgt system key  {key}   (from {source})")
        else:
            self.stdout.write(f"  sgt system key  off ({off_reason()})")
