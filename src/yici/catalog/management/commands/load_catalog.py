"""`yici load-catalog [FILE.json]`: load the data-element catalog (the shipped one by default)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from yici.catalog.services import BUILTIN_CATALOG, CatalogError, catalog_load


class Command(BaseCommand):
    help = (
        "Load data elements and their code lists from a catalog JSON file (the dev kit's catalog.json "
        "layout). Without FILE, or with --builtin, load the catalog shipped with Yici. The whole file is "
        "checked first and loads in one transaction: all of it, or nothing. Loading the same file again "
        "changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="catalog JSON file (UTF-8)")
        parser.add_argument("--builtin", action="store_true", help="load the catalog shipped with Yici")

    def handle(self, *args, **options):
        if options["builtin"] and options["file"]:
            raise CommandError(_("give either FILE or --builtin, not both"))
        path = Path(options["file"]) if options["file"] else BUILTIN_CATALOG
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(_("cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror or exc}) from None
        try:
            result = catalog_load(data=data)
        except CatalogError as exc:
            raise CommandError(_("%(path)s: %(error)s; nothing was loaded") % {"path": path, "error": exc}) from None
        self.stdout.write(
            _("%(file)s: %(created)d elements created, %(updated)d updated, %(unchanged)d unchanged")
            % {"file": path.name, **result}
        )
