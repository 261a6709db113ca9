import pytest
from django.urls import reverse

from yici.audit.models import AuditEvent
from yici.testing.factories import PersonFactory
from yici.testing.fixtures import OTHER_VILLAGE


@pytest.mark.parametrize("who", ["cadre", "township_staff", "admin", "department_staff"])
def test_it_lists_residents_of_the_users_area_masked(client, world, resident, who):
    client.force_login(getattr(world, who))
    response = client.get(reverse("registry:person_list"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "张三丰" in body
    assert "330726196005170013" not in body
    assert "330726********0013" in body
    assert "138****5678" in body


@pytest.mark.parametrize("who", ["outsider", "burden_office", "auditor"])
def test_it_refuses_residents_to_users_outside_the_area_or_role(client, world, resident, who):
    client.force_login(getattr(world, who))
    assert "张三丰" not in client.get(reverse("registry:person_list")).content.decode()
    assert client.get(reverse("registry:person_detail", args=[resident.pk])).status_code == 404


def test_it_redirects_anonymous_users_to_login(client, world, resident):
    response = client.get(reverse("registry:person_list"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_outsider_sees_their_own_village_only(client, world, resident):
    PersonFactory(name="李四", area_code=OTHER_VILLAGE)
    client.force_login(world.outsider)
    body = client.get(reverse("registry:person_list")).content.decode()
    assert "李四" in body and "张三丰" not in body


def test_revealing_a_full_value_needs_a_reason_and_is_audited(client, world, resident):
    client.force_login(world.cadre)
    url = reverse("registry:person_reveal", args=[resident.pk, "id_number"])
    assert client.post(url, {"reason": ""}).status_code == 400
    assert not AuditEvent.objects.filter(action="reveal").exists()
    response = client.post(url, {"reason": "低保复核"})
    assert response.status_code == 200
    assert "330726196005170013" in response.content.decode()
    event = AuditEvent.objects.get(action="reveal")
    assert (event.actor, event.field, event.reason, event.object_id) == (world.cadre, "id_number", "低保复核", str(resident.pk))


def test_outsider_cannot_reveal(client, world, resident):
    client.force_login(world.outsider)
    url = reverse("registry:person_reveal", args=[resident.pk, "phone"])
    assert client.post(url, {"reason": "curious"}).status_code == 404
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_only_sensitive_fields_can_be_revealed(client, world, resident):
    client.force_login(world.cadre)
    assert client.post(reverse("registry:person_reveal", args=[resident.pk, "name"]), {"reason": "x"}).status_code == 404


def test_search_by_pinyin_initials_id_and_phone(client, world, resident):
    PersonFactory(name="王五", area_code=resident.area_code, phone="13900000001")
    client.force_login(world.cadre)
    assert "张三丰" in client.get(reverse("registry:person_list"), {"q": "张三"}).content.decode()
    assert "王五" in client.get(reverse("registry:person_list"), {"q": "13900000001"}).content.decode()
    assert "张三丰" not in client.get(reverse("registry:person_list"), {"q": "13900000001"}).content.decode()


def test_the_pager_keeps_the_search(client, world):
    from yici.testing.fixtures import VILLAGE

    for i in range(55):
        PersonFactory(name=f"张{i:02d}", area_code=VILLAGE)
    PersonFactory(name="李四", area_code=VILLAGE)
    client.force_login(world.cadre)
    first = client.get(reverse("registry:person_list") + "?q=张").content.decode()
    assert "?q=%E5%BC%A0&amp;page=2" in first and "1 / 2" in first
    second = client.get(reverse("registry:person_list") + "?q=张&page=2").content.decode()
    assert "2 / 2" in second and "?q=%E5%BC%A0&amp;page=1" in second and "李四" not in second
