"""`yici replay --system CODE`: put a line system's dead deliveries back in the queue."""

from django.core.management.base import BaseCommand, CommandError

from yici.exchange.delivery import replay
from yici.exchange.models import DeliveryStatus, LineSystem


class Command(BaseCommand):
    help = "Queue a line system's dead deliveries (and, with --refused, the ones it refused) to be sent again."

    def add_arguments(self, parser):
        parser.add_argument("--system", required=True, help="code of the line system")
        parser.add_argument("--refused", action="store_true", help="also re-send deliveries the system refused (4xx)")

    def handle(self, *args, **options):
        system = LineSystem.objects.filter(code=options["system"]).first()
        if system is None:
            raise CommandError(f"unknown line system {options['system']!r}")
        statuses = [DeliveryStatus.DEAD] + ([DeliveryStatus.FAILED] if options["refused"] else [])
        count = replay(system=system, statuses=statuses)
        self.stdout.write(f"{count} deliveries to {system.code} queued again")
