"""`yici replay --system CODE | --delivery ID`: send dead (or refused) deliveries again."""

from django.core.management.base import BaseCommand, CommandError

from yici.exchange.models import Delivery, LineSystem
from yici.exchange.services import delivery_replay, system_replay_dead


class Command(BaseCommand):
    help = ("Queue a line system's dead deliveries (and, with --refused, the ones it refused) to be sent again, "
            "or one delivery by its ID.")

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--system", help="code of the line system: all its dead letters")
        target.add_argument("--delivery", type=int, help="ID of one dead or refused delivery")
        parser.add_argument("--refused", action="store_true", help="also re-send deliveries the system refused (4xx)")

    def handle(self, *args, **options):
        if options["delivery"] is not None:
            delivery = Delivery.objects.filter(pk=options["delivery"]).select_related("system").first()
            if delivery is None:
                raise CommandError(f"no delivery {options['delivery']}")
            if not delivery_replay(delivery=delivery):
                raise CommandError(f"delivery {delivery.pk} is {delivery.status}, not dead or refused")
            self.stdout.write(f"delivery {delivery.pk} to {delivery.system.code} queued again")
            return
        system = LineSystem.objects.filter(code=options["system"]).first()
        if system is None:
            raise CommandError(f"unknown line system {options['system']!r}")
        count = system_replay_dead(system=system, include_refused=options["refused"])
        self.stdout.write(f"{count} deliveries to {system.code} queued again")
