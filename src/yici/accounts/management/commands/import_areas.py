"""`yici import-areas FILE.csv`: load the administrative area tree (NBS 统计用区划代码 layout)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yici.accounts.services import AreaImportError, areas_import


class Command(BaseCommand):
    help = (
        "Load areas from a CSV with the columns code, name, level, parent_code (a header line is optional). "
        "Levels: province, city, county, township, village, group (or 省/市/县/乡镇/村/村民小组). "
        "Groups and grids use their village's 12-digit code plus a suffix. All rows load, or none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file, UTF-8 or GBK/GB18030")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        try:
            result = areas_import(data=data)
        except AreaImportError as exc:
            raise CommandError(f"{path}: {exc}; nothing was loaded") from None
        self.stdout.write(
            f"{result['rows']} rows: {result['created']} areas created, {result['updated']} updated"
        )
