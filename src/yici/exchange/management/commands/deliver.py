"""`yici deliver [--once]`: push registry changes to the line systems that subscribed to them."""

from django.core.management.base import BaseCommand, CommandError

from yici.exchange.delivery import deliver_due, delivery_loop


class Command(BaseCommand):
    help = (
        "Turn outbox events into deliveries and push the due ones through each system's connector; "
        "failures are retried with backoff. Runs until stopped, or one round with --once. "
        "(`yici worker` runs the same loop beside the task worker.)"
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one round, then exit")
        parser.add_argument("--limit", type=int, default=200, help="deliveries claimed per round")
        parser.add_argument("--interval", type=float, default=0.2, help="seconds to wait when nothing is due")
        parser.add_argument("--quiet", action="store_true", help="do not print a line per busy round")

    def handle(self, *args, **options):
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["interval"] < 0:
            raise CommandError("--interval cannot be negative")

        def report(result):
            if not options["quiet"] and (result.claimed or result.dispatched or options["once"]):
                self.stdout.write(
                    f"dispatched {result.dispatched}, sent {result.sent}, retrying {result.retried}, "
                    f"refused {result.failed}, dead {result.dead}, paused {result.paused}"
                )
                self.stdout.flush()

        if options["once"]:
            report(deliver_due(limit=options["limit"]))
            return
        try:
            delivery_loop(limit=options["limit"], idle_seconds=options["interval"], on_round=report)
        except KeyboardInterrupt:
            pass
