"""`yici import FILE --system NAME`: import a department's legacy export into the registry."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yici.accounts.models import Area
from yici.common.parallel import WorkerLost
from yici.common.progress import ProgressBar
from yici.exchange.imports import (
    ENTITIES,
    ImportError_,
    import_dry_run,
    import_prepare,
    import_run,
    load_mapping_file,
)


class Command(BaseCommand):
    help = (
        "Import a department export (.xlsx, .xls or .csv in UTF-8/GBK). Headers are found below title rows and "
        "mapped to catalog elements automatically; values are normalised and validated; each row is stored "
        "as a source record with its provenance, then linked into golden records (yici reconcile)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--system", required=True, help="code of the line system the file comes from, e.g. gongan_huji")
        parser.add_argument("--entity", choices=ENTITIES, help="what the rows describe (default: guessed from the columns)")
        parser.add_argument("--area", help="area code every row belongs to (rows naming a place inside it are more precise)")
        parser.add_argument("--sheet", help="sheet name (default: the first sheet with a table)")
        parser.add_argument("--mapping", help="JSON file {header or column letter: element code or null} overriding the automatic mapping")
        parser.add_argument("--dry-run", action="store_true", help="show the mapping and each row's outcome; store nothing")
        parser.add_argument("--no-reconcile", action="store_true", help="store the rows but do not link them yet")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        area_code = options["area"] or ""
        if area_code and not Area.objects.filter(code=area_code).exists():
            raise CommandError(f"no area with code {area_code!r}")
        try:
            overrides = load_mapping_file(Path(options["mapping"])) if options["mapping"] else None
            plan = import_prepare(
                data=data, filename=path.name, system_code=options["system"], entity=options["entity"],
                sheet=options["sheet"], overrides=overrides, area_code=area_code,
            )
        except ImportError_ as exc:
            raise CommandError(f"{path.name}: {exc}; nothing was imported") from None
        self._print_mapping(plan, verbose=options["dry_run"] or options["verbosity"] > 1)
        bar = ProgressBar(path.name, enabled=None if not options["quiet"] else False)
        try:
            if options["dry_run"]:
                summary = import_dry_run(plan, progress=bar)
            else:
                summary = import_run(plan, progress=bar)
        except WorkerLost as exc:  # killed by the system, most likely for want of memory
            raise CommandError(f"{path.name}: {exc}; nothing was imported") from None
        finally:
            bar.close()
        if summary.already_imported:
            self.stdout.write(f"{path.name}: already imported as batch {summary.batch.pk}; nothing new")
            return
        for outcome in summary.outcomes:
            if options["dry_run"] or outcome.status == "invalid":
                self._print_outcome(outcome)
        self.stdout.write(summary.line() + (" (dry run: nothing stored)" if options["dry_run"] else ""))
        if not options["dry_run"] and not options["no_reconcile"]:
            from django.core.management import call_command

            call_command("reconcile", quiet=options["quiet"], stdout=self.stdout, stderr=self.stderr)

    def _print_mapping(self, plan, *, verbose: bool) -> None:
        if verbose:
            for c in plan.columns:
                target = c.element or "—"
                self.stdout.write(f"  {c.letter:>3} {'/'.join(c.header_path):<28} → {target:<30} {c.confidence:.2f} {c.method}")
        if plan.unmapped:
            self.stdout.write("unmapped columns: " + ", ".join(f"{c.letter} {c.header}" for c in plan.unmapped))
        for c in plan.low_confidence:
            others = ", ".join(f"{code} {score:.2f}" for code, score in c.candidates[1:3])
            self.stdout.write(f"low confidence: {c.letter} {c.header} → {c.element} ({c.confidence:.2f}; also {others or 'nothing'})")

    def _print_outcome(self, o) -> None:
        problems = "; ".join(f"{code}: {i['message']}" for code, issues in o.issues.items() for i in issues)
        self.stdout.write(f"  row {o.row_number} (line {o.sheet_row}) {o.status}{' ' + problems if problems else ''}")
