"""`yici inbox-generate-recurring [--date YYYY-MM-DD]`: send each active recurring task for its period.

Idempotent per period: running it twice in the same week (weekly rules) or month (monthly rules)
sends nothing the second time. Run it daily from cron or the worker's scheduler.
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from yici.common.progress import ProgressBar
from yici.inbox.models import TaskStatus
from yici.inbox.services import recurring_generate


class Command(BaseCommand):
    help = ("Send every active recurring inbox task once for the week or month holding the date (default: today); "
            "a period already sent is skipped.")

    def add_arguments(self, parser):
        parser.add_argument("--date", help="the day to generate for, YYYY-MM-DD (default: today)")

    def handle(self, *args, **options):
        day = None
        if options["date"]:
            try:
                day = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(_("--date %(value)s is not a date; write it as YYYY-MM-DD")
                                   % {"value": options["date"]}) from None
        bar = ProgressBar(_("recurring tasks"))
        created = recurring_generate(today=day, progress=bar)
        bar.close()
        admitted = sum(1 for t in created if t.status == TaskStatus.ADMITTED)
        self.stdout.write(_("%(n)d recurring tasks sent (%(ok)d admitted).") % {"n": len(created), "ok": admitted})
