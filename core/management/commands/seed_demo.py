import importlib
import importlib.util

from django.core.management.base import BaseCommand
from django.db import transaction

from config.urls import APPS

# Every app's demo data in URL order, then core's diagnostic job (owned by the seeded admin).
SEED_APPS = [*APPS, "core"]


def seed_modules():
    """The `<app>.seed` modules that exist, in order."""
    return [importlib.import_module(f"{app}.seed") for app in SEED_APPS if importlib.util.find_spec(f"{app}.seed")]


class Command(BaseCommand):
    help = "Create the demo accounts and each app's demo data (idempotent) and print the logins."

    def handle(self, *args, **options):
        for module in seed_modules():
            # One transaction per app: a failure leaves no half-seeded app, and jobs an
            # app enqueues are sent once its rows are committed.
            with transaction.atomic():
                module.run(self.stdout)
