"""Every cell of the data kit's five legacy exports through ``normalize``, checked against the answer key.

Skipped when the data kit (``../shared/datasets/dev`` beside the clone, or ``$YICI_DEV_KIT``) is not there.
"""

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from yici.catalog.services import BUILTIN_CATALOG
from yici.registry.normalize import Normalized, element_spec_from_dict, normalize
from yici.testing.kit import KIT_DIR as KIT

pytestmark = pytest.mark.skipif(not (KIT / "truth" / "legacy_columns.json").is_file(), reason="data kit absent")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _data_rows(layout: dict) -> list[tuple]:
    path = KIT / "legacy" / layout["file"]
    first, count = layout["first_data_row"], layout["n_data_rows"]
    if layout["format"] == "csv":
        with path.open(encoding=layout["encoding"], newline="") as f:
            return [tuple(r) for r in list(csv.reader(f))[first - 1 : first - 1 + count]]
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook[layout["sheet"]]
        return list(sheet.iter_rows(min_row=first, max_row=first + count - 1, values_only=True))
    finally:
        workbook.close()


class Cell:
    __slots__ = ("file", "row_number", "element", "raw", "result", "person", "house")

    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            setattr(self, key, value)


@pytest.fixture(scope="module")
def cells() -> list[Cell]:
    catalog = json.loads(BUILTIN_CATALOG.read_text(encoding="utf-8"))
    specs = {e["code"]: element_spec_from_dict(e) for e in catalog["elements"]}
    persons = {r["person_id"]: r for r in _read_csv(KIT / "truth" / "persons.csv")}
    persons.update({r["person_id"]: r for r in _read_csv(KIT / "truth" / "ghost_persons.csv")})
    houses = {r["house_id"]: r for r in _read_csv(KIT / "truth" / "houses.csv")}
    answer: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in _read_csv(KIT / "truth" / "legacy_truth.csv"):
        answer[r["file"]][int(r["row_number"])] = r
    found = []
    for layout in json.loads((KIT / "truth" / "legacy_columns.json").read_text(encoding="utf-8")):
        rows = _data_rows(layout)
        assert len(rows) == layout["n_data_rows"]
        for number, row in enumerate(rows, start=1):
            key = answer[layout["file"]][number]
            for column in layout["columns"]:
                element = column["element_code"]
                if not element:
                    continue
                index = column["col_index"] - 1
                raw = row[index] if index < len(row) else None
                found.append(
                    Cell(
                        file=layout["file"], row_number=number, element=element, raw=raw,
                        result=normalize(specs[element], raw),  # must not raise
                        person=persons.get(key["person_id"], {}), house=houses.get(key["house_id"], {}),
                    )
                )
    return found


def test_every_cell_normalises_without_exception(cells):
    assert len(cells) > 40_000
    for cell in cells:
        assert isinstance(cell.result, Normalized)
        assert isinstance(cell.result.value, str)
        if not cell.result.ok:
            # A rejected value is kept, never dropped.
            assert cell.result.value == "" and cell.result.original != ""


def test_ids_match_the_truth_persons_id(cells):
    # person.id_number, and house.owner_id_number in the 住建 file whose row's person is the owner.
    with_id = [c for c in cells if c.element in ("person.id_number", "house.owner_id_number")
               and c.raw not in (None, "")]
    matches = sum(c.result.value == c.person.get("person.id_number") for c in with_id)
    # The rest are deliberate: a household member's ID, transposed digits, Excel-mangled floats.
    assert len(with_id) > 4000
    assert matches / len(with_id) >= 0.95, f"{matches}/{len(with_id)}"


def test_mangled_and_mistyped_ids_are_kept_aside_not_altered(cells):
    ids = [c for c in cells if c.element in ("person.id_number", "house.owner_id_number") and c.raw not in (None, "")]
    mangled = [c for c in ids if isinstance(c.raw, float)]
    assert mangled and all(c.result.issues[0].code == "id_number_mangled" for c in mangled)
    rejected = [c for c in ids if not c.result.ok]
    assert all(c.result.value == "" for c in rejected)
    accepted_wrong = [c for c in ids if c.result.value and c.result.value != c.person.get("person.id_number")]
    # What passes validation but is not the person's own ID is a valid ID of someone else.
    assert len(accepted_wrong) / len(ids) < 0.02


@pytest.mark.parametrize(
    "element",
    [
        "person.gender",
        "person.birth_date",
        "person.ethnicity",
        "person.relation_to_head",
        "person.education",
        "person.marital_status",
        "person.medical_insurance",
        "person.living_alone",
        "person.disability_category",
        "person.disability_level",
        "person.registered_address",
        "house.structure",
        "house.safety_level",
        "house.usage",
        "house.floors",
        "house.built_year",
        "house.owner_phone",
    ],
)
def test_values_agree_with_the_registry(cells, element):
    truth_of = (lambda c: c.person.get(element)) if element.startswith("person.") else (lambda c: c.house.get(element))
    compared = [c for c in cells if c.element == element and c.result.value and truth_of(c) is not None]
    assert compared
    agree = sum(c.result.value == truth_of(c) for c in compared)
    assert agree / len(compared) >= 0.98, [(c.raw, c.result.value, truth_of(c)) for c in compared
                                            if c.result.value != truth_of(c)][:5]


def test_no_code_list_or_date_value_of_the_kit_is_rejected(cells):
    rejected = [(c.element, c.raw) for c in cells
                if c.element not in ("person.id_number", "house.owner_id_number") and not c.result.ok]
    assert rejected == []
