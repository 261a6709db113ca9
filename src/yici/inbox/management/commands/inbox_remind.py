"""`yici inbox-remind [--days N]`: remind cadres of open tasks due within N days (default 1) or overdue.

One reminder per task, cadre and day, however often it runs: in the app (the inbox badge) and by
SMS through the configured sender (``YICI_INBOX_SMS_SENDER``; by default only logged).
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from yici.inbox.services import items_remind


class Command(BaseCommand):
    help = "Remind village cadres of open inbox tasks due within --days days (default 1) or overdue; once a day."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=1, help="remind of tasks due within this many days")

    def handle(self, *args, **options):
        if not 0 <= options["days"] <= 30:
            raise CommandError(_("--days must be between 0 and 30"))
        sent = items_remind(days_ahead=options["days"])
        self.stdout.write(_("%(n)d reminders sent.") % {"n": sent})
