import json

import pytest
from django.utils import translation

from yici.audit.models import AuditEvent
from yici.catalog.models import CodeListValue, DataElement
from yici.catalog.services import BUILTIN_CATALOG, CatalogError, catalog_load
from yici.catalog.tests.conftest import DEV_KIT_CATALOG


def db_state() -> tuple:
    """Everything a load may write, to compare before and after."""
    elements = list(DataElement.objects.order_by("code").values())
    for e in elements:
        e.pop("updated_at")
    values = list(CodeListValue.objects.order_by("element__code", "code").values("element__code", "code", "label", "aliases", "order"))
    return elements, values, AuditEvent.objects.count()


def test_it_loads_the_shipped_catalog(db):
    doc = json.loads(BUILTIN_CATALOG.read_text(encoding="utf-8"))
    result = catalog_load(data=BUILTIN_CATALOG.read_bytes())
    assert result == {"created": len(doc["elements"]), "updated": 0, "unchanged": 0}
    assert set(DataElement.objects.values_list("code", flat=True)) == {e["code"] for e in doc["elements"]}
    gender = DataElement.objects.get(code="person.gender")
    assert (gender.name_zh, gender.entity, gender.type) == ("性别", "person", "code")
    assert gender.code_list_standard.startswith("GB/T 2261.1")
    assert gender.authoritative_system == "gongan"
    assert list(gender.code_values.values_list("code", "label")) == [("1", "男"), ("2", "女"), ("0", "未知的性别"), ("9", "未说明的性别")]
    assert gender.code_values.get(code="1").aliases == ["男性", "M"]
    assert DataElement.objects.get(code="person.id_number").synonyms == ["身份证号", "身份证号码", "身份证件号码"]
    assert DataElement.objects.get(code="person.age").derived
    assert not DataElement.objects.get(code="person.name").derived


def test_the_shipped_catalog_marks_sensitive_elements_and_authoritative_sources(loaded_catalog):
    sensitive = set(DataElement.objects.filter(sensitivity="sensitive").values_list("code", flat=True))
    assert {"person.id_number", "person.phone", "household.head_id_number", "house.owner_phone",
            "person.low_income", "person.extreme_poverty", "person.disability_category"} <= sensitive
    assert "person.name" not in sensitive
    systems = dict(DataElement.objects.values_list("code", "authoritative_system"))
    assert systems["house.structure"] == "zhujian"
    assert systems["person.low_income"] == "minzheng"
    assert systems["person.disability_level"] == "canlian"
    assert systems["person.veteran"] == "tuiyijunren"
    assert systems["person.medical_insurance"] == "yibao"
    assert systems["household.household_no"] == "gongan"


def test_it_loads_the_dev_kit_catalog_without_the_extra_keys(db):
    if not DEV_KIT_CATALOG.exists():
        pytest.skip(f"{DEV_KIT_CATALOG} is not present in this checkout")
    doc = json.loads(DEV_KIT_CATALOG.read_text(encoding="utf-8"))
    result = catalog_load(data=DEV_KIT_CATALOG.read_bytes())
    assert result["created"] == len(doc["elements"])
    # Without a sensitivity key, identity numbers and phones are sensitive and the rest internal.
    assert DataElement.objects.get(code="person.id_number").sensitivity == "sensitive"
    assert DataElement.objects.get(code="place.manager_phone").sensitivity == "sensitive"
    assert DataElement.objects.get(code="person.name").sensitivity == "internal"
    assert DataElement.objects.get(code="person.name").authoritative_system == ""


def test_the_shipped_catalog_keeps_every_dev_kit_element(catalog_doc):
    if not DEV_KIT_CATALOG.exists():
        pytest.skip(f"{DEV_KIT_CATALOG} is not present in this checkout")
    dev = json.loads(DEV_KIT_CATALOG.read_text(encoding="utf-8"))
    assert [e["code"] for e in catalog_doc["elements"]] == [e["code"] for e in dev["elements"]]


def test_a_file_without_sensitivity_keeps_what_the_catalog_already_says(loaded_catalog, catalog_doc):
    for element in catalog_doc["elements"]:
        del element["sensitivity"], element["authoritative_system"]
    before = db_state()
    assert catalog_load(data=catalog_doc)["unchanged"] == len(catalog_doc["elements"])
    assert db_state() == before
    assert DataElement.objects.get(code="person.disability_level").sensitivity == "sensitive"
    assert DataElement.objects.get(code="person.name").authoritative_system == "gongan"


def test_loading_the_dev_kit_over_the_shipped_catalog_changes_only_our_corrections(loaded_catalog):
    if not DEV_KIT_CATALOG.exists():
        pytest.skip(f"{DEV_KIT_CATALOG} is not present in this checkout")
    before = db_state()
    # Our catalog drops 户口类别 (农业/非农业) as a synonym of 户别 (家庭户/集体户); the kit still has it.
    assert catalog_load(data=DEV_KIT_CATALOG.read_bytes())["updated"] == 1
    (elements_before, values_before, _), (elements_after, values_after, _) = before, db_state()
    changed = {a["code"] for a, b in zip(elements_after, elements_before, strict=True) if a != b}
    assert changed == {"household.type"} and values_after == values_before


def test_an_explicit_sensitivity_overrides_the_stored_one(loaded_catalog, catalog_doc):
    catalog_doc["elements"][0]["sensitivity"] = "sensitive"
    catalog_doc["elements"][0]["authoritative_system"] = ""
    assert catalog_load(data=catalog_doc)["updated"] == 1
    element = DataElement.objects.get(code="person.name")
    assert (element.sensitivity, element.authoritative_system) == ("sensitive", "")


def test_reloading_the_same_catalog_changes_nothing(loaded_catalog, catalog_doc):
    before = db_state()
    result = catalog_load(data=catalog_doc)
    assert result == {"created": 0, "updated": 0, "unchanged": len(catalog_doc["elements"])}
    assert db_state() == before


def test_it_audits_created_and_changed_elements(world, catalog_doc):
    catalog_load(data=catalog_doc, actor=world.admin)
    created = AuditEvent.objects.filter(action="create", object_type="catalog.dataelement")
    assert created.count() == len(catalog_doc["elements"])
    assert {e.actor for e in created} == {world.admin}

    catalog_doc["elements"][0]["name_zh"] = "姓名(证件)"
    result = catalog_load(data=catalog_doc, actor=world.admin)
    assert result["updated"] == 1
    event = AuditEvent.objects.get(action="update", object_type="catalog.dataelement")
    assert event.object_id == str(DataElement.objects.get(code="person.name").pk)
    assert (event.before["name_zh"], event.after["name_zh"]) == ("姓名", "姓名(证件)")


def test_it_updates_and_removes_code_list_values(loaded_catalog, catalog_doc):
    gender = next(e for e in catalog_doc["elements"] if e["code"] == "person.gender")
    gender["code_list"]["values"] = [v for v in gender["code_list"]["values"] if v["code"] in ("1", "2")]
    gender["code_list"]["values"][0]["aliases"].append("男士")
    result = catalog_load(data=catalog_doc)
    assert result["updated"] == 1
    element = DataElement.objects.get(code="person.gender")
    assert list(element.code_values.values_list("code", flat=True)) == ["1", "2"]
    assert element.code_values.get(code="1").aliases == ["男性", "M", "男士"]
    update = AuditEvent.objects.get(action="update")
    assert len(update.before["code_list"]) == 4 and len(update.after["code_list"]) == 2


def test_it_keeps_elements_that_are_missing_from_the_file(loaded_catalog, catalog_doc):
    catalog_doc["elements"] = [e for e in catalog_doc["elements"] if e["code"] != "place.address"]
    catalog_load(data=catalog_doc)
    assert DataElement.objects.filter(code="place.address").exists()


def _element(doc: dict, code: str) -> dict:
    return next(e for e in doc["elements"] if e["code"] == code)


def _set(code: str, key: str, value):
    def change(doc):
        _element(doc, code)[key] = value
    return change


def _drop(code: str, key: str):
    def change(doc):
        del _element(doc, code)[key]
    return change


def _set_value(code: str, index: int, key: str, value):
    def change(doc):
        _element(doc, code)["code_list"]["values"][index][key] = value
    return change


def _duplicate_value(doc):
    values = _element(doc, "person.gender")["code_list"]["values"]
    values.append(dict(values[0]))


def _duplicate_element(doc):
    doc["elements"].append(dict(doc["elements"][3]))


def _drop_key(key):
    def change(doc):
        del doc[key]
    return change


def _replace_elements(value):
    def change(doc):
        doc["elements"] = value
    return change


INVALID = [
    ("no elements", _drop_key("elements"), '"elements"'),
    ("elements not a list", _replace_elements({"person.name": {}}), '"elements"'),
    ("empty elements", _replace_elements([]), "empty"),
    ("element not an object", lambda doc: doc["elements"].append("person.x"), "element 60"),
    ("code with upper case", _set("person.age", "code", "Person.Age"), "element 5"),
    ("code without entity", _set("person.age", "code", "age"), "element 5"),
    ("code missing", _drop("person.age", "code"), "element 5"),
    ("name missing", _drop("house.floors", "name_zh"), "house.floors"),
    ("name empty", _set("house.floors", "name_zh", " "), "name_zh"),
    ("unknown entity", _set("place.name", "entity", "company"), "company"),
    ("unknown type", _set("place.name", "type", "blob"), "blob"),
    ("unknown sensitivity", _set("place.name", "sensitivity", "secret"), "secret"),
    ("synonyms not a list", _set("place.name", "synonyms_zh", "单位名称"), "synonyms_zh"),
    ("code list value without label", _set_value("house.usage", 1, "label", ""), "code list value 2"),
    ("code list value without code", _set_value("house.usage", 0, "code", None), "code list value 1"),
    ("code list value code not text", _set_value("house.usage", 0, "code", 1), "code"),
    ("code list without values", _set("house.usage", "code_list", {"standard": "x", "values": []}), "house.usage"),
    ("code element without code list", _set("house.usage", "code_list", None), "house.usage"),
    ("duplicate code list value", _duplicate_value, "appears twice"),
    ("duplicate element code", _duplicate_element, "element 4"),
    ("bad authoritative system", _set("person.name", "authoritative_system", "公安"), "authoritative_system"),
    ("negative order", _set("person.name", "order", -1), "order"),
]


@pytest.mark.parametrize(("label", "change", "fragment"), INVALID, ids=[case[0] for case in INVALID])
def test_an_invalid_catalog_is_refused_and_nothing_changes(loaded_catalog, catalog_doc, label, change, fragment):
    # A valid change before the broken element must not land either.
    catalog_doc["elements"][0]["name_zh"] = "已改"
    change(catalog_doc)
    before = db_state()
    with translation.override("en"), pytest.raises(CatalogError) as exc:
        catalog_load(data=catalog_doc)
    message = str(exc.value)
    assert fragment in message
    assert "\n" not in message
    assert db_state() == before


def test_an_invalid_catalog_loads_nothing_into_an_empty_database(db, catalog_doc):
    catalog_doc["elements"][-1]["type"] = "blob"
    with pytest.raises(CatalogError):
        catalog_load(data=catalog_doc)
    assert not DataElement.objects.exists() and not CodeListValue.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(("data", "fragment"), [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "UTF-8"),
    (b"[1, 2]", '"elements"'),
])
def test_it_refuses_bytes_that_are_not_a_catalog(db, data, fragment):
    with translation.override("en"), pytest.raises(CatalogError) as exc:
        catalog_load(data=data)
    assert fragment in str(exc.value)


def test_a_failed_write_rolls_back_the_whole_load(loaded_catalog, catalog_doc, monkeypatch):
    from yici.catalog import services

    for element in catalog_doc["elements"]:
        element["description"] += "（修订）"
    calls = []

    def failing_audit(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise RuntimeError("disk full")

    monkeypatch.setattr(services, "audit_write", failing_audit)
    before = db_state()
    with pytest.raises(RuntimeError):
        catalog_load(data=catalog_doc)
    assert db_state() == before
