"""`yici accounts-reconcile`: list each line system's accounts, report orphans and drift, retry removals."""

import json

from django.core.management.base import BaseCommand, CommandError

from yici.accounts.models import LineSystemClient
from yici.accounts.reconcile_accounts import reconcile_all
from yici.common.progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Compare every provisioning line system's accounts with Yici: report orphans (accounts no active Yici "
        "user stands behind), drift and missing accounts; put dead account deliveries back in the queue. "
        "--disable-orphans disables orphans there; --fix-drift queues the right state again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--system", help="only this line system (its code)")
        parser.add_argument("--disable-orphans", action="store_true", help="disable orphan accounts in the systems")
        parser.add_argument("--fix-drift", action="store_true", help="queue drifted and missing accounts again")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        code = options["system"]
        if code and not LineSystemClient.objects.filter(system__code=code, provisioning=True).exists():
            raise CommandError(f"{code!r} is not a line system that provisions accounts")
        progress = ProgressBar("accounts-reconcile", enabled=None if not options["json"] else False)
        try:
            reports = reconcile_all(system_code=code, disable_orphans=options["disable_orphans"],
                                    fix_drift=options["fix_drift"], progress=progress)
        finally:
            progress.close()
        if options["json"]:
            self.stdout.write(json.dumps([r.__dict__ for r in reports], ensure_ascii=False, indent=2, default=str))
            return
        for r in reports:
            head = f"{r.system}: {r.accounts} accounts, {len(r.orphans)} orphans, {len(r.drift)} drifted, " \
                   f"{len(r.missing)} missing, {r.requeued} dead deliveries re-queued"
            if r.disabled:
                head += f", {r.disabled} orphans disabled"
            if r.queued:
                head += f", {r.queued} changes queued"
            self.stdout.write(head)
            if r.error:
                self.stdout.write(f"  ! {r.error}")
            for orphan in r.orphans:
                self.stdout.write(f"  orphan: {orphan['userName']} ({orphan['id']})")
            for item in r.drift:
                diffs = ", ".join(f"{k}: {theirs!r} ≠ {ours!r}" for k, (theirs, ours) in item["differences"].items())
                self.stdout.write(f"  drift: {item['user']}: {diffs}")
            for name in r.missing:
                self.stdout.write(f"  missing: {name}")
        if not reports:
            self.stdout.write("no line system provisions accounts")
