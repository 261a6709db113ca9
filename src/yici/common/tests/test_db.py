import datetime

import pytest
from django.db import connection, transaction

from yici.common import db as common_db
from yici.common.db import bulk_cache, fast_insert, indexes_built_after, json_dumps
from yici.registry.models import Person


def person_rows(start: int, count: int) -> list[dict]:
    now = datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC)
    return [{"id": i, "name": f"张{i}", "name_initials": "z", "id_number": "", "gender": "", "phone": "",
             "relation_to_head": "", "address": "", "area_code": "", "attributes": {"person.note": "备注"},
             "provenance": {}, "version": 1, "created_at": now, "updated_at": now}
            for i in range(start, start + count)]


FIELDS = ["id", "name", "name_initials", "id_number", "gender", "phone", "relation_to_head", "address", "area_code",
          "attributes", "provenance", "version", "created_at", "updated_at"]



def test_json_text_is_plain_utf8_and_reads_back():
    text = json_dumps({"姓名": "张三", 1: [True, None, 1.5]})
    assert text == '{"姓名":"张三","1":[true,null,1.5]}'
    # Types orjson would encode otherwise than Django go Django's way: a date is refused like json.dumps does.
    with pytest.raises(TypeError):
        json_dumps({"when": datetime.date(2026, 1, 1)})


@pytest.mark.django_db(transaction=True)
def test_bulk_rows_round_trip_through_the_orm():
    with transaction.atomic():
        fast_insert(Person, person_rows(1, 3), FIELDS)
    person = Person.objects.get(pk=2)
    assert person.attributes == {"person.note": "备注"} and person.name == "张2"
    from django.db.models import TextField
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Cast

    note = Cast(KeyTextTransform("person.note", "attributes"), TextField())
    assert Person.objects.annotate(note=note).filter(note="备注").count() == 3


@pytest.mark.django_db
def test_awkward_values_arrive_as_given_and_a_duplicate_key_is_djangos_integrity_error():
    """On PostgreSQL the rows go through COPY, whose text format escapes tabs, newlines and
    backslashes: what is read back must be what was written, on either database."""
    from django.db import IntegrityError

    awkward = "甲\t乙\n丙\\N 'q' \"dq\" \\ end"
    row = person_rows(7, 1)[0] | {"name": awkward, "address": "", "household": None,
                                  "attributes": {"note": awkward, "nested": {"list": [1, None, "二"]}},
                                  "birth_date": datetime.date(1950, 3, 19)}
    fast_insert(Person, [row], [*FIELDS, "birth_date", "household"])
    person = Person.objects.get(pk=7)
    assert (person.name, person.address, person.birth_date) == (awkward, "", datetime.date(1950, 3, 19))
    assert person.attributes == {"note": awkward, "nested": {"list": [1, None, "二"]}}
    assert person.created_at == row["created_at"] and person.household_id is None
    with pytest.raises(IntegrityError), transaction.atomic():
        fast_insert(Person, person_rows(8, 1) + person_rows(7, 1), FIELDS)
    assert not Person.objects.filter(pk=8).exists()  # the statement failed as a whole
    assert fast_insert(Person, [], []) == fast_insert(Person, iter([]), FIELDS) == 0  # nothing to write


@pytest.mark.django_db
def test_constants_are_written_into_every_row_as_the_field_would_bind_them():
    """Values the same in every row go into the statement once (SQLite) or each copied row
    (PostgreSQL); awkward text, a time, a boolean's and a missing value's read back unchanged."""
    when = datetime.datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=datetime.UTC)
    awkward = "50% %s %% 'q' 甲\t\\N"
    varying = ["id", "name", "name_initials", "attributes"]
    rows = [(i, f"张{i}", "z", {"n": i}) for i in (21, 22)]
    constants = {"provenance": {"v": 2, "note": awkward}, "id_number": "", "gender": "", "phone": "", "relation_to_head": "", "address": awkward,
                 "area_code": "330726", "version": 3, "created_at": when, "updated_at": when, "household": None}
    assert fast_insert(Person, rows, varying, sequences=True, constants=constants) == 2
    for pk in (21, 22):
        person = Person.objects.get(pk=pk)
        assert (person.name, person.attributes, person.address, person.version) == (f"张{pk}", {"n": pk}, awkward, 3)
        assert person.created_at == when and person.area_code == "330726" and person.household_id is None
        assert person.provenance == {"v": 2, "note": awkward}


@pytest.mark.django_db(transaction=True)
def test_bulk_cache_is_restored():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite page cache")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        with bulk_cache():
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone()[0] == -common_db.BULK_CACHE_KIB
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone()[0] == before


def person_indexes() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Person._meta.db_table)
    return {name for name, c in constraints.items() if c["index"] and not c["primary_key"]}


@pytest.mark.django_db(transaction=True)
def test_a_table_filled_from_few_rows_gets_its_indexes_built_after():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL keeps its indexes")
    indexes = person_indexes()
    household_index = {name for name in indexes if "household" in name}
    assert len(indexes) > 3 and len(household_index) == 1
    with transaction.atomic():
        fast_insert(Person, person_rows(1, 2), FIELDS)
        with indexes_built_after(Person, adding=3, keep=["household"]) as deferred:
            assert deferred and person_indexes() == household_index
            fast_insert(Person, person_rows(3, 3), FIELDS)
    assert person_indexes() == indexes
    assert Person.objects.filter(name="张4").count() == 1


@pytest.mark.django_db(transaction=True)
def test_indexes_stay_when_the_table_holds_as_many_rows_as_are_added():
    indexes = person_indexes()
    with transaction.atomic():
        fast_insert(Person, person_rows(1, 3), FIELDS)
        with indexes_built_after(Person, adding=3) as deferred:
            assert not deferred and person_indexes() == indexes
        if connection.vendor != "sqlite":  # never deferred there
            with indexes_built_after(Person, adding=1000) as deferred:
                assert not deferred and person_indexes() == indexes


@pytest.mark.django_db(transaction=True)
def test_a_failure_while_indexes_are_deferred_brings_them_back():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only: PostgreSQL keeps its indexes")
    indexes = person_indexes()
    with pytest.raises(ValueError), transaction.atomic(), indexes_built_after(Person, adding=10):
        assert person_indexes() == set()
        fast_insert(Person, person_rows(1, 3), FIELDS)
        raise ValueError("bad row")
    assert person_indexes() == indexes and not Person.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_deferring_indexes_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError), indexes_built_after(Person, adding=10):
        pass
    assert len(person_indexes()) > 3


@pytest.mark.django_db
@pytest.mark.parametrize("copy_from", [1, 10**6], ids=["copied", "row-by-row"])
def test_bulk_updates_set_the_given_fields_of_the_given_rows_only(monkeypatch, copy_from):
    from yici.common.db import Row, fast_update

    monkeypatch.setattr(common_db, "COPY_UPDATE_FROM", copy_from)  # PostgreSQL's two ways; SQLite has one
    fast_insert(Person, person_rows(1, 4), FIELDS)
    awkward = "甲\t乙\\N"
    changed = [Row(1, name=awkward, attributes={"note": awkward}, birth_date=datetime.date(1950, 3, 19)),
               Row(3, name="王五", attributes={}, birth_date=None)]
    assert fast_update(Person, changed, ["name", "attributes", "birth_date"]) == 2
    rows = {p.pk: (p.name, p.attributes, p.birth_date, p.name_initials) for p in Person.objects.all()}
    assert rows == {1: (awkward, {"note": awkward}, datetime.date(1950, 3, 19), "z"),
                    2: ("张2", {"person.note": "备注"}, None, "z"),
                    3: ("王五", {}, None, "z"),
                    4: ("张4", {"person.note": "备注"}, None, "z")}
    assert fast_update(Person, [], ["name"]) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("copy_from", [1, 10**6], ids=["copied", "row-by-row"])
def test_json_encoded_elsewhere_is_written_as_it_is(monkeypatch, copy_from):
    from yici.common.db import Row, fast_update

    monkeypatch.setattr(common_db, "COPY_UPDATE_FROM", copy_from)
    rows = person_rows(1, 2)
    for row in rows:  # as a worker process sends them: JSON text
        row["attributes"] = json_dumps({"person.note": f"备注{row['id']}", "n": [1, None]})
    fast_insert(Person, rows, FIELDS, encoded=["attributes"])
    assert [p.attributes for p in Person.objects.order_by("pk")] == [{"person.note": "备注1", "n": [1, None]},
                                                                    {"person.note": "备注2", "n": [1, None]}]
    fast_update(Person, [Row(2, attributes='{"a":"甲"}', provenance={"v": 2})], ["attributes", "provenance"],
                encoded=["attributes"])
    assert Person.objects.values_list("attributes", "provenance").get(pk=2) == ({"a": "甲"}, {"v": 2})
    # Only JSON columns can hold JSON text: a name is never taken for one.
    with pytest.raises(ValueError, match="name"):
        fast_insert(Person, person_rows(3, 1), FIELDS, encoded=["name"])
