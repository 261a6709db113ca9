"""``yici demo``: generate and load the demo county (浦江县)."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from tqdm import tqdm

from yici.demo.services import (
    COUNTY,
    DEFAULT_PERSONS,
    DEFAULT_SEED,
    DEMO_PASSWORD,
    DEMO_USERS,
    DemoError,
    demo_exists,
    demo_generate,
    demo_is_generated,
    demo_reset,
    legacy_folder,
    validate_options,
)

SUMMARY_ROWS = [
    ("areas", "areas"), ("townships", "townships"), ("villages", "villages"), ("groups", "villager groups"),
    ("departments", "departments"), ("residents", "residents generated"), ("files", "department exports"),
    ("source_records", "source records"), ("persons", "golden persons"), ("households", "households"),
    ("houses", "houses"), ("places", "places"), ("review_pairs", "pairs to review"), ("users", "demo users"),
]


class Command(BaseCommand):
    help = (
        "Generate the demo county 浦江县 (2 townships, 6 villages, departments and one user per role), write its "
        "departments' legacy exports (residents in households, houses, places) to var/demo/legacy and load them "
        "through the import pipeline and reconcile. The same --seed always gives the same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
        parser.add_argument(
            "--persons", type=int, default=DEFAULT_PERSONS, metavar="N",
            help=f"number of residents, 10 to 200000 (default {DEFAULT_PERSONS})",
        )
        parser.add_argument("--reset", action="store_true", help="delete the demo county first, then generate it")
        parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")

    def handle(self, *args, seed: int, persons: int, reset: bool, quiet: bool, **options):
        try:
            validate_options(seed=seed, persons=persons)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        if not reset and demo_exists():
            if demo_is_generated():
                message = _("The demo county %(name)s (%(code)s) already exists; nothing changed "
                            "(use --reset to generate it again).")
            else:
                message = _("Area %(code)s (%(name)s) already exists and is not demo data; nothing changed.")
            self.stdout.write(message % {"name": COUNTY[1], "code": COUNTY[0]})
            return

        stream = self.stderr._out
        bar = _StagedBar(stream, enabled=not quiet and getattr(stream, "isatty", lambda: False)())
        started = time.monotonic()
        try:
            with transaction.atomic():
                removed = demo_reset() if reset else {}
                summary = demo_generate(seed=seed, persons=persons, progress=bar)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        elapsed = time.monotonic() - started

        if quiet:
            self.stdout.write(
                _("Demo county %(name)s generated: %(persons)d persons (seed %(seed)d).")
                % {"name": COUNTY[1], "persons": summary["persons"], "seed": seed}
            )
            self._differences(summary)
            return
        if removed:
            self.stdout.write(
                _("Removed the previous demo: %(counts)s.")
                % {"counts": ", ".join(f"{n} {key}" for key, n in removed.items())}
            )
        self.stdout.write(self.style.SUCCESS(
            _("Demo county %(name)s (%(code)s) generated with seed %(seed)d in %(seconds).1f s:")
            % {"name": COUNTY[1], "code": COUNTY[0], "seed": seed, "seconds": elapsed}
        ))
        for key, label in SUMMARY_ROWS:
            self.stdout.write(f"  {pgettext('yici demo', label):<20} {summary[key]:>7}")
        self._differences(summary)
        self.stdout.write("")
        self.stdout.write(_("Imported from %(folder)s:") % {"folder": legacy_folder()})
        for item in summary["imports"]:
            where = f"{item['file']}" + (f" [{item['sheet']}]" if item["sheet"] else "")
            self.stdout.write(
                "  " + _("%(file)s: %(rows)d rows, %(mapped)d of %(columns)d columns mapped, "
                         "%(warning)d with warnings, %(invalid)d with invalid values")
                % {**item, "file": where}
            )
        self.stdout.write("")
        self.stdout.write(_("Demo logins (password %(password)s):") % {"password": DEMO_PASSWORD})
        header = tuple(pgettext("yici demo", h) for h in ("username", "role", "area", "password"))
        rows = [header] + [
            (u["username"], u["role"] + (f" ({u['department']})" if u["department"] else ""), u["area"],
             DEMO_PASSWORD)
            for u in DEMO_USERS
        ]
        widths = [max(_display_width(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            cells = [cell + " " * (widths[i] - _display_width(cell)) for i, cell in enumerate(row[:3])]
            self.stdout.write("  " + "  ".join(cells) + "  " + row[3])

    def _differences(self, summary: dict) -> None:
        """Say where the loaded registry differs from the generated world (review pairs explain persons)."""
        for key, (loaded, generated) in summary["differences"].items():
            self.stdout.write(self.style.WARNING(
                _("  %(what)s: %(loaded)d loaded, %(generated)d generated (%(pairs)d pairs wait for review)")
                % {"what": pgettext("yici demo", key), "loaded": loaded, "generated": generated,
                   "pairs": summary["review_pairs"]}
            ))


class _StagedBar:
    """``progress(stage, done, total)`` as one tqdm bar per stage, on the command's stderr."""

    def __init__(self, stream, *, enabled: bool):
        self.stream, self.enabled = stream, enabled
        self.stage: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, file=self.stream, leave=False)
        self.bar.total = total
        self.bar.update(done - self.bar.n)  # tqdm redraws at most every mininterval

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _display_width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
