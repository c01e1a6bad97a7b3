from django.core.management.base import BaseCommand

from serving.services import stop_host_replica_processes


class Command(BaseCommand):
    help = "Stop this host's model-server replica processes (a serving worker restarts them later)."

    def handle(self, *args, **options):
        count = stop_host_replica_processes()
        self.stdout.write(f"stopped {count} replica process(es)")
