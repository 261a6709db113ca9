"""`yici worker`: run background tasks (imports, fills, deliveries) from the database queue."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the background task worker (django-tasks-db). Several may run side by side."

    def add_arguments(self, parser):
        parser.add_argument("--queue", default="*", help="queue name to work on (default: all)")
        parser.add_argument("--batch", action="store_true", help="exit when the queue is empty")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")

    def handle(self, *args, **options):
        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        worker_args = ["--queue-name", options["queue"], "--interval", str(options["interval"]), "--no-reload"]
        if options["batch"]:
            worker_args.append("--batch")
        call_command("db_worker", *worker_args)
