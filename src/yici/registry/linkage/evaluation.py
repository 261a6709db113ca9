"""Evaluate person linkage on the benchmark data kit (and on generated data with known truth).

The kit's legacy exports are read with the answer key's column mapping
(``truth/legacy_columns.json``), normalised with :mod:`yici.registry.normalize` the way an import
would, and turned into linkage records. A 住建 house row yields its owner: ``house.owner_name``,
``house.owner_id_number``, ``house.owner_phone`` and ``house.address`` become the person's name,
ID, phone and current address.
"""

from __future__ import annotations

import csv
import datetime
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

CATALOG_PATH = Path(__file__).resolve().parents[2] / "catalog" / "data" / "catalog.json"

HOUSE_OWNER_ELEMENTS = {
    "house.owner_name": "person.name",
    "house.owner_id_number": "person.id_number",
    "house.owner_phone": "person.phone",
    "house.address": "person.current_address",
}


def catalog_specs(path: str | Path = CATALOG_PATH) -> dict:
    """Element specs for :func:`yici.registry.normalize.normalize_row` from a catalog JSON file."""
    from yici.registry.normalize import element_spec_from_dict

    with open(path, encoding="utf-8") as f:
        catalog = json.load(f)
    return {e["code"]: element_spec_from_dict(e) for e in catalog["elements"]}


def _legacy_rows(kit: Path, spec: dict) -> list[dict]:
    path = kit / "legacy" / spec["file"]
    first, count = spec["first_data_row"], spec["n_data_rows"]
    columns = [(c["col_index"] - 1, c["element_code"]) for c in spec["columns"] if c["element_code"]]
    if spec["format"] == "csv":
        with open(path, encoding=spec.get("encoding") or "utf-8", newline="") as f:
            rows = list(csv.reader(f))[first - 1: first - 1 + count]
    else:
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            rows = list(wb[spec["sheet"]].iter_rows(min_row=first, max_row=first + count - 1, values_only=True))
        finally:
            wb.close()
    return [{code: (row[i] if i < len(row) else None) for i, code in columns} for row in rows]


def person_row(row: Mapping[str, object]) -> dict[str, object]:
    """The person elements of a legacy row (a house row gives its owner)."""
    out = {}
    for code, value in row.items():
        code = HOUSE_OWNER_ELEMENTS.get(code, code)
        if code.startswith("person."):
            out[code] = value
    return out


def kit_records(kit: str | Path, specs: Mapping | None = None, *, keep_rejected: bool = True) -> tuple[list[dict], dict[int, tuple[str, str, int]]]:
    """Linkage records for every data row of the kit's legacy files, and record id →
    ``(system, file, row_number)``."""

    kit = Path(kit)
    specs = specs or catalog_specs()
    with open(kit / "truth" / "legacy_columns.json", encoding="utf-8") as f:
        files = json.load(f)
    with open(kit / "truth" / "world.json", encoding="utf-8") as f:
        as_of = datetime.date.fromisoformat(json.load(f)["as_of"])
    records: list[dict] = []
    keys: dict[int, tuple[str, str, int]] = {}
    for file_spec in files:
        for row_number, row in enumerate(_legacy_rows(kit, file_spec), start=1):
            rid = len(records) + 1
            records.append(linkage_record(rid, specs, person_row(row), system=file_spec["system"],
                                          observed_at=as_of, keep_rejected=keep_rejected))
            keys[rid] = (file_spec["system"], file_spec["file"], row_number)
    return records, keys


def linkage_record(rid: int, specs: Mapping, row: Mapping[str, object], *, system: str = "",
                   observed_at=None, keep_rejected: bool = True) -> dict:
    """A linkage record from a raw row keyed by element code, normalised like an import does.
    With ``keep_rejected`` the original text of a rejected ID goes under ``rejected``."""
    from yici.registry.normalize import normalize_row

    values, issues = normalize_row(specs, row)
    record = {"id": rid, "values": values, "area_code": "", "system__code": system, "parent_id": None,
              "observed_at": observed_at}
    raw_id = row.get("person.id_number")
    if keep_rejected and "person.id_number" in issues and "person.id_number" not in values and raw_id:
        record["rejected"] = {"person.id_number": str(raw_id)}
    return record


def kit_truth(kit: str | Path) -> dict[tuple[str, int], str]:
    """(file, row_number) → true person id."""
    with open(Path(kit) / "truth" / "legacy_truth.csv", encoding="utf-8-sig", newline="") as f:
        return {(r["file"], int(r["row_number"])): r["person_id"] for r in csv.DictReader(f)}


def clusters(ids: Iterable[int], pairs: Iterable[tuple[int, int, float]], threshold: float) -> dict[int, int]:
    """Record id → cluster id (the smallest member id), joining pairs at or above ``threshold``."""
    parent = {i: i for i in ids}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b, p in pairs:
        if p >= threshold:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {i: find(i) for i in parent}


def pairwise_scores(truth: Mapping, pred: Mapping) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering ``pred`` against ``truth`` (both key →
    cluster label, same keys)."""
    both, tc, pc = Counter(), Counter(), Counter()
    for key, t in truth.items():
        p = pred[key]
        tc[t] += 1
        pc[p] += 1
        both[(t, p)] += 1

    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    tp, tpairs, ppairs = pairs(both), pairs(tc), pairs(pc)
    precision = tp / ppairs if ppairs else 0.0
    recall = tp / tpairs if tpairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": tpairs, "pred_pairs": ppairs,
            "tp_pairs": tp}


def write_clusters_csv(path: str | Path, keys: Mapping[int, tuple[str, str, int]], cluster_of: Mapping[int, int]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["system", "file", "row_number", "cluster_id"])
        for rid in sorted(keys):
            system, file, row_number = keys[rid]
            writer.writerow([system, file, row_number, cluster_of[rid]])
