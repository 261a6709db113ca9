import pytest

from yici.testing.factories import HouseFactory, PlaceFactory
from yici.testing.fixtures import OTHER_VILLAGE


def test_openapi_schema_is_published(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/registry/persons" in paths and "/api/me" in paths


def test_anonymous_calls_are_refused(client, world, resident):
    assert client.get("/api/registry/persons").status_code == 401
    assert client.get("/api/me").status_code == 401


def test_me_describes_the_caller(client, world):
    client.force_login(world.department_staff)
    body = client.get("/api/me").json()
    assert body["role"] == "department_staff" and body["department"] == "minzheng"
    assert body["area"]["code"] == "330726000000"


def test_persons_are_scoped_and_masked(client, world, resident):
    client.force_login(world.cadre)
    body = client.get("/api/registry/persons").json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item["name"] == "张三丰"
    assert item["id_number_masked"] == "330726********0013"
    assert "330726196005170013" not in str(body)


@pytest.mark.parametrize("who", ["outsider", "burden_office", "auditor"])
def test_the_outsider_and_non_personal_roles_get_nothing(client, world, resident, who):
    client.force_login(getattr(world, who))
    assert client.get("/api/registry/persons").json()["count"] == 0
    assert client.get(f"/api/registry/persons/{resident.pk}").status_code == 404


def test_houses_and_places_are_scoped(client, world):
    HouseFactory(code="3307261012010001")
    HouseFactory(code="3307261022010001", area_code=OTHER_VILLAGE)
    PlaceFactory(name="樟树村文化礼堂")
    client.force_login(world.cadre)
    assert [h["code"] for h in client.get("/api/registry/houses").json()["items"]] == ["3307261012010001"]
    assert [p["name"] for p in client.get("/api/registry/places").json()["items"]] == ["樟树村文化礼堂"]
    client.force_login(world.outsider)
    assert [h["code"] for h in client.get("/api/registry/houses").json()["items"]] == ["3307261022010001"]


def test_person_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    from yici.testing.factories import HouseholdFactory, PersonFactory

    for _ in range(30):
        PersonFactory(household=HouseholdFactory())
    client.force_login(world.cadre)
    with django_assert_max_num_queries(8):
        assert client.get("/api/registry/persons?limit=100").json()["count"] == 30


def test_person_elements_carry_provenance_and_masking(client, world, db):
    from django.utils import timezone

    from yici.catalog.services import BUILTIN_CATALOG, catalog_load
    from yici.exchange.models import LineSystem
    from yici.registry.models import SourceRecord
    from yici.registry.reconcile import reconcile

    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    system = LineSystem.objects.create(code="gongan_huji", name="户籍系统")
    SourceRecord.objects.create(kind="import", system=system, entity="person", area_code="330726101201",
                                observed_at=timezone.now(), values={
                                    "person.name": "张三丰", "person.id_number": "330726196005170013",
                                    "person.ethnicity": "汉族"})
    reconcile(entity="person")
    from yici.registry.models import Person

    person = Person.objects.get()
    client.force_login(world.cadre)
    items = {e["code"]: e for e in client.get(f"/api/registry/persons/{person.pk}/elements").json()}
    assert items["person.ethnicity"]["value"] == "汉族" and items["person.ethnicity"]["system"] == "户籍系统"
    assert items["person.id_number"]["value"] == "330726********0013" and items["person.id_number"]["sensitive"]
    client.force_login(world.outsider)
    assert client.get(f"/api/registry/persons/{person.pk}/elements").status_code == 404
