"""`yici user-disable USERNAME`: a departed cadre loses Yici and every line system account."""

from django.core.management.base import BaseCommand, CommandError

from yici.accounts.models import User
from yici.accounts.services import user_set_active


class Command(BaseCommand):
    help = (
        "Disable a user: their sessions and tokens end at once and every line system that provisions accounts "
        "is told to disable theirs (retried until confirmed). --enable turns the user on again."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--enable", action="store_true", help="enable the user again instead")

    def handle(self, *args, **options):
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']!r}")
        user_set_active(user=user, active=options["enable"], actor=None)
        from yici.accounts.provisioning import pending_deliveries

        pending = pending_deliveries(user=user)
        state = "enabled" if options["enable"] else "disabled"
        self.stdout.write(f"{user.username} {state}; {len(pending)} line systems still to confirm")
