"""House search and the house page: scoped like persons, values with provenance, owner link."""

import pytest
from django.urls import reverse
from django.utils import timezone

from yici.audit.models import AuditEvent
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.models import ImportBatch, ImportStatus, LineSystem
from yici.registry.golden import name_initials
from yici.registry.models import Link, LinkMethod, SourceRecord
from yici.registry.reconcile import recompute_golden
from yici.testing.factories import HouseFactory, PersonFactory
from yici.testing.fixtures import OTHER_VILLAGE, VILLAGE

OWNER_ID = "330726196005170013"


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


@pytest.fixture
def house(world, catalog):
    """A house in the cadre's village, as 住建 recorded it, owned by 张三丰."""
    owner = PersonFactory(name="张三丰", name_initials=name_initials("张三丰"), area_code=VILLAGE)
    system = LineSystem.objects.create(code="zhujian_fangwu", name="住建房屋")
    batch = ImportBatch.objects.create(system=system, filename="农房.xlsx", sha256="f" * 64, entity="house",
                                       status=ImportStatus.DONE)
    values = {"house.code": "3307261012010001", "house.address": "樟树村12号", "house.structure": "砖混",
              "house.floors": "3", "house.owner_name": "张三丰", "house.owner_id_number": OWNER_ID}
    record = SourceRecord.objects.create(kind="import", system=system, batch=batch, row_number=4, entity="house",
                                         values=values, raw=dict(values), area_code=VILLAGE, observed_at=timezone.now())
    house = HouseFactory(code="?", area_code=VILLAGE, owner=owner)
    Link.objects.create(record=record, house=house, method=LinkMethod.NEW)
    recompute_golden("house", {house.pk})
    house.refresh_from_db()
    return house


@pytest.mark.parametrize("who", ["cadre", "township_staff", "admin", "department_staff"])
def test_it_lists_and_shows_houses_of_the_users_area(client, world, house, who):
    client.force_login(getattr(world, who))
    body = client.get(reverse("registry:house_list")).content.decode()
    assert "3307261012010001" in body and "樟树村12号" in body and "张三丰" in body
    assert client.get(reverse("registry:house_detail", args=[house.pk])).status_code == 200


@pytest.mark.parametrize("who", ["outsider", "burden_office", "auditor"])
def test_it_refuses_houses_outside_the_area_or_role(client, world, house, who):
    client.force_login(getattr(world, who))
    assert "3307261012010001" not in client.get(reverse("registry:house_list")).content.decode()
    assert client.get(reverse("registry:house_detail", args=[house.pk])).status_code == 404
    url = reverse("registry:house_reveal", args=[house.pk, "house.owner_id_number"])
    assert client.post(url, {"reason": "curious"}).status_code == 404
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_anonymous_users_are_sent_to_sign_in(client, house):
    response = client.get(reverse("registry:house_list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("query", ["3307261012010001", "12010001", "樟树村12", "张三", "zsf", "ZS"])
def test_search_by_code_address_owner_name_and_initials(client, world, house, query):
    HouseFactory(code="3307261012019999", address="石门路1号", area_code=VILLAGE)
    client.force_login(world.cadre)
    houses = list(client.get(reverse("registry:house_list"), {"q": query}).context["page"])
    assert houses == [house]


def test_the_house_page_shows_values_with_provenance_and_the_owner(client, world, house):
    client.force_login(world.cadre)
    response = client.get(reverse("registry:house_detail", args=[house.pk]))
    body = response.content.decode()
    assert reverse("registry:person_detail", args=[house.owner_id]) in body
    elements = {e.code: e for e in response.context["data"].elements}
    assert elements["house.structure"].value == "砖混"
    assert (elements["house.floors"].system, elements["house.floors"].ref.file, elements["house.floors"].ref.row) == (
        "住建房屋", "农房.xlsx", 4)
    assert OWNER_ID not in body and "330726********0013" in body
    assert response.context["data"].history[0].file == "农房.xlsx"


def test_the_owners_id_number_on_a_house_is_revealed_with_a_reason_and_audited(client, world, house):
    client.force_login(world.cadre)
    url = reverse("registry:house_reveal", args=[house.pk, "house.owner_id_number"])
    assert client.post(url, {"reason": ""}).status_code == 400
    response = client.post(url, {"reason": "危房排查"})
    assert OWNER_ID in response.content.decode()
    event = AuditEvent.objects.get(action="reveal")
    assert (event.object_type, event.field, event.reason) == ("registry.house", "house.owner_id_number", "危房排查")
    assert client.post(reverse("registry:house_reveal", args=[house.pk, "house.address"]), {"reason": "x"}).status_code == 404


def test_an_owner_outside_the_users_area_is_not_linked(client, world, house):
    house.owner.area_code = OTHER_VILLAGE
    house.owner.save()
    client.force_login(world.cadre)
    response = client.get(reverse("registry:house_detail", args=[house.pk]))
    assert response.context["data"].owner is None
    assert reverse("registry:person_detail", args=[house.owner_id]) not in response.content.decode()


def test_the_house_list_runs_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    for n in range(30):
        HouseFactory(area_code=VILLAGE, owner=PersonFactory(area_code=VILLAGE, name=f"户主{n}"))
    client.force_login(world.cadre)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("registry:house_list"))
    assert response.context["page"].paginator.count == 30
