"""The person page: every value with its provenance (masked), household, houses and history."""

import datetime
from dataclasses import dataclass

import pytest
from django.urls import reverse
from django.utils import timezone

from yici.audit.models import AuditEvent
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.models import ImportBatch, ImportStatus, LineSystem
from yici.registry.models import House, Link, LinkMethod, Person, SourceRecord
from yici.registry.reconcile import recompute_golden
from yici.testing.factories import DepartmentFactory, HouseFactory, HouseholdFactory, PersonFactory
from yici.testing.fixtures import OTHER_VILLAGE, VILLAGE

ID = "330726196005170013"
OLD_PHONE = "13812345678"
NEW_PHONE = "13987654321"


def make_batch(system: LineSystem, filename: str, entity: str = "person") -> ImportBatch:
    return ImportBatch.objects.create(system=system, filename=filename, sha256=filename.ljust(64, "0")[:64],
                                      entity=entity, status=ImportStatus.DONE)


def make_record(system, values, *, batch=None, row=None, when=None, entity="person", area=VILLAGE, parent=None):
    return SourceRecord.objects.create(
        kind="import", system=system, batch=batch, row_number=row, sheet_row=row, entity=entity, values=values,
        raw=dict(values), area_code=area, observed_at=when or timezone.now(), parent=parent,
    )


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


@dataclass
class Sourced:
    person: Person
    gongan: SourceRecord
    minzheng: SourceRecord
    old: SourceRecord  # linked to a record that was merged into ``person``


@pytest.fixture
def sourced(world, catalog) -> Sourced:
    """张三丰 as 公安 and 民政 saw him: 民政's phone is newer; 民政 also says he receives 低保."""
    gongan_dept = DepartmentFactory(code="gongan", name="公安")
    gongan = LineSystem.objects.create(code="gongan_huji", name="公安户籍", department=gongan_dept)
    minzheng = LineSystem.objects.create(code="minzheng_dibao", name="民政低保", department=world.department)
    may = timezone.make_aware(datetime.datetime(2025, 5, 3, 9, 0))
    june = timezone.make_aware(datetime.datetime(2025, 6, 1, 9, 0))
    r1 = make_record(gongan, {"person.name": "张三丰", "person.id_number": ID, "person.phone": OLD_PHONE,
                              "person.gender": "男"}, batch=make_batch(gongan, "户籍.xlsx"), row=7, when=may)
    r2 = make_record(minzheng, {"person.name": "张三丰", "person.phone": NEW_PHONE, "person.low_income": "是"},
                     batch=make_batch(minzheng, "低保名册.xlsx"), row=12, when=june)
    r3 = make_record(minzheng, {"person.name": "张三丰"}, batch=make_batch(minzheng, "老名册.xls"), row=3, when=may)
    household = HouseholdFactory(household_no="H0001", area_code=VILLAGE)
    person = PersonFactory(name="?", area_code=VILLAGE, household=household)
    merged = PersonFactory(name="张三丰", area_code=VILLAGE, merged_into_id=person.pk)
    Link.objects.create(record=r1, person=person, method=LinkMethod.NEW)
    Link.objects.create(record=r2, person=person, method=LinkMethod.AUTO, probability=0.97)
    Link.objects.create(record=r3, person=merged, method=LinkMethod.NEW, active=False, ended_at=timezone.now())
    Link.objects.create(record=r3, person=person, method=LinkMethod.MANUAL, probability=0.8)
    recompute_golden("person", {person.pk})
    person.refresh_from_db()
    return Sourced(person=person, gongan=r1, minzheng=r2, old=r3)


def body_of(client, user, person) -> str:
    client.force_login(user)
    response = client.get(reverse("registry:person_detail", args=[person.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_every_value_with_its_source_time_and_rule(client, world, sourced):
    client.force_login(world.cadre)
    response = client.get(reverse("registry:person_detail", args=[sourced.person.pk]))
    elements = {e.code: e for e in response.context["data"].elements}
    assert set(elements) >= {"person.name", "person.id_number", "person.phone", "person.gender", "person.low_income"}
    assert elements["person.id_number"].rule == "only"
    phone = elements["person.phone"]
    assert (phone.rule, phone.system, phone.ref.file, phone.ref.row) == ("most_recent", "民政低保", "低保名册.xlsx", 12)
    assert [c.system for c in phone.others] == ["公安户籍"]
    assert phone.others[0].observed_at.date() == datetime.date(2025, 5, 3)
    body = response.content.decode()
    assert 'data-testid="element-person.low_income"' in body and "公安户籍" in body and "户籍.xlsx" in body


def test_sensitive_values_are_masked_everywhere_including_other_candidates(client, world, sourced):
    body = body_of(client, world.cadre, sourced.person)
    for full in (ID, OLD_PHONE, NEW_PHONE):
        assert full not in body
    assert "139****4321" in body  # the golden phone
    assert "138****5678" in body  # 公安's older phone, a candidate, masked too
    assert "330726********0013" in body
    # 是否低保对象 is sensitive in the catalog: its value is hidden, not merely shortened.
    elements = client.get(reverse("registry:person_detail", args=[sourced.person.pk])).context["data"].elements
    low_income = next(e for e in elements if e.code == "person.low_income")
    assert low_income.value == "****" and low_income.reveal_field == "person.low_income"


def test_a_sensitive_catalog_element_can_be_revealed_with_a_reason_and_is_audited(client, world, sourced):
    client.force_login(world.cadre)
    url = reverse("registry:person_reveal", args=[sourced.person.pk, "person.low_income"])
    assert client.post(url, {"reason": ""}).status_code == 400
    response = client.post(url, {"reason": "低保复核"})
    assert response.status_code == 200 and "是" in response.content.decode()
    event = AuditEvent.objects.get(action="reveal")
    assert (event.field, event.reason, event.object_id) == ("person.low_income", "低保复核", str(sourced.person.pk))


def test_elements_that_are_not_sensitive_cannot_be_revealed(client, world, sourced):
    client.force_login(world.cadre)
    for field in ("person.name", "person.gender", "person.nope"):
        url = reverse("registry:person_reveal", args=[sourced.person.pk, field])
        assert client.post(url, {"reason": "x"}).status_code == 404
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_the_id_number_keeps_its_established_reveal(client, world, sourced):
    client.force_login(world.cadre)
    response = client.post(reverse("registry:person_reveal", args=[sourced.person.pk, "id_number"]), {"reason": "核对"})
    assert ID in response.content.decode()
    assert AuditEvent.objects.get(action="reveal").field == "id_number"


def test_history_lists_records_linked_now_and_before(client, world, sourced):
    client.force_login(world.cadre)
    response = client.get(reverse("registry:person_detail", args=[sourced.person.pk]))
    history = response.context["data"].history
    by_record = {}
    for h in history:
        by_record.setdefault(h.link.record_id, []).append(h)
    assert {h.file for h in history} == {"户籍.xlsx", "低保名册.xlsx", "老名册.xls"}
    old = sorted(by_record[sourced.old.pk], key=lambda h: h.link.active)
    assert [h.link.active for h in old] == [False, True]
    assert old[0].via is not None and old[1].via is None  # the ended link belonged to the merged-away record
    assert old[1].link.method == LinkMethod.MANUAL and old[1].row == 3
    auto = by_record[sourced.minzheng.pk][0]
    assert (auto.system, auto.row, auto.link.probability) == ("民政低保", 12, 0.97)
    body = response.content.decode()
    assert 'data-testid="history"' in body and "0.97" in body


def test_it_shows_household_members_and_houses(client, world, sourced):
    person = sourced.person
    wife = PersonFactory(name="李梅", area_code=VILLAGE, household=person.household, relation_to_head="配偶")
    PersonFactory(name="已合并", area_code=VILLAGE, household=person.household, merged_into_id=wife.pk)
    PersonFactory(name="外村人", area_code=OTHER_VILLAGE, household=person.household)
    owned = HouseFactory(code="3307261012010001", owner=person, area_code=VILLAGE)
    family = HouseFactory(code="3307261012010002", household=person.household, area_code=VILLAGE)
    HouseFactory(code="3307261022010003", owner=person, area_code=OTHER_VILLAGE)
    client.force_login(world.cadre)
    response = client.get(reverse("registry:person_detail", args=[person.pk]))
    data = response.context["data"]
    assert [m.name for m in data.members] == ["李梅"]
    assert data.houses_owned == [owned] and data.household_houses == [family]
    body = response.content.decode()
    assert reverse("registry:house_detail", args=[owned.pk]) in body and "3307261022010003" not in body


def test_a_merged_away_id_still_resolves_to_its_successor(client, world, sourced):
    merged = Person.objects.get(merged_into_id=sourced.person.pk)
    client.force_login(world.cadre)
    response = client.get(reverse("registry:person_detail", args=[merged.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:person_detail", args=[sourced.person.pk])
    client.force_login(world.outsider)
    assert client.get(reverse("registry:person_detail", args=[merged.pk])).status_code == 404


@pytest.mark.parametrize("who", ["outsider", "burden_office", "auditor"])
def test_it_refuses_the_person_page_and_reveals_outside_the_area_or_role(client, world, sourced, who):
    client.force_login(getattr(world, who))
    person = sourced.person
    assert client.get(reverse("registry:person_detail", args=[person.pk])).status_code == 404
    url = reverse("registry:person_reveal", args=[person.pk, "person.low_income"])
    assert client.post(url, {"reason": "curious"}).status_code == 404
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_a_person_without_provenance_still_shows_their_values(client, world, resident):
    body = body_of(client, world.cadre, resident)
    assert "张三丰" in body and ID not in body


def test_the_person_list_runs_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    household = HouseholdFactory(area_code=VILLAGE)
    PersonFactory.create_batch(30, area_code=VILLAGE, household=household)
    client.force_login(world.cadre)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("registry:person_list"))
    assert response.context["page"].paginator.count == 30


def test_the_person_page_query_count_does_not_grow_with_history(client, world, sourced, django_assert_max_num_queries):
    system = LineSystem.objects.get(code="minzheng_dibao")
    batch = make_batch(system, "more.xlsx")
    for n in range(20):
        record = make_record(system, {"person.name": "张三丰"}, batch=batch, row=100 + n)
        Link.objects.create(record=record, person=sourced.person, method=LinkMethod.AUTO, probability=0.99)
    HouseFactory.create_batch(5, owner=sourced.person, area_code=VILLAGE)
    client.force_login(world.cadre)
    # (One of them reads the person's member records, whose values give the provenance its candidates.)
    with django_assert_max_num_queries(19):
        response = client.get(reverse("registry:person_detail", args=[sourced.person.pk]))
    assert len(response.context["data"].history) == 24
    assert House.objects.filter(owner=sourced.person).count() == 5
