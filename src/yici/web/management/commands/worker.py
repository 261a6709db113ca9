"""`yici worker`: run background tasks (imports, fills) and push registry changes to line systems."""

import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections


class Command(BaseCommand):
    help = (
        "Run the background task worker (django-tasks-db) and the delivery loop that pushes registry "
        "changes to line systems. Several may run side by side."
    )

    def add_arguments(self, parser):
        parser.add_argument("--queue", default="*", help="queue name to work on (default: all)")
        parser.add_argument("--batch", action="store_true", help="exit when the queue is empty")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
        parser.add_argument("--no-deliveries", action="store_true", help="do not push changes to line systems")

    def handle(self, *args, **options):
        if options["interval"] <= 0:
            raise CommandError("--interval must be positive")
        if not options["no_deliveries"] and not options["batch"]:
            threading.Thread(target=self._deliveries, daemon=True, name="yici-deliveries").start()
        if not options["batch"]:
            threading.Thread(target=self._housekeeping, daemon=True, name="yici-housekeeping").start()
        worker_args = ["--queue-name", options["queue"], "--interval", str(options["interval"]), "--no-reload"]
        if options["batch"]:
            worker_args.append("--batch")
        call_command("db_worker", *worker_args)

    @staticmethod
    def _housekeeping():
        """Hourly: delete expired sign-in tokens (each refresh leaves one behind)."""
        import logging
        import time

        from django.conf import settings

        from yici.accounts.services_sso import tokens_clear_expired

        while True:
            try:
                tokens_clear_expired()
            except Exception:  # a failed clean-up is retried next hour; the worker goes on
                logging.getLogger(__name__).exception("clearing expired tokens failed")
            finally:
                close_old_connections()
            time.sleep(getattr(settings, "YICI_HOUSEKEEPING_SECONDS", 3600))

    @staticmethod
    def _deliveries():
        from yici.exchange.delivery import delivery_loop

        try:
            delivery_loop()
        finally:
            close_old_connections()
