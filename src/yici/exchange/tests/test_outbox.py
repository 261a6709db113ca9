"""Share once: events written with the change, fanned out per subscribing system in its vocabulary."""

import contextlib
import datetime
import threading

import pytest
from django.db import transaction
from django.utils import timezone

from yici.catalog.models import CodeListValue, DataElement
from yici.exchange.models import (
    Delivery,
    FieldMapping,
    LineSystem,
    LineSystemEndpoint,
    OutboxEvent,
    Subscription,
)
from yici.exchange.outbox import (
    CREATED,
    changed_codes,
    changed_elements,
    dispatch_events,
    outbox_record_changes,
)
from yici.exchange.simulator import make_server
from yici.registry.models import Person, Place, SourceRecord
from yici.registry.reconcile import reconcile

VILLAGE = "330726101201"
SECRET = "s3cret"


def make_system(code, *, url="http://127.0.0.1:9/", area_prefix="", elements=(), entity="person", **endpoint):
    system = LineSystem.objects.create(code=code, name=code)
    LineSystemEndpoint.objects.create(system=system, url=url, secret=SECRET, **endpoint)
    Subscription.objects.create(system=system, entity=entity, elements=list(elements), area_prefix=area_prefix)
    return system


def make_person(**fields):
    defaults = dict(name="张三丰", id_number="330726196005170013", gender="男", birth_date=datetime.date(1960, 5, 17),
                    phone="13812345678", area_code=VILLAGE, version=1)
    return Person.objects.create(**{**defaults, **fields})


def change(person, *codes):
    """Bump a golden record's version and record the change, as reconciliation does."""
    person.version += 1
    person.save()
    outbox_record_changes(entity="person", changes=[(person.pk, person.version, codes)])


@pytest.fixture
def gender_codes(db):
    element = DataElement.objects.create(code="person.gender", name_zh="性别", entity="person", type="code")
    CodeListValue.objects.create(element=element, code="1", label="男")
    CodeListValue.objects.create(element=element, code="2", label="女", aliases=["female"])


@contextlib.contextmanager
def running_simulator(tmp_path, **options):
    """A simulated line system on 127.0.0.1, port chosen by the OS, serving in a thread."""
    server = make_server(name="sim", port=0, secret=SECRET, store_path=tmp_path / "sim.sqlite3", **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/changes"
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.store.close()
        thread.join(timeout=5)


def test_changed_elements_sees_added_removed_and_changed_values():
    assert changed_elements({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == {"b", "c"}
    assert changed_elements({"a": "1"}, {}) == {"a"}
    assert changed_elements({"a": "1"}, {"a": "1"}) == set()


def test_unchanged_records_write_no_event(db):
    assert outbox_record_changes(entity="person", changes=[(1, 2, set()), (2, 2, {"person.phone"})]) == 1
    assert list(OutboxEvent.objects.values_list("golden_id", "version", "changed")) == [(2, 2, ["person.phone"])]


def place_record(system, **values):
    return SourceRecord.objects.create(kind="import", system=system, entity="place", values=values,
                                       area_code=VILLAGE, observed_at=timezone.now())


def test_reconcile_writes_events_in_its_transaction_and_a_rollback_takes_them_away(db):
    source = LineSystem.objects.create(code="shichang", name="市场")
    place_record(source, **{"place.code": "P1", "place.name": "小卖部"})
    with pytest.raises(RuntimeError), transaction.atomic():
        reconcile(entity="place")
        assert OutboxEvent.objects.count() == 1 and Place.objects.count() == 1
        raise RuntimeError("roll back")
    assert OutboxEvent.objects.count() == 0 and Place.objects.count() == 0

    reconcile(entity="place")
    place = Place.objects.get()
    event = OutboxEvent.objects.get()
    assert (event.entity, event.golden_id, event.version) == ("place", place.pk, place.version)
    assert event.changed == [CREATED]  # every element it holds

    # A second source adding one element: the event names only that element.
    place_record(source, **{"place.code": "P1", "place.name": "小卖部", "place.manager_name": "李四"})
    reconcile(entity="place")
    latest = OutboxEvent.objects.order_by("-id").first()
    assert latest.changed == ["place.manager_name"] and latest.version == place.version + 1


def test_a_new_records_event_changes_every_element_it_holds(db):
    assert changed_codes([CREATED], {"place.code": "P1", "place.name": "小卖部"}) == {"place.code", "place.name"}
    assert changed_codes(["place.name"], {"place.code": "P1", "place.name": "小卖部"}) == {"place.name"}
    managers = make_system("managers", entity="place", elements=["place.manager_name"])
    FieldMapping.objects.create(system=managers, element_code="place.manager_name", field_name="fzr")
    shops = make_system("shops", entity="place", elements=["place.name", "place.manager_name"])
    FieldMapping.objects.create(system=shops, element_code="place.name", field_name="mc")
    FieldMapping.objects.create(system=shops, element_code="place.manager_name", field_name="fzr")
    place_record(LineSystem.objects.create(code="shichang", name="市场"), **{"place.code": "P1", "place.name": "小卖部"})
    reconcile(entity="place")
    assert dispatch_events() == 1  # the managers' system: nothing it takes is there yet
    delivery = Delivery.objects.select_related("system").get()
    assert delivery.system.code == "shops" and delivery.payload["changed"] == ["mc"]
    assert delivery.payload["data"] == {"mc": "小卖部", "fzr": ""}


def test_each_subscribing_system_gets_only_its_mapped_fields_in_its_vocabulary(db, gender_codes):
    minzheng = make_system("minzheng", elements=["person.name", "person.gender", "person.birth_date"])
    FieldMapping.objects.create(system=minzheng, element_code="person.name", field_name="xm")
    FieldMapping.objects.create(system=minzheng, element_code="person.gender", field_name="xb", transform="code")
    FieldMapping.objects.create(system=minzheng, element_code="person.birth_date", field_name="csrq",
                                transform="date", date_format="%Y%m%d")
    FieldMapping.objects.create(system=minzheng, element_code="person.phone", field_name="lxdh")  # not subscribed
    weijian = make_system("weijian")  # every mapped element
    FieldMapping.objects.create(system=weijian, element_code="person.phone", field_name="phone")
    make_system("elsewhere", area_prefix="330727")  # another county
    FieldMapping.objects.create(system=LineSystem.objects.get(code="elsewhere"), element_code="person.name",
                                field_name="name")
    make_system("houses", entity="house")  # another entity

    person = make_person()
    change(person, "person.name", "person.gender", "person.birth_date", "person.phone")
    assert dispatch_events() == 2
    deliveries = {d.system.code: d for d in Delivery.objects.select_related("system")}
    assert set(deliveries) == {"minzheng", "weijian"}
    payload = deliveries["minzheng"].payload
    assert payload["data"] == {"xm": "张三丰", "xb": "1", "csrq": "19600517"}
    assert payload["changed"] == ["csrq", "xb", "xm"]
    assert (payload["entity"], payload["id"], payload["version"]) == ("person", person.pk, 2)
    assert deliveries["weijian"].payload["data"] == {"phone": "13812345678"}
    assert OutboxEvent.objects.get().dispatched_at is not None
    assert dispatch_events() == 0  # dispatched once

    # A change the system did not subscribe to makes no delivery for it.
    change(person, "person.phone")
    assert dispatch_events() == 1
    assert Delivery.objects.filter(system__code="minzheng").count() == 1


def test_waiting_deliveries_coalesce_to_the_latest_version(db):
    system = make_system("minzheng")
    FieldMapping.objects.create(system=system, element_code="person.name", field_name="xm")
    FieldMapping.objects.create(system=system, element_code="person.phone", field_name="dh")
    person = make_person()
    change(person, "person.name")
    dispatch_events()
    first = Delivery.objects.get()
    person.phone = "13900000000"
    change(person, "person.phone")
    dispatch_events()
    delivery = Delivery.objects.get()
    assert delivery.version == 3 and delivery.payload["data"]["dh"] == "13900000000"
    assert delivery.payload["changed"] == ["dh", "xm"]
    assert delivery.idempotency_key != first.idempotency_key  # new content, new key


def test_an_address_can_be_split_over_several_of_a_systems_fields(db):
    from yici.exchange.outbox import split_address

    assert split_address("浙江省金华市浦江县岩头镇樟树村3组12号") == {
        "province": "浙江省", "city": "金华市", "county": "浦江县", "township": "岩头镇", "village": "樟树村",
        "rest": "3组12号"}
    assert split_address("浦江县岩头镇樟树村")["township"] == "岩头镇"
    system = make_system("zhujian")
    for field, part in (("XZ", "township"), ("CUN", "village"), ("MP", "rest")):
        FieldMapping.objects.create(system=system, element_code="person.current_address", field_name=field,
                                    transform="address_part", part=part)
    person = make_person(attributes={"person.current_address": "浙江省金华市浦江县岩头镇樟树村3组12号"})
    change(person, "person.current_address")
    dispatch_events()
    payload = Delivery.objects.get().payload
    assert payload["data"] == {"XZ": "岩头镇", "CUN": "樟树村", "MP": "3组12号"}
    assert payload["changed"] == ["CUN", "MP", "XZ"]


def test_a_system_subscribed_to_two_entities_gets_each_entitys_own_fields(db):
    system = make_system("wenlv", entity="place")
    Subscription.objects.create(system=system, entity="person")
    FieldMapping.objects.create(system=system, element_code="place.name", field_name="cdmc")
    FieldMapping.objects.create(system=system, element_code="person.name", field_name="xm")
    place = Place.objects.create(name="樟树村文化礼堂", area_code=VILLAGE, version=2)
    outbox_record_changes(entity="place", changes=[(place.pk, 2, ["place.name"])])
    change(make_person(), "person.name")
    dispatch_events()
    payloads = {d.entity: d.payload["data"] for d in Delivery.objects.all()}
    assert payloads == {"place": {"cdmc": "樟树村文化礼堂"}, "person": {"xm": "张三丰"}}
