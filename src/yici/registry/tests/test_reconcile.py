import pytest
from django.utils import timezone

from yici.accounts.models import Department
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.models import LineSystem
from yici.registry import linkage
from yici.registry import reconcile as rc
from yici.registry.golden import provenance_of
from yici.registry.models import House, Household, Link, Person, ReviewPair, ReviewStatus, SourceRecord
from yici.registry.reconcile import reconcile
from yici.registry.services import record_split, review_decide, review_undo

VILLAGE = "330726101201"


@pytest.fixture
def systems(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    gongan = Department.objects.create(code="gongan", name="公安")
    minzheng = Department.objects.create(code="minzheng", name="民政")
    return {
        "gongan": LineSystem.objects.create(code="gongan_huji", name="户籍", department=gongan),
        "minzheng": LineSystem.objects.create(code="minzheng_jiuzhu", name="救助", department=minzheng),
        "weijian": LineSystem.objects.create(code="weijian_laonian", name="老年人"),
    }


def record(system, entity="person", area=VILLAGE, **values):
    return SourceRecord.objects.create(
        kind="import", system=system, entity=entity, values={k.replace("__", "."): v for k, v in values.items()},
        area_code=area, observed_at=timezone.now(), row_number=SourceRecord.objects.count() + 1,
    )


def golden_of(rec) -> int:
    return Link.objects.get(record=rec, active=True).person_id


ZHANG = {"person__name": "张三丰", "person__id_number": "330726196005170013", "person__birth_date": "1960-05-17",
         "person__gender": "男"}


def test_the_same_person_in_two_systems_becomes_one_golden_record(systems):
    a = record(systems["gongan"], **ZHANG, person__phone="13812345678")
    b = record(systems["minzheng"], **{**ZHANG, "person__name": "张三峰"}, person__phone="13900000001")
    reconcile(entity="person")
    assert golden_of(a) == golden_of(b)
    person = Person.objects.get(pk=golden_of(a))
    # 公安 is authoritative for the name; every candidate stays visible.
    assert person.name == "张三丰" and provenance_of("person", person)["person.name"]["rule"] == "authoritative"
    assert {c["value"] for c in provenance_of("person", person)["person.name"]["candidates"]} == {"张三丰", "张三峰"}
    assert person.area_code == VILLAGE and person.name_initials == "zsf"


def test_a_runs_links_are_written_in_record_order(systems):
    # (SQLite looks up each new link's record as it inserts it: in record order, in sequence.)
    first = record(systems["gongan"], **ZHANG)
    other = record(systems["weijian"], person__name="李四光", person__birth_date="1975-09-01",
                   person__id_number="330726197509010031", person__gender="男")
    again = record(systems["minzheng"], **ZHANG)
    reconcile(entity="person")
    assert golden_of(first) == golden_of(again) != golden_of(other)
    assert list(Link.objects.order_by("id").values_list("record_id", flat=True)) == [first.pk, other.pk, again.pk]


def test_namesakes_stay_apart(systems):
    a = record(systems["gongan"], **ZHANG)
    b = record(systems["weijian"], person__name="张三丰", person__birth_date="1975-09-01",
               person__id_number="330726197509010031", person__gender="男")
    reconcile(entity="person")
    assert golden_of(a) != golden_of(b)


def test_golden_ids_survive_reruns_and_new_records_join_incrementally(systems):
    a = record(systems["gongan"], **ZHANG)
    reconcile(entity="person")
    first = golden_of(a)
    b = record(systems["weijian"], **ZHANG, person__phone="13812345678")
    result = reconcile(entity="person")
    assert result.new_records == 1 and golden_of(b) == first
    assert (result.created, result.updated) == (0, 1)  # the one golden record, updated in place
    person = Person.objects.get(pk=first)
    assert (person.phone, person.version) == ("13812345678", 2)
    reconcile(entity="person", full=True)
    assert golden_of(a) == golden_of(b) == first
    assert Person.objects.get(pk=first).phone == "13812345678"


@pytest.fixture
def fixed_pairs(monkeypatch):
    """Replace the model's probabilities with chosen ones, to test what reconcile does with them."""
    chosen: list[tuple[int, int, float]] = []

    def predict(records, *, new_ids, min_probability):
        return [(a, b, p) for a, b, p in chosen if p >= min_probability]

    monkeypatch.setattr(linkage, "predict_person_pairs", predict)
    return chosen


def test_thresholds_merge_queue_or_keep_apart(systems, fixed_pairs):
    recs = [record(systems["weijian"], person__name=f"人{i}") for i in range(6)]
    fixed_pairs += [
        (recs[0].pk, recs[1].pk, rc.AUTO_THRESHOLD),          # merges
        (recs[2].pk, recs[3].pk, rc.AUTO_THRESHOLD - 0.01),   # review queue
        (recs[4].pk, recs[5].pk, rc.REVIEW_THRESHOLD - 0.01),  # apart, not queued
    ]
    result = reconcile(entity="person")
    assert golden_of(recs[0]) == golden_of(recs[1])
    assert golden_of(recs[2]) != golden_of(recs[3]) and golden_of(recs[4]) != golden_of(recs[5])
    assert result.review_pairs == 1
    pair = ReviewPair.objects.get()
    assert (pair.left_id, pair.right_id, pair.status) == (recs[2].pk, recs[3].pk, ReviewStatus.OPEN)


def test_one_question_per_two_clusters_and_none_again_after_keep_apart(systems, fixed_pairs, world):
    gongan, weijian, doubtful = (record(systems["gongan"], person__name="李四"),
                                 record(systems["weijian"], person__name="李四"),
                                 record(systems["weijian"], person__name="李思"))
    fixed_pairs += [
        (gongan.pk, weijian.pk, 0.99),  # one person in two systems
        (doubtful.pk, weijian.pk, 0.8),  # a record that resembles both of its records
        (doubtful.pk, gongan.pk, 0.8),
    ]
    result = reconcile(entity="person")
    assert result.review_pairs == 1
    pair = ReviewPair.objects.get()  # equally sure: the pair of the lowest ids, so re-runs pick it again
    assert (pair.left_id, pair.right_id) == (gongan.pk, doubtful.pk)
    fixed_pairs[2] = (doubtful.pk, gongan.pk, 0.7)
    reconcile(entity="person", full=True)
    assert ReviewPair.objects.count() == 1  # the same question, not a second one

    review_decide(pair=pair, same=False, actor=world.cadre)
    later = record(systems["minzheng"], person__name="李四")
    fixed_pairs += [(later.pk, gongan.pk, 0.99), (doubtful.pk, later.pk, 0.9)]
    result = reconcile(entity="person", full=True)
    assert golden_of(later) == golden_of(gongan) != golden_of(doubtful)
    assert result.review_pairs == 0 and ReviewPair.objects.count() == 1  # kept apart: not asked again


def test_review_decisions_merge_undo_and_are_honoured_by_full_reruns(systems, fixed_pairs, world):
    a, b = record(systems["gongan"], person__name="李四"), record(systems["weijian"], person__name="李 四")
    fixed_pairs.append((a.pk, b.pk, 0.8))
    reconcile(entity="person")
    pair = ReviewPair.objects.get()
    left, right = golden_of(a), golden_of(b)
    review_decide(pair=pair, same=True, actor=world.cadre)
    assert golden_of(a) == golden_of(b) == left
    assert Person.objects.get(pk=right).merged_into_id == left
    reconcile(entity="person", full=True)
    assert golden_of(a) == golden_of(b)
    review_undo(pair=pair, actor=world.cadre)
    assert golden_of(b) == right and Person.objects.get(pk=right).merged_into_id is None
    review_decide(pair=ReviewPair.objects.get(), same=False, actor=world.cadre)
    fixed_pairs[0] = (a.pk, b.pk, 0.99)  # even a confident model may not merge what a person kept apart
    reconcile(entity="person", full=True)
    assert golden_of(a) != golden_of(b)


def test_a_split_record_gets_its_own_golden_record_and_stays_apart(systems, world):
    a = record(systems["gongan"], **ZHANG)
    b = record(systems["weijian"], **ZHANG)
    reconcile(entity="person")
    assert golden_of(a) == golden_of(b)
    new = record_split(record_id=b.pk, actor=world.cadre)
    assert golden_of(b) == new != golden_of(a)
    reconcile(entity="person", full=True)
    assert golden_of(b) != golden_of(a)


def test_houses_match_on_their_code_and_link_their_owner(systems):
    zhujian = LineSystem.objects.create(code="zhujian", name="住建")
    h1 = record(zhujian, entity="house", **{"house__code": "3307261012010001", "house__structure": "砖混"})
    record(zhujian, entity="house", **{"house__code": "3307261012010001", "house__floors": "3"})
    owner = SourceRecord.objects.create(kind="import", system=zhujian, entity="person", parent=h1, values={
        "person.name": "张三丰", "person.id_number": "330726196005170013"}, area_code=VILLAGE, observed_at=timezone.now())
    record(systems["gongan"], **ZHANG)
    reconcile()
    house = House.objects.get()
    assert house.structure == "砖混" and house.floors == 3
    assert house.owner_id == Link.objects.get(record=owner, active=True).person_id


def test_owners_found_from_the_run_equal_owners_found_from_the_links(systems, monkeypatch):
    zhujian = LineSystem.objects.create(code="zhujian", name="住建")
    owners = {}
    for i, (name, id_number) in enumerate([("张三丰", "330726196005170013"), ("李四", "330726197001020010")]):
        house = record(zhujian, entity="house", **{"house__code": f"330726101201000{i}"})
        owners[house.pk] = SourceRecord.objects.create(
            kind="import", system=zhujian, entity="person", parent=house, area_code=VILLAGE,
            observed_at=timezone.now(), values={"person.name": name, "person.id_number": id_number})
    record(systems["gongan"], **ZHANG)
    from_links = []
    monkeypatch.setattr(rc, "_link_house_owners", lambda person_ids=None, **given: from_links.append(given))
    reconcile()  # the first run reads every record: the maps are handed over
    given = from_links[0]
    assert given["owner_of_facet"] and given["house_of_record"]
    monkeypatch.undo()
    rc._link_house_owners(None, **given)
    in_memory = dict(House.objects.values_list("pk", "owner_id"))
    House.objects.update(owner=None)
    rc._link_house_owners(None)  # the same from the links in the database
    assert dict(House.objects.values_list("pk", "owner_id")) == in_memory
    assert sorted(in_memory.values()) == sorted(golden_of(o) for o in owners.values())


def test_households_group_members_by_household_number(systems):
    record(systems["gongan"], **ZHANG, person__household_no="1112010001", person__relation_to_head="户主")
    record(systems["gongan"], person__name="王二", person__household_no="1112010001", person__relation_to_head="配偶")
    reconcile()
    household = Household.objects.get()
    assert household.head_name == "张三丰" and household.members.count() == 2


def test_a_households_head_written_in_a_later_chunk_still_heads_it(systems, monkeypatch):
    # Golden persons are written in chunks of BATCH * 5 with their household; the household made
    # with the first chunk's member must end up headed by the 户主 written later.
    monkeypatch.setattr(rc, "BATCH", 1)
    record(systems["gongan"], person__name="王二", person__household_no="1112010001", person__relation_to_head="配偶")
    for i in range(5):
        record(systems["gongan"], person__name=f"王{i}{i}", person__household_no=f"11120100{i + 10}")
    head = record(systems["gongan"], **ZHANG, person__household_no="1112010001", person__relation_to_head="户主")
    reconcile()
    household = Household.objects.get(household_no="1112010001")
    assert household.head_name == "张三丰" and household.members.count() == 2
    assert Person.objects.get(pk=golden_of(head)).household_id == household.pk
    assert Household.objects.count() == 6 and not Person.objects.filter(household__isnull=True).exists()


def test_persons_join_the_household_a_household_record_made(systems):
    record(systems["gongan"], entity="household", **{"household__household_no": "1112010001",
                                                   "household__head_name": "张三丰"})
    person = record(systems["gongan"], **ZHANG, person__household_no="1112010001", person__relation_to_head="户主")
    reconcile()
    household = Household.objects.get()
    assert Person.objects.get(pk=golden_of(person)).household_id == household.pk
    assert household.links.filter(active=True).count() == 1


def test_a_later_run_puts_new_persons_into_existing_households(systems):
    record(systems["gongan"], **ZHANG, person__household_no="1112010001", person__relation_to_head="户主")
    reconcile()
    spouse = record(systems["gongan"], person__name="王二", person__household_no="1112010001",
                    person__relation_to_head="配偶")
    reconcile()
    household = Household.objects.get()
    assert household.head_name == "张三丰"
    assert Person.objects.get(pk=golden_of(spouse)).household_id == household.pk


def test_export_clusters_lists_imported_rows(systems):
    from yici.exchange.models import ImportBatch

    batch = ImportBatch.objects.create(system=systems["gongan"], filename="公安.xlsx", sha256="x" * 64, entity="person")
    rec = record(systems["gongan"], **ZHANG)
    rec.batch = batch
    rec.save()
    reconcile()
    assert list(rc.export_clusters()) == [("gongan_huji", "公安.xlsx", rec.row_number, golden_of(rec))]


def test_a_merge_and_its_undo_are_shared_with_the_systems_that_had_the_record(systems, fixed_pairs, world):
    from yici.exchange.models import Delivery, FieldMapping, LineSystemEndpoint, Subscription
    from yici.exchange.outbox import dispatch_events

    receiving = LineSystem.objects.create(code="receiver", name="接收系统")
    LineSystemEndpoint.objects.create(system=receiving, url="http://127.0.0.1:9/", secret="s")
    Subscription.objects.create(system=receiving, entity="person")
    FieldMapping.objects.create(system=receiving, element_code="person.name", field_name="xm")
    a, b = record(systems["gongan"], person__name="李四"), record(systems["weijian"], person__name="李 四")
    fixed_pairs.append((a.pk, b.pk, 0.8))
    reconcile(entity="person")
    dispatch_events()
    left, right = golden_of(a), golden_of(b)
    assert set(Delivery.objects.values_list("golden_id", flat=True)) == {left, right}
    review_decide(pair=ReviewPair.objects.get(), same=True, actor=world.cadre)
    dispatch_events()
    notice = Delivery.objects.filter(golden_id=right).order_by("-id").first()
    assert notice.payload["merged_into"] == left and notice.payload["data"] == {}
    assert notice.version > Delivery.objects.filter(golden_id=right).order_by("id").first().version
    review_undo(pair=ReviewPair.objects.get(), actor=world.cadre)
    dispatch_events()
    back = Delivery.objects.filter(golden_id=right).order_by("-id").first()
    assert "merged_into" not in back.payload and back.payload["data"]["xm"] == "李 四"
    assert back.version > notice.version


def test_survivorship_of_a_group_equals_choosing_among_all_its_candidates():
    """``_survive`` makes candidates only where two records state an element; the result must be
    what ``golden.survive`` gives with every candidate."""
    import random

    from yici.registry import golden

    rng = random.Random(7)
    systems_ = [("gongan_huji", "gongan"), ("minzheng_jiuzhu", "minzheng"), ("user", ""), ("zhujian_zijianfang", "zhujian")]
    codes = ["person.name", "person.phone", "house.structure", "person.education"]
    authority = {"person.name": "gongan", "house.structure": "zhujian"}
    for trial in range(300):
        group = []
        for rid in rng.sample(range(1, 50), rng.randint(2, 5)):
            system, department = rng.choice(systems_)
            values = {code: rng.choice(["", "甲", "乙", "丙"]) for code in rng.sample(codes, rng.randint(1, len(codes)))}
            group.append(rc.Member(rid, values, system, department,
                                   rng.choice(["2025-01-01", "2025-06-01", "2026-01-01"]), ""))
        every = {}
        for r in group:
            for code, value in r.values.items():
                every.setdefault(code, []).append(golden.Candidate(value, r.id, r.system, r.department, r.observed_at))
        expected_values, expected = golden.survive(every, authority)
        values, provenance = rc._survive(group, authority)
        assert values == expected_values, trial
        assert provenance == expected, trial


def _golden_state() -> dict:
    """Every golden record's stored values, provenance, area and household, by model and id."""
    columns = ("name", "name_initials", "id_number", "gender", "birth_date", "phone", "relation_to_head",
               "address", "household_id", "area_code", "attributes", "provenance", "merged_into_id")
    state = {"person": {p["id"]: p for p in Person.objects.values("id", *columns)}}
    state["household"] = {h["id"]: h for h in Household.objects.values()}
    state["house"] = {h["id"]: h for h in House.objects.values("id", "code", "address", "owner_id", "structure",
                                                               "floors", "area_code", "attributes", "provenance")}
    return state


@pytest.mark.usefixtures("fail_instead_of_hanging")
def test_golden_values_computed_by_worker_processes_equal_those_computed_here(systems, monkeypatch,
                                                                                  process_pools):
    # A large run forks workers before reading its records; they compute the golden values of
    # new and of changed golden records, which must be those this process computes.
    monkeypatch.setattr(rc, "PARALLEL_GOLDEN_FROM", 1)
    monkeypatch.setattr(rc, "GOLDEN_CHUNK", 2)  # several chunks in flight, results in order
    head = record(systems["gongan"], **ZHANG, person__household_no="1112010001", person__relation_to_head="户主",
                  person__ethnicity="汉族")
    same = record(systems["minzheng"], **{**ZHANG, "person__name": "张三峰"}, person__phone="13900000001",
                  area="330726101202")
    record(systems["gongan"], person__name="王二", person__household_no="1112010001", person__relation_to_head="配偶")
    for i in range(4):
        record(systems["weijian"], person__name=f"李{i}", person__birth_date=f"19{50 + i}-01-0{i + 1}")
    record(systems["gongan"], entity="house", house__code="FW001", house__address="东村1号", house__structure="砖混")
    reconcile()
    assert len(process_pools) == 1 and process_pools[0][0] == max(1, rc.parallel.cores() - 1)
    in_workers = _golden_state()
    person = Person.objects.get(pk=golden_of(head))
    assert golden_of(same) == person.pk and person.name == "张三丰" and person.phone == "13900000001"
    assert person.household.head_name == "张三丰" and person.attributes["person.ethnicity"] == "汉族"
    assert provenance_of("person", person)["person.name"]["rule"] == "authoritative"

    monkeypatch.setattr(rc, "PARALLEL_GOLDEN_FROM", 10**9)
    reconcile(full=True)  # computed here: nothing changes
    assert len(process_pools) == 1
    assert _golden_state() == in_workers

    # Changed golden records are updated by the workers as they would be here.
    person.refresh_from_db()
    version = person.version
    record(systems["gongan"], **ZHANG, person__phone="13812345678", person__household_no="1112010001")
    monkeypatch.setattr(rc, "PARALLEL_GOLDEN_FROM", 1)
    reconcile(full=True)
    assert len(process_pools) == 2
    in_workers = _golden_state()
    person.refresh_from_db()
    assert person.phone == "13812345678" and person.version == version + 1
    monkeypatch.setattr(rc, "PARALLEL_GOLDEN_FROM", 10**9)
    reconcile(full=True)
    assert _golden_state() == in_workers


def test_workers_are_started_for_runs_that_add_many_records_only(systems, monkeypatch, process_pools):
    monkeypatch.setattr(rc, "PARALLEL_GOLDEN_FROM", 3)
    for i in range(2):
        record(systems["gongan"], person__name=f"李{i}")
    reconcile()
    assert process_pools == []  # two new records: computed here
    for i in range(3):
        record(systems["gongan"], person__name=f"王{i}")
    reconcile()
    assert len(process_pools) == 1  # three records added since the last linked one
    reconcile(full=True)
    assert len(process_pools) == 2  # every record again
    record(systems["gongan"], person__name="赵六")
    reconcile()
    assert len(process_pools) == 2 and Person.objects.count() == 6


def test_a_run_finds_the_records_of_an_entity_that_have_no_link(systems):
    house = record(systems["gongan"], entity="house", house__code="FW001")
    person = record(systems["gongan"], **ZHANG)
    assert rc._has_unlinked("house") and rc._has_unlinked("person")
    reconcile(entity="house")
    assert not rc._has_unlinked("house") and rc._has_unlinked("person")
    reconcile()
    assert not rc._has_unlinked("person")
    Link.objects.filter(record=house).update(active=False)  # its link ended, none active
    assert rc._has_unlinked("house")
    reconcile()
    assert not rc._has_unlinked("house") and Link.objects.filter(record=house, active=True).exists()
    assert Link.objects.filter(record=person, active=True).count() == 1
