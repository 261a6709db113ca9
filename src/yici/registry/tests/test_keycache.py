"""Incremental runs with the person key table read only the new records and their candidates."""

import pytest
from django.utils import timezone

from yici.accounts.models import Department
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.models import LineSystem
from yici.exchange.models_outbox import OutboxEvent
from yici.registry import keycache
from yici.registry import reconcile as rc
from yici.registry.golden import provenance_of
from yici.registry.models import KeyIndexState, Link, Person, SourceRecord
from yici.registry.reconcile import reconcile

VILLAGE = "330726101201"


@pytest.fixture
def systems(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    gongan = Department.objects.create(code="gongan", name="公安")
    return {
        "gongan": LineSystem.objects.create(code="gongan_huji", name="户籍", department=gongan),
        "weijian": LineSystem.objects.create(code="weijian_laonian", name="老年人"),
    }


def record(system, **values):
    return SourceRecord.objects.create(
        kind="import", system=system, entity="person", values={k.replace("__", "."): v for k, v in values.items()},
        area_code=VILLAGE, observed_at=timezone.now(), row_number=SourceRecord.objects.count() + 1,
    )


def golden_of(rec) -> int:
    return Link.objects.get(record=rec, active=True).person_id


ZHANG = {"person__name": "张三丰", "person__id_number": "330726196005170013", "person__birth_date": "1960-05-17",
         "person__gender": "男"}
LI = {"person__name": "李秀英", "person__id_number": "330726195503120028", "person__birth_date": "1955-03-12",
      "person__gender": "女", "person__phone": "13812345678"}


def people(system, n):
    """Namesake-free filler: n people with their own IDs."""
    out = []
    for i in range(n):
        out.append(record(system, person__name=f"王{'一二三四五六七八九十'[i % 10]}{i}",
                          person__birth_date=f"19{40 + i % 50}-0{1 + i % 9}-1{i % 10}", person__gender="男"))
    return out


def test_an_incremental_run_reads_only_new_records_and_their_candidates(systems, django_capture_on_commit_callbacks,
                                                                         monkeypatch):
    zhang = record(systems["gongan"], **ZHANG)
    li = record(systems["gongan"], **LI)
    people(systems["gongan"], 30)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    assert keycache.path().exists() and KeyIndexState.objects.get().token

    read: list[int] = []
    original = rc._records

    def spy(entity, ids=None, **kwargs):
        rows = original(entity, ids, **kwargs)
        read.extend(r["id"] for r in rows)
        return rows

    monkeypatch.setattr(rc, "_records", spy)
    # The same people from another system: one by ID, one by a homophone name and her phone.
    zhang2 = record(systems["weijian"], **ZHANG)
    li2 = record(systems["weijian"], person__name="李秀瑛", person__phone="13812345678", person__birth_date="1955-03-12",
                 person__household_no="1112010009")
    stranger = record(systems["weijian"], person__name="赵无极", person__birth_date="1990-01-01")
    with django_capture_on_commit_callbacks(execute=True):
        result = reconcile(entity="person")
    assert result.new_records == 3
    assert golden_of(zhang2) == golden_of(zhang) and golden_of(li2) == golden_of(li)
    assert golden_of(stranger) not in (golden_of(zhang), golden_of(li))
    # Read: the three new records and the two they match, not the thirty others.
    assert set(read) == {zhang.pk, li.pk, zhang2.pk, li2.pk, stranger.pk}
    # Golden values still come from every member, and the change is in the outbox.
    person = Person.objects.get(pk=golden_of(li))
    assert {c["value"] for c in provenance_of("person", person)["person.name"]["candidates"]} == {"李秀英", "李秀瑛"}
    assert person.attributes["person.household_no"] == "1112010009"
    event = OutboxEvent.objects.get(entity="person", golden_id=person.pk, version=person.version)
    assert "person.household_no" in event.changed

    # The key table now holds the new records too: a fourth record matches the stranger through it.
    read.clear()
    again = record(systems["gongan"], person__name="赵无极", person__birth_date="1990-01-01", person__phone="13900000009")
    with django_capture_on_commit_callbacks(execute=True):
        reconcile(entity="person")
    assert golden_of(again) == golden_of(stranger)
    assert set(read) == {again.pk, stranger.pk}


def test_a_key_table_that_does_not_match_the_database_is_not_used(systems, django_capture_on_commit_callbacks):
    zhang = record(systems["gongan"], **ZHANG)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    # As after a rolled-back run: the database's token moved on, the file did not.
    KeyIndexState.objects.update(token="other")
    assert keycache.open_cache() is None
    zhang2 = record(systems["weijian"], **ZHANG)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile(entity="person")  # reads every record, and rebuilds the file
    assert golden_of(zhang2) == golden_of(zhang)
    assert keycache.open_cache() is not None


def test_records_linked_without_a_reconcile_run_are_added_to_the_key_table(systems, django_capture_on_commit_callbacks):
    record(systems["gongan"], **LI)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    # Typed in and linked directly (a new golden record), never reconciled.
    typed = record(systems["gongan"], **ZHANG)
    golden = Person.objects.create(name="张三丰", area_code=VILLAGE)
    Link.objects.create(record=typed, person=golden, method="direct")
    later = record(systems["weijian"], **ZHANG)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile(entity="person")
    assert golden_of(later) == golden.pk
    cache = keycache.open_cache()
    try:
        assert cache.con.execute("select count(*) from kc.keys where unique_id = ?", [typed.pk]).fetchone()[0] == 1
    finally:
        cache.close()


def test_a_rebuild_that_is_rolled_back_leaves_the_current_file_in_use(systems, django_capture_on_commit_callbacks):
    from django.db import transaction

    record(systems["gongan"], **ZHANG)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()
    before = keycache.path().read_bytes()
    record(systems["weijian"], **LI)
    # (In a test the run's commit callbacks only run when captured: here they are not run, as
    # after a rollback.)
    with pytest.raises(RuntimeError), transaction.atomic():
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            reconcile(full=True)  # writes the new file beside the current one
        assert callbacks
        raise RuntimeError("the run fails after the rebuild was written")
    assert keycache.path().read_bytes() == before
    leftovers = list(keycache.path().parent.glob("*.tmp"))
    assert len(leftovers) == 1
    cache = keycache.open_cache()  # the token rolled back with the run: the current file is valid
    assert cache is not None and cache.count == 1
    cache.close()
    keycache._remove_stale(keycache.path(), older_than=0)  # a later rebuild clears what was left
    assert not list(keycache.path().parent.glob("*.tmp"))


def test_only_the_clusters_of_candidates_the_model_pairs_are_read(systems, django_capture_on_commit_callbacks,
                                                                  monkeypatch):
    import datetime

    from yici.registry.idnumbers import make_id_number

    zhang = record(systems["gongan"], **ZHANG)
    # Born the same day in the same county: a candidate of every new 张三丰 (same ID prefix), but
    # a different person whom the model does not pair with him.
    same_day = record(systems["gongan"], person__name="张建国", person__gender="男", person__birth_date="1960-05-17",
                      person__id_number=make_id_number(region="330726", birth_date=datetime.date(1960, 5, 17),
                                                       sequence=7, male=True))
    people(systems["gongan"], 10)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile()

    candidates: list[int] = []
    looked_up: list[int] = []
    find, linked_of = rc.features.candidates_from_keys, rc._linked_of

    def spy_candidates(*args, **kwargs):
        ids, counts = find(*args, **kwargs)
        candidates.extend(ids)
        return ids, counts

    def spy_linked_of(record_ids):
        looked_up.extend(record_ids)
        return linked_of(record_ids)

    monkeypatch.setattr(rc.features, "candidates_from_keys", spy_candidates)
    monkeypatch.setattr(rc, "_linked_of", spy_linked_of)
    zhang2 = record(systems["weijian"], **ZHANG)
    with django_capture_on_commit_callbacks(execute=True):
        reconcile(entity="person")
    assert golden_of(zhang2) == golden_of(zhang) != golden_of(same_day)
    assert {zhang.pk, same_day.pk} <= set(candidates)
    assert zhang.pk in looked_up and same_day.pk not in looked_up
