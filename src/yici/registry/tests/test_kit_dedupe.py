"""The data kit's five legacy exports through the real pipeline (import → reconcile), scored by the kit."""

import csv
import importlib.util
import io
import sys

import pytest

from yici.accounts.services import areas_import
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.imports import import_prepare, import_run
from yici.registry import reconcile as rc
from yici.testing.kit import KIT_DIR, kit_areas_csv, requires_kit

pytestmark = [requires_kit, pytest.mark.slow]

SYSTEMS = {  # file prefix → system code; the department is taken from the prefix too
    "公安": "gongan_huji", "民政": "minzheng_jiuzhu", "卫健": "weijian_laonian", "住建": "zhujian_zijianfang",
    "文旅": "wenlv_litang",
}


def _scorer():
    sys.path.insert(0, str(KIT_DIR / "scorers"))
    spec = importlib.util.spec_from_file_location("score_dedupe", KIT_DIR / "scorers" / "score_dedupe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_kit_legacy_exports_dedupe_above_f1_099_and_both_baselines():
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    areas_import(data=kit_areas_csv().encode())
    for path in sorted((KIT_DIR / "legacy").iterdir()):
        system = SYSTEMS[path.name.split("_", 1)[0]]
        import_run(import_prepare(data=path.read_bytes(), filename=path.name, system_code=system))
    rc.reconcile()
    scorer = _scorer()
    truth_rows = scorer.read_csv(str(KIT_DIR / "truth" / "legacy_truth.csv"))
    truth = {(r["file"], int(r["row_number"])): r["person_id"] for r in truth_rows}
    out = io.StringIO()
    writer = csv.writer(out)
    for system, file, row, cluster in rc.export_clusters():
        writer.writerow([system, file, row, cluster])
    pred = {}
    for _system, file, row, cluster in csv.reader(io.StringIO(out.getvalue())):
        pred[(file, int(row))] = ("c", cluster)
    for key in truth:
        pred.setdefault(key, ("missing", key))
    ours = scorer.evaluate(truth, pred)
    by_id, by_name_birth = scorer.baselines(str(KIT_DIR), list(truth))
    assert ours["f1"] >= 0.99, ours
    assert ours["f1"] > scorer.evaluate(truth, by_id)["f1"]
    assert ours["f1"] > scorer.evaluate(truth, by_name_birth)["f1"]
