"""`yici fill TEMPLATE.xlsx --area CODE --out OUT.xlsx`: fill a department's template from the registry."""

import json
import os
import tempfile
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.accounts.models import Area
from yici.reports.services import FillError, template_fill


class Command(BaseCommand):
    help = (
        "Fill a department's Excel template (.xlsx or .xls) with the golden records of an area: the header is "
        "matched to catalog elements, one row is written per record that --where selects, and the template's "
        "title, header, drop-downs and footer are kept. Cells the registry cannot fill are listed with --gaps."
    )

    def add_arguments(self, parser):
        parser.add_argument("template")
        parser.add_argument("--area", required=True, help="code of the area whose records fill the template")
        parser.add_argument("--out", required=True, help="the filled workbook (.xlsx), or a folder to write it into")
        parser.add_argument("--where", default="all",
                            help="population filter, e.g. \"age>=80\" or \"person.low_income==是\" (default: all)")
        parser.add_argument("--as-of", dest="as_of", help="date ages are computed for, YYYY-MM-DD (default: today)")
        parser.add_argument("--gaps", help="write the cells that could not be filled to this JSON file")

    def handle(self, *args, **options):
        path = Path(options["template"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(_("cannot read %(path)s: %(err)s") % {"path": path, "err": exc.strerror}) from None
        area = Area.objects.filter(code=options["area"]).first()
        if area is None:
            raise CommandError(_("no area with code %(code)s") % {"code": options["area"]})
        as_of = None
        if options["as_of"]:
            try:
                as_of = date.fromisoformat(options["as_of"])
            except ValueError:
                raise CommandError(_("--as-of %(value)s is not a date; write it as YYYY-MM-DD") % {"value": options["as_of"]}) from None
        out = Path(options["out"])
        if not out.is_dir() and out.suffix.lower() != ".xlsx":
            raise CommandError(_("--out %(out)s must be an .xlsx file or an existing folder") % {"out": out})
        try:  # the gap cells are listed only when asked (a county has a million of them)
            result = template_fill(data=data, filename=path.name, area=area, where=options["where"], as_of=as_of,
                                   collect_gaps=bool(options["gaps"]))
        except FillError as exc:
            message = " ".join(str(exc).split())
            raise CommandError(_("%(file)s: %(message)s Nothing was written.") % {"file": path.name, "message": message}) from None
        if out.is_dir():
            out = out / result.filename
        files = {out: result.workbook}
        gaps = Path(options["gaps"]) if options["gaps"] else None
        if gaps is not None:
            report = {"template": path.name, "area": area.code, "where": options["where"],
                      "as_of": (as_of or timezone.localdate()).isoformat(), "gaps": result.gaps_json()}
            files[gaps] = json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8")
        _write_all(files)
        line = f"{result.line()} → {out}"
        if gaps is not None:
            line += _("; %(n)d gaps → %(file)s") % {"n": len(result.gaps), "file": gaps}
        self.stdout.write(line)


def _write_all(files: dict[Path, bytes]) -> None:
    """Write every file through a temporary one and rename them only when all are written, so a
    failure never leaves half a workbook, or a workbook without its gaps, behind."""
    written: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            written.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
    except OSError as exc:
        for tmp, _path in written:
            Path(tmp).unlink(missing_ok=True)
        raise CommandError(_("cannot write %(path)s: %(err)s") % {"path": exc.filename or path, "err": exc.strerror}) from None
    for tmp, path in written:
        os.replace(tmp, path)
