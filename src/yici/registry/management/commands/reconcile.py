"""`yici reconcile`: link imported records into golden records (de-duplication)."""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yici.common.parallel import WorkerLost
from yici.common.progress import ProgressBar
from yici.registry.reconcile import export_clusters, reconcile


class Command(BaseCommand):
    help = (
        "Link source records into golden persons, households, houses and places. New records join existing "
        "golden records; --full re-evaluates every record. Uncertain pairs go to the review queue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--entity", choices=["person", "household", "house", "place"])
        parser.add_argument("--full", action="store_true", help="re-link every record, not only new ones")
        parser.add_argument("--export-clusters", metavar="FILE.csv",
                            help="afterwards write system,file,row_number,cluster_id for every imported person row")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **options):
        export = Path(options["export_clusters"]) if options["export_clusters"] else None
        if export is not None and not export.parent.exists():
            raise CommandError(f"folder {export.parent} does not exist")
        bar = ProgressBar("reconcile", enabled=None if not options["quiet"] else False)
        try:
            result = reconcile(entity=options["entity"], full=options["full"], progress=bar.staged)
        except WorkerLost as exc:  # killed by the system, most likely for want of memory
            raise CommandError(f"{exc}; nothing was changed") from None
        finally:
            bar.close()
        self.stdout.write(
            f"reconciled {result.records} records ({result.new_records} new) into {result.clusters} clusters: "
            f"{result.created} golden records created, {result.merged_away} merged, {result.relinked} relinked, "
            f"{result.review_pairs} pairs to review ({result.seconds:.1f} s)"
        )
        if export is not None:
            n = 0
            with export.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["system", "file", "row_number", "cluster_id"])
                for row in export_clusters():
                    writer.writerow(row)
                    n += 1
            self.stdout.write(f"wrote {n} rows to {export}")
