"""Line-system pages: who sees what, settings saved (secrets never shown), replays, health."""

import pytest
from django.urls import reverse
from django.utils import timezone

from yici.audit.models import AuditEvent
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.models import (
    Delivery,
    DeliveryStatus,
    FieldMapping,
    LineSystem,
    LineSystemEndpoint,
    OutboxEvent,
    Subscription,
)


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


@pytest.fixture
def housing(world, catalog):
    system = LineSystem.objects.create(code="zhujian", name="住建系统", department=world.department)
    LineSystemEndpoint.objects.create(system=system, url="http://127.0.0.1:9/in", secret="top-secret-value")
    return system


def dead_delivery(system, golden_id=1):
    event = OutboxEvent.objects.create(entity="person", golden_id=golden_id, version=2, changed=["person.name"])
    return Delivery.objects.create(event=event, system=system, entity="person", golden_id=golden_id, version=2,
                                   payload={"changed": ["xm"], "data": {"xm": "x"}}, status=DeliveryStatus.DEAD,
                                   attempts=8, next_attempt_at=timezone.now(), idempotency_key=f"k{golden_id}",
                                   last_error="HTTP 503")


def test_the_admin_sees_health_and_the_secret_is_never_shown(client, world, housing):
    dead_delivery(housing)
    client.force_login(world.admin)
    response = client.get(reverse("exchange:system_list"))
    assert response.status_code == 200
    assert "住建系统" in response.content.decode()
    detail = client.get(reverse("exchange:system_detail", args=["zhujian"])).content.decode()
    assert "top-secret-value" not in detail and "HTTP 503" in detail
    assert 'data-testid="dead-count">1<' in detail


@pytest.mark.parametrize("user", ["cadre", "township_staff", "burden_office", "auditor", "outsider"])
def test_other_roles_are_refused(client, world, housing, user):
    client.force_login(world.users()[user])
    assert client.get(reverse("exchange:system_list")).status_code == 403
    assert client.get(reverse("exchange:system_detail", args=["zhujian"])).status_code == 403


def test_department_staff_see_their_own_systems_read_only(client, world, housing):
    LineSystem.objects.create(code="weijian", name="卫健系统")
    client.force_login(world.department_staff)
    listing = client.get(reverse("exchange:system_list")).content.decode()
    assert "住建系统" in listing and "卫健系统" not in listing
    assert client.get(reverse("exchange:system_detail", args=["weijian"])).status_code == 404
    assert client.post(reverse("exchange:system_replay", args=["zhujian"])).status_code == 403


def test_connector_settings_are_checked_and_saved_with_the_secret_encrypted(settings, client, world, housing):
    client.force_login(world.admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the page's messages in English
    url = reverse("exchange:system_endpoint", args=["zhujian"])
    form = {"kind": "http-json", "url": "not a url", "timeout_seconds": "5", "max_attempts": "6", "batch_size": "1",
            "active": "on"}
    response = client.post(url, form, follow=True)
    assert "is not an http(s) URL" in response.content.decode()
    assert LineSystemEndpoint.objects.get().url == "http://127.0.0.1:9/in"  # unchanged
    client.post(url, {**form, "url": "https://zhujian.example.gov.cn/yici", "secret": "new-secret"})
    endpoint = LineSystemEndpoint.objects.get()
    assert (endpoint.url, endpoint.secret, endpoint.max_attempts) == ("https://zhujian.example.gov.cn/yici", "new-secret", 6)
    client.post(url, {**form, "url": "https://zhujian.example.gov.cn/yici"})  # blank secret keeps it
    assert LineSystemEndpoint.objects.get().secret == "new-secret"
    audit = AuditEvent.objects.filter(object_type__icontains="endpoint").last() or AuditEvent.objects.last()
    assert "new-secret" not in str(audit.after) and "new-secret" not in str(audit.before)


def test_a_mapping_to_an_element_that_does_not_exist_is_refused(settings, client, world, housing):
    from yici.exchange.services import SystemConfigError, field_mapping_save

    with pytest.raises(SystemConfigError, match="not an element of the data catalog"):
        field_mapping_save(system=housing, element_code="person.shoe_size", field_name="XM")
    client.force_login(world.admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the page's messages in English
    client.post(reverse("exchange:system_mapping", args=["zhujian"]),
                {"element_code": "person.name", "field_name": "XM", "transform": ""})
    assert list(FieldMapping.objects.values_list("element_code", "field_name")) == [("person.name", "XM")]
    response = client.post(reverse("exchange:system_mapping", args=["zhujian"]),
                           {"element_code": "person.birth_date", "field_name": "CSRQ", "transform": "date"}, follow=True)
    assert "needs a format" in response.content.decode()
    assert FieldMapping.objects.count() == 1


def test_subscriptions_name_catalog_elements_and_real_areas(client, world, housing):
    from yici.exchange.services import SystemConfigError, subscription_save

    with pytest.raises(SystemConfigError, match="Not in the data catalog"):
        subscription_save(system=housing, entity="house", elements=["house.colour"])
    with pytest.raises(SystemConfigError, match="not an area code"):
        subscription_save(system=housing, entity="house", elements=[], area_prefix="999999")
    client.force_login(world.admin)
    client.post(reverse("exchange:system_subscription", args=["zhujian"]),
                {"entity": "house", "elements": "house.structure, house.floors", "area_prefix": world.township.code,
                 "active": "on"})
    sub = Subscription.objects.get()
    assert (sub.entity, sub.elements, sub.area_prefix) == ("house", ["house.floors", "house.structure"], "330726101")


def test_replay_of_one_delivery_and_of_all_dead_letters(client, world, housing):
    first, second = dead_delivery(housing, 1), dead_delivery(housing, 2)
    client.force_login(world.admin)
    client.post(reverse("exchange:delivery_replay", args=["zhujian", first.pk]))
    first.refresh_from_db()
    assert (first.status, first.attempts) == (DeliveryStatus.PENDING, 0)
    client.post(reverse("exchange:system_replay", args=["zhujian"]))
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}
    assert second.pk


def test_the_breaker_can_be_reset_by_hand(client, world, housing):
    LineSystemEndpoint.objects.update(breaker_failures=9, breaker_open_until=timezone.now() + timezone.timedelta(hours=1))
    client.force_login(world.admin)
    assert "breaker-open" in client.get(reverse("exchange:system_list")).content.decode()
    client.post(reverse("exchange:system_breaker_reset", args=["zhujian"]))
    endpoint = LineSystemEndpoint.objects.get()
    assert endpoint.breaker_open_until is None and endpoint.breaker_failures == 0


def test_a_new_system_can_be_added(client, world, catalog):
    client.force_login(world.admin)
    response = client.post(reverse("exchange:system_new"), {"code": "wenlv", "name": "文旅系统",
                                                             "department": "minzheng"})
    assert response.status_code == 302
    assert LineSystem.objects.get(code="wenlv").department == world.department
