"""The line systems' API: signed machine requests, pulls logged with their purpose, inbound changes."""

import json
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.delivery import deliver_due
from yici.exchange.machine_auth import sign_request
from yici.exchange.models import (
    Delivery,
    FieldMapping,
    InboundChange,
    InboundStatus,
    LineSystem,
    LineSystemEndpoint,
    OutboxEvent,
    PullRead,
    Subscription,
    ValueTransform,
)
from yici.registry.golden import provenance_of
from yici.registry.models import Person, SourceKind, SourceRecord
from yici.testing.fixtures import NEIGHBOUR_VILLAGE, OTHER_VILLAGE, VILLAGE

SECRET = "line-secret"


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


def make_line_system(code="weijian", *, area_prefix="330726101", secret=SECRET):
    system = LineSystem.objects.create(code=code, name=f"{code} system")
    LineSystemEndpoint.objects.create(system=system, url="http://127.0.0.1:9/", secret=secret)
    Subscription.objects.create(system=system, entity="person", area_prefix=area_prefix)
    FieldMapping.objects.create(system=system, element_code="person.name", field_name="XM")
    FieldMapping.objects.create(system=system, element_code="person.phone", field_name="LXDH")
    FieldMapping.objects.create(system=system, element_code="person.gender", field_name="XB",
                                transform=ValueTransform.CODE)
    FieldMapping.objects.create(system=system, element_code="person.birth_date", field_name="CSRQ",
                                transform=ValueTransform.DATE, date_format="%Y%m%d")
    return system


class Machine:
    """A line system's HTTP client: signs every request the way the API expects."""

    def __init__(self, code="weijian", secret=SECRET):
        self.client, self.code, self.secret = Client(), code, secret

    def headers(self, method, path, body=b"", **extra):
        timestamp = str(int(time.time()))
        return {"X-Yici-System": self.code, "X-Yici-Timestamp": timestamp,
                "X-Yici-Signature": sign_request(self.secret, timestamp, method, path, body), **extra}

    def get(self, path):
        return self.client.get(path, headers=self.headers("GET", path))

    def post(self, path, data, key="k1"):
        body = json.dumps(data, ensure_ascii=False).encode()
        return self.client.post(path, body, content_type="application/json",
                                headers=self.headers("POST", path, body, **{"Idempotency-Key": key}))


@pytest.fixture
def system(world, catalog):
    return make_line_system()


@pytest.fixture
def person(world, catalog):
    """A golden person made the usual way: from a department's record, reconciled."""
    from django.utils import timezone

    from yici.registry.reconcile import reconcile

    SourceRecord.objects.create(
        kind=SourceKind.IMPORT, entity="person", area_code=VILLAGE, observed_at=timezone.now(),
        values={"person.name": "张三丰", "person.id_number": "330726196005170013", "person.gender": "男",
                "person.birth_date": "1960-05-17", "person.phone": "13812345678"},
    )
    reconcile(entity="person")
    OutboxEvent.objects.update(dispatched_at=timezone.now())  # its creation is old news
    return Person.objects.get()


def test_a_pull_returns_subscribed_fields_in_their_vocabulary_and_is_logged(system, person):
    # The path is signed as it travels: percent-encoded.
    path = f"/api/exchange/records/person/{person.pk}?" + urlencode({"purpose": "低保年审"})
    response = Machine().get(path)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["data"] == {"XM": "张三丰", "LXDH": "13812345678", "XB": "1", "CSRQ": "19600517"}
    assert "330726196005170013" not in response.content.decode()  # not subscribed, not sent
    read = PullRead.objects.get()
    assert (read.system, read.golden_id, read.purpose) == (system, person.pk, "低保年审")


def test_a_pull_without_purpose_or_outside_the_area_is_refused(system, person):
    assert Machine().get(f"/api/exchange/records/person/{person.pk}").status_code == 400
    far = Person.objects.create(name="李四", area_code=OTHER_VILLAGE, version=1)
    assert Machine().get(f"/api/exchange/records/person/{far.pk}?purpose=x").status_code == 404
    assert Machine().get("/api/exchange/records/house/1?purpose=x").status_code == 403  # not subscribed
    assert PullRead.objects.count() == 0


@pytest.mark.parametrize("tamper", ["no-headers", "wrong-secret", "stale", "unknown-system", "replay", "inactive"])
def test_unsigned_stale_replayed_or_foreign_requests_are_refused(system, person, tamper):
    path = f"/api/exchange/records/person/{person.pk}?purpose=check"
    machine = Machine()
    headers = machine.headers("GET", path)
    if tamper == "no-headers":
        headers = {}
    elif tamper == "wrong-secret":
        headers = Machine(secret="guess").headers("GET", path)
    elif tamper == "stale":
        old = str(int(time.time()) - 3600)
        headers.update({"X-Yici-Timestamp": old, "X-Yici-Signature": sign_request(SECRET, old, "GET", path)})
    elif tamper == "unknown-system":
        headers = Machine(code="nobody").headers("GET", path)
    elif tamper == "replay":
        assert machine.client.get(path, headers=headers).status_code == 200
    elif tamper == "inactive":
        LineSystemEndpoint.objects.update(active=False)
    response = machine.client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert PullRead.objects.count() == (1 if tamper == "replay" else 0)


def test_an_inbound_change_enters_the_registry_with_the_system_as_provenance_and_is_shared_on(system, person):
    other = make_line_system("zhujian")
    response = Machine().post("/api/exchange/changes",
                              {"entity": "person", "id": person.pk, "data": {"LXDH": "139 0000 1111", "XB": "1"}})
    assert response.status_code == 201, response.content
    person.refresh_from_db()
    assert person.phone == "13900001111" and person.name == "张三丰"
    record = SourceRecord.objects.get(kind=SourceKind.INBOUND)
    assert record.system == system and record.values == {"person.phone": "13900001111", "person.gender": "男"}
    provenance = provenance_of("person", person)["person.phone"]
    assert "weijian" in json.dumps(provenance, ensure_ascii=False)
    assert OutboxEvent.objects.filter(golden_id=person.pk).last().changed == ["person.phone"]
    deliver_due()  # no endpoints listen; the deliveries exist
    targets = set(Delivery.objects.values_list("system__code", flat=True))
    # Shared onward to the other subscriber; not echoed back to the system that sent it.
    assert targets == {other.code}


def test_the_same_change_sent_twice_is_applied_once(system, person):
    machine = Machine()
    data = {"entity": "person", "id": person.pk, "data": {"LXDH": "13900001111"}}
    first = machine.post("/api/exchange/changes", data, key="retry-1")
    time.sleep(1.05)  # a retry is signed anew; the very same signature would be refused as a replay
    second = machine.post("/api/exchange/changes", data, key="retry-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["replayed"] is True
    assert SourceRecord.objects.filter(kind=SourceKind.INBOUND).count() == 1
    assert InboundChange.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"LXDH": "12345", "XM": "王五"}, "LXDH"),  # one bad value: nothing applied, not even the name
        ({"SFZH": "330726196005170013"}, "SFZH"),  # a field the system has no mapping for
        ({"CSRQ": "2099-13-45"}, "CSRQ"),
    ],
)
def test_an_invalid_change_is_refused_whole_with_reasons(system, person, data, field):
    response = Machine().post("/api/exchange/changes", {"entity": "person", "id": person.pk, "data": data})
    assert response.status_code == 422
    assert field in response.json()["errors"]
    person.refresh_from_db()
    assert person.name == "张三丰" and person.phone == "13812345678"
    assert not SourceRecord.objects.filter(kind=SourceKind.INBOUND).exists()
    assert InboundChange.objects.get().status == InboundStatus.REJECTED


def test_a_new_record_is_linked_like_an_import(system, person):
    response = Machine().post("/api/exchange/changes", {
        "entity": "person", "area_code": NEIGHBOUR_VILLAGE,
        "data": {"XM": "赵六", "XB": "2", "CSRQ": "19800102", "LXDH": "13700002222"},
    })
    assert response.status_code == 201, response.content
    created = Person.objects.get(pk=response.json()["id"])
    assert (created.name, created.gender, str(created.birth_date)) == ("赵六", "女", "1980-01-02")
    assert created.area_code == NEIGHBOUR_VILLAGE


def test_bad_bodies_are_refused(system, person):
    machine = Machine()
    assert machine.post("/api/exchange/changes", {"entity": "person", "data": {"XM": "x"}}).status_code == 422
    assert machine.post("/api/exchange/changes", {"entity": "spaceship", "data": {"XM": "x"}}, key="2").status_code == 400
    assert machine.post("/api/exchange/changes", [1, 2], key="3").status_code == 400
    path = "/api/exchange/changes"
    body = b"{not json"
    response = machine.client.post(path, body, content_type="application/json",
                                   headers=machine.headers("POST", path, body, **{"Idempotency-Key": "4"}))
    assert response.status_code == 400
    body = json.dumps({"entity": "person", "id": person.pk, "data": {"XM": "x"}}).encode()
    response = machine.client.post(path, body, content_type="application/json", headers=machine.headers("POST", path, body))
    assert response.status_code == 400  # no Idempotency-Key
    assert not SourceRecord.objects.filter(kind=SourceKind.INBOUND).exists()
