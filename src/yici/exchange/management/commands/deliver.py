"""`yici deliver [--once]`: push registry changes to the line systems that subscribed to them."""

import time

from django.core.management.base import BaseCommand, CommandError

from yici.exchange.delivery import deliver_due


class Command(BaseCommand):
    help = (
        "Turn outbox events into deliveries and push the due ones through each system's connector; "
        "failures are retried with backoff. Runs until stopped, or one round with --once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one round, then exit")
        parser.add_argument("--limit", type=int, default=100, help="deliveries claimed per round")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds to wait when nothing is due")

    def handle(self, *args, **options):
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["interval"] < 0:
            raise CommandError("--interval cannot be negative")
        try:
            while True:
                result = deliver_due(limit=options["limit"])
                if result.claimed or result.dispatched or options["once"]:
                    self.stdout.write(
                        f"dispatched {result.dispatched}, sent {result.sent}, retrying {result.retried}, "
                        f"refused {result.failed}, dead {result.dead}"
                    )
                if options["once"]:
                    return
                if not result.claimed:
                    time.sleep(options["interval"])
        except KeyboardInterrupt:
            pass
