"""The line-system task API (signed, idempotent) and the cadre's inbox API."""

import json
import time

import pytest
from django.urls import reverse

from yici.exchange.machine_auth import sign_request
from yici.exchange.models import LineSystem, LineSystemEndpoint
from yici.inbox.models import AdmissionDecision, Task, TaskSource, TaskStatus, VillageTask
from yici.inbox.tests.conftest import in_days, submit
from yici.testing.fixtures import OTHER_VILLAGE, VILLAGE

SECRET = "line-system-secret-for-tests"
PATH = "/api/inbox/tasks"


@pytest.fixture
def system(world):
    system = LineSystem.objects.create(code="mz-jiuzhu", name="民政救助系统", department=world.department)
    LineSystemEndpoint.objects.create(system=system, url="http://127.0.0.1:9/", secret=SECRET)
    return system


def payload(**overrides) -> dict:
    body = {"title": "困难群众救助核查", "basis": "《社会救助暂行办法》", "responsible": "救助科", "effort_minutes": 30,
            "deadline": in_days(5).isoformat(), "areas": [VILLAGE], "kind": "action", "instructions": "核查"}
    body.update(overrides)
    return body


def post(client, body: dict, *, code="mz-jiuzhu", secret=SECRET, key: str | None = None, timestamp=None):
    raw = json.dumps(body, ensure_ascii=False).encode()
    ts = str(int(timestamp if timestamp is not None else time.time()))
    headers = {"HTTP_X_YICI_SYSTEM": code, "HTTP_X_YICI_TIMESTAMP": ts,
               "HTTP_X_YICI_SIGNATURE": sign_request(secret, ts, "POST", PATH, raw)}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(PATH, raw, content_type="application/json", **headers)


def test_a_signed_line_system_sends_a_task_that_reaches_the_village(client, world, system):
    response = post(client, payload(), key="req-1")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "admitted" and data["villages"] == 1
    task = Task.objects.get()
    assert task.source == TaskSource.API and task.line_system == system and task.department == world.department
    assert VillageTask.objects.get().area_code == VILLAGE


def test_a_retry_with_the_same_idempotency_key_is_stored_once(client, world, system):
    first = post(client, payload(), key="req-7")
    again = post(client, payload(), key="req-7", timestamp=time.time() + 1)  # a new signature, same request
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Task.objects.count() == 1 and VillageTask.objects.count() == 1
    by_external_id = [post(client, payload(external_id="ext-9"), timestamp=time.time() + i) for i in range(2)]
    assert [r.status_code for r in by_external_id] == [201, 200]
    assert Task.objects.count() == 2


@pytest.mark.parametrize(("overrides", "rule"), [
    ({"deadline": in_days(-1).isoformat()}, "deadline_past"),
    ({"effort_minutes": 0}, "no_effort"),
    ({"basis": ""}, "no_basis"),
    ({"areas": ["110101001001"]}, "out_of_reach"),
])
def test_bad_input_is_refused_with_the_reason(client, world, system, overrides, rule):
    response = post(client, payload(**overrides))
    assert response.status_code == 422
    data = response.json()
    assert data["status"] == "refused" and rule in [d["rule"] for d in data["decisions"]]
    assert data["reason"]
    assert not VillageTask.objects.exists()


def test_a_forbidden_demand_is_accepted_for_the_burden_office(client, world, system):
    response = post(client, payload(title="每日打卡签到情况", demands=["check_in"]))
    assert response.status_code == 202 and response.json()["status"] == TaskStatus.PENDING_APPROVAL


@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "unknown system", "stale"])
def test_an_unauthenticated_sender_is_refused(client, world, system, how):
    if how == "unsigned":
        response = client.post(PATH, json.dumps(payload()), content_type="application/json")
    elif how == "wrong secret":
        response = post(client, payload(), secret="guess")
    elif how == "unknown system":
        response = post(client, payload(), code="nobody")
    else:
        response = post(client, payload(), timestamp=time.time() - 3600)
    assert response.status_code == 401
    assert not Task.objects.exists() and not AdmissionDecision.objects.exists()


def test_a_replayed_signed_request_is_refused(client, world, system):
    raw = json.dumps(payload()).encode()
    ts = str(int(time.time()))
    headers = {"HTTP_X_YICI_SYSTEM": "mz-jiuzhu", "HTTP_X_YICI_TIMESTAMP": ts,
               "HTTP_X_YICI_SIGNATURE": sign_request(SECRET, ts, "POST", PATH, raw)}
    assert client.post(PATH, raw, content_type="application/json", **headers).status_code == 201
    assert client.post(PATH, raw, content_type="application/json", **headers).status_code == 401


def test_the_department_must_be_the_line_systems(client, world, system):
    from yici.testing.factories import DepartmentFactory

    DepartmentFactory(code="zj", name="住建")
    assert post(client, payload(department="zj")).status_code == 400


def test_the_cadre_reads_the_inbox_through_the_api(client, world):
    soon = submit(world, title="先", due_date=in_days(1))
    submit(world, title="后", due_date=in_days(3))
    submit(world, title="别村", area_codes=[OTHER_VILLAGE], actor=world.admin)
    client.force_login(world.cadre)
    data = client.get("/api/inbox/mine").json()
    assert [i["title"] for i in data["items"]] == ["先", "后"] and data["count"] == 2
    assert data["items"][0]["department"] == "民政"
    item = soon.items.get()
    assert client.get(f"/api/inbox/mine/{item.pk}").json()["title"] == "先"
    client.force_login(world.outsider)
    assert client.get(f"/api/inbox/mine/{item.pk}").status_code == 404
    client.force_login(world.township_staff)
    assert client.get("/api/inbox/mine").status_code == 403
    schema = client.get(reverse("api:openapi-json")).json()
    assert schema["paths"]["/api/inbox/tasks"]["post"]["security"] == [{"LineSystemAuth": []}]
    assert schema["components"]["securitySchemes"]["LineSystemAuth"]["name"] == "X-Yici-Signature"
