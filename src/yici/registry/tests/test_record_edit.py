"""Correcting a record by hand: validated, kept as a source with provenance, shared with subscribers."""

import pytest
from django.urls import reverse

from yici.burden.models import BurdenCount, BurdenMetric
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.delivery import deliver_due
from yici.exchange.models import (
    Delivery,
    FieldMapping,
    LineSystem,
    LineSystemEndpoint,
    OutboxEvent,
    Subscription,
)
from yici.registry.golden import provenance_of
from yici.registry.models import House, SourceKind, SourceRecord
from yici.testing.factories import HouseFactory


@pytest.fixture
def house(world):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    return HouseFactory(structure="砖木", floors=2)


@pytest.fixture
def housing_system(db):
    system = LineSystem.objects.create(code="zhujian", name="住建")
    LineSystemEndpoint.objects.create(system=system, url="http://127.0.0.1:9/", secret="s")
    Subscription.objects.create(system=system, entity="house", elements=["house.structure"])
    FieldMapping.objects.create(system=system, element_code="house.structure", field_name="FWJG", transform="code")
    return system


def test_a_cadre_corrects_a_house_once_and_it_is_queued_for_the_housing_system(client, world, house, housing_system):
    client.force_login(world.cadre)
    page = client.get(reverse("registry:house_edit", args=[house.pk]))
    assert page.status_code == 200 and "砖混" in page.content.decode()
    response = client.post(reverse("registry:house_edit", args=[house.pk]), {"house.structure": "砖混", "house.floors": "2"})
    assert response.status_code == 302
    house.refresh_from_db()
    assert house.structure == "砖混" and house.floors == 2
    record = SourceRecord.objects.filter(kind=SourceKind.USER, actor=world.cadre).get()
    assert record.values == {"house.structure": "砖混"}  # only what changed
    assert provenance_of("house", house)["house.structure"]
    assert "house.structure" in OutboxEvent.objects.filter(entity="house", golden_id=house.pk).last().changed
    deliver_due()
    delivery = Delivery.objects.get(system=housing_system)
    assert delivery.payload["data"] == {"FWJG": "2"}
    assert BurdenCount.objects.get(metric=BurdenMetric.FIELDS_TYPED).count == 1
    detail = client.get(reverse("registry:house_detail", args=[house.pk])).content.decode()
    assert 'data-testid="fact-trail"' in detail and "住建" in detail


def test_an_invalid_value_saves_nothing(settings, client, world, house):
    client.force_login(world.cadre)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the page's messages in English
    response = client.post(reverse("registry:house_edit", args=[house.pk]),
                           {"house.structure": "砖混", "house.floors": "三楼半?"})
    assert response.status_code == 200
    assert "nothing was changed" in response.content.decode()
    house.refresh_from_db()
    assert house.structure == "砖木"
    assert not SourceRecord.objects.filter(kind=SourceKind.USER, actor=world.cadre).exists()


@pytest.mark.parametrize("user", ["outsider", "burden_office", "auditor", "department_staff"])
def test_others_cannot_edit(client, world, house, user):
    client.force_login(world.users()[user])
    response = client.post(reverse("registry:house_edit", args=[house.pk]), {"house.structure": "钢混"})
    assert response.status_code in (403, 404)
    assert House.objects.get(pk=house.pk).structure == "砖木"


def test_a_sensitive_value_left_blank_is_kept(client, world, resident):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    client.force_login(world.cadre)
    page = client.get(reverse("registry:person_edit", args=[resident.pk])).content.decode()
    assert "330726196005170013" not in page  # masked on the page
    client.post(reverse("registry:person_edit", args=[resident.pk]), {"person.id_number": "", "person.name": "张三丰"})
    resident.refresh_from_db()
    assert resident.id_number == "330726196005170013"
