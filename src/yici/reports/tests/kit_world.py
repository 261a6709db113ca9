"""The data kit's truth world, built the way a county would build it, and its templates filled.

Areas come from ``kit_areas_csv``, the catalog is the built-in one, and the registry is the kit's
``truth/*.csv`` imported through the ordinary import pipeline (their headers are element codes)
and reconciled. The kit's answer keys are read only for what a department states when it
registers a report: the population filter. Column mappings and layout are Yici's own.

Run ``python -m yici.reports.tests.kit_world OUTDIR`` against a migrated database to fill every
template into OUTDIR (then score with the kit's ``scorers/score_fill.py``).
"""

import csv
import io
import json
import re
import sys
from datetime import date
from pathlib import Path

from yici.testing.kit import KIT_DIR

AS_OF = date(2025, 6, 30)
TRUTH_FILES = ("persons.csv", "households.csv", "houses.csv", "places.csv")


def build_kit_world() -> None:
    """Areas, catalog and the kit's registry, imported and reconciled (into an empty database)."""
    from yici.accounts.services import areas_import
    from yici.catalog.models import DataElement
    from yici.catalog.services import BUILTIN_CATALOG, catalog_load
    from yici.exchange.imports import import_prepare, import_run
    from yici.registry.reconcile import reconcile
    from yici.testing.kit import kit_areas_csv

    areas_import(data=kit_areas_csv().encode())
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    codes = set(DataElement.objects.values_list("code", flat=True))
    for name in TRUTH_FILES:
        text = (KIT_DIR / "truth" / name).read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        # Internal keys (person_id, owner_person_id …) are not catalog elements: leave them out.
        keep = [i for i, header in enumerate(rows[0]) if header in codes]
        out = io.StringIO()
        csv.writer(out).writerows([[row[i] for i in keep] for row in rows])
        data = out.getvalue().encode("utf-8")
        import_run(import_prepare(data=data, filename=name, system_code="registry"))
    reconcile()


def template_area(filename: str):
    """The area a template is for: the village or township its file name names."""
    from yici.accounts.models import Area, AreaLevel

    stem = Path(filename).stem
    villages = Area.objects.filter(level=AreaLevel.VILLAGE)
    for area in sorted(villages, key=lambda a: -len(a.name)):
        if area.name in stem:
            return area
    for area in Area.objects.filter(level=AreaLevel.TOWNSHIP):
        if area.name in stem:
            return area
    raise LookupError(filename)


def stated_filter(filename: str) -> str:
    """The population a department states when it registers the report (from the kit's answer key).

    Village names in the filter are already implied by the area, so they are kept as stated.
    """
    key = KIT_DIR / "truth" / "templates" / (Path(filename).stem + ".json")
    return json.loads(key.read_text(encoding="utf-8"))["population"]["filter"]


def fill_kit(out_dir: Path) -> list:
    """Fill every kit template for its area and stated population into ``out_dir``."""
    from yici.reports.services import template_fill

    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for path in sorted((KIT_DIR / "templates").iterdir()):
        result = template_fill(data=path.read_bytes(), filename=path.name, area=template_area(path.name),
                               where=stated_filter(path.name), as_of=AS_OF)
        (out_dir / path.name).write_bytes(result.workbook)
        results.append((path.name, result))
    return results


def score(out_dir: Path) -> dict:
    """The kit scorer's summary for the filled templates in ``out_dir``."""
    import contextlib
    import importlib.util

    sys.path.insert(0, str(KIT_DIR / "scorers"))
    spec = importlib.util.spec_from_file_location("score_fill", KIT_DIR / "scorers" / "score_fill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = out_dir / "score.json"
    argv = sys.argv
    sys.argv = ["score_fill.py", "--kit", str(KIT_DIR), "--filled-dir", str(out_dir), "--json", str(report)]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            module.main()
    finally:
        sys.argv = argv
    summary = json.loads(report.read_text(encoding="utf-8"))
    summary["printed"] = printed.getvalue()
    return summary


def _main(argv: list[str]) -> None:  # pragma: no cover - a developer's tool
    import django

    django.setup()
    from yici.registry.models import Person

    if not Person.objects.exists():
        build_kit_world()
    out = Path(argv[0] if argv else "var/kit-fill")
    for name, result in fill_kit(out):
        print(re.sub(r"\s+", " ", f"{name}: {result.line()}"))
    print(score(out)["printed"])


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
