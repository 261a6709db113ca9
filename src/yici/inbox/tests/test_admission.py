"""Admission control (issue #7, item 2 and "Bad input"): every decision recorded with its reason."""

import pytest

from yici.accounts.roles import Role
from yici.burden.models import BurdenCount, BurdenMetric
from yici.inbox import services
from yici.inbox.models import AdmissionDecision, Demand, ItemStatus, Notification, TaskStatus, VillageTask
from yici.inbox.tests.conftest import form_spec, in_days, submit
from yici.testing.factories import UserFactory
from yici.testing.fixtures import NEIGHBOUR_VILLAGE, OTHER_VILLAGE, TOWNSHIP, VILLAGE


def counted(metric) -> int:
    return sum(BurdenCount.objects.filter(metric=metric).values_list("count", flat=True))


def rules(task) -> list[str]:
    return list(task.decisions.values_list("rule", flat=True))


@pytest.mark.parametrize(("overrides", "rule", "words"), [
    ({"basis": ""}, "no_basis", "policy basis"),
    ({"effort_minutes": None}, "no_effort", "estimate"),
    ({"effort_minutes": 0}, "no_effort", "more than zero"),
    ({"due_date": in_days(-1)}, "deadline_past", "in the past"),
    ({"area_codes": []}, "no_area", "no area"),
    ({"area_codes": ["999999999999"]}, "out_of_reach", "999999999999"),
])
def test_it_refuses_bad_input_with_the_reason_and_records_it(world, overrides, rule, words):
    task = submit(world, **overrides)
    assert task.status == TaskStatus.REFUSED
    assert rule in rules(task)
    assert words in task.reason
    assert not VillageTask.objects.exists()
    assert counted(BurdenMetric.REQUESTS_REFUSED) == 1
    assert counted(BurdenMetric.REQUESTS_RECEIVED) == 1


def test_it_refuses_an_area_outside_the_senders_reach(world):
    township_sender = UserFactory(username="tina", role=Role.DEPARTMENT_STAFF, area=world.township,
                                  department=world.department)
    task = submit(world, actor=township_sender, area_codes=[OTHER_VILLAGE])
    assert task.status == TaskStatus.REFUSED and rules(task) == ["out_of_reach"]
    assert "前陈村" in task.reason


def test_it_records_every_failing_rule_not_only_the_first(world):
    task = submit(world, basis="", effort_minutes=0, due_date=in_days(-3))
    assert set(rules(task)) == {"no_basis", "no_effort", "deadline_past"}


def test_an_admitted_task_reaches_every_village_of_a_township_assigned_to_the_least_loaded_cadre(
        world, colleague, neighbour_cadre):
    busy = submit(world, title="先来的任务", effort_minutes=120)
    assert busy.items.get().assignee == world.cadre  # equal load: the lower id
    task = submit(world, area_codes=[TOWNSHIP])
    assert task.status == TaskStatus.ADMITTED
    assert rules(task) == ["admitted"]
    items = {i.area_code: i for i in task.items.all()}
    assert set(items) == {VILLAGE, NEIGHBOUR_VILLAGE}
    assert items[VILLAGE].assignee == colleague  # bob already has 120 minutes
    assert items[NEIGHBOUR_VILLAGE].assignee == neighbour_cadre
    assert items[VILLAGE].effort_minutes == 30 and items[VILLAGE].due_date == task.due_date
    assert Notification.objects.filter(user=colleague, item=items[VILLAGE]).exists()
    assert counted(BurdenMetric.MINUTES_ESTIMATED) == 120 + 30 + 30


@pytest.mark.parametrize(("overrides", "demand"), [
    ({"demands": [Demand.PHOTO_PROOF]}, Demand.PHOTO_PROOF),
    ({"instructions": "请每日在工作群接龙报平安"}, Demand.CHECK_IN),
    ({"title": "政务APP在线时长统计"}, Demand.ONLINE_TIME),
    ({"instructions": "动员村民为本村视频点赞，按点赞数排名"}, Demand.RANKING),
    ({"title": "值班在岗情况拍照上报"}, Demand.PHOTO_PROOF),
])
def test_a_forbidden_demand_waits_for_the_burden_office(world, overrides, demand):
    task = submit(world, **overrides)
    assert task.status == TaskStatus.PENDING_APPROVAL
    assert demand in task.demands
    assert rules(task) == ["forbidden_demand"]
    assert not task.items.exists()


def test_the_burden_office_approves_or_rejects_a_flagged_task(world):
    approved = submit(world, demands=[Demand.PHOTO_PROOF])
    services.task_approve(task=approved, actor=world.burden_office, approve=True, note="汛期特殊情况，限本周")
    approved.refresh_from_db()
    assert approved.status == TaskStatus.ADMITTED and approved.items.count() == 1
    decision = approved.decisions.last()
    assert decision.outcome == "approved" and decision.decided_by == world.burden_office
    rejected = submit(world, title="拍照打卡")
    with pytest.raises(services.InboxError, match="why"):
        services.task_approve(task=rejected, actor=world.burden_office, approve=False)
    services.task_approve(task=rejected, actor=world.burden_office, approve=False, note="以照片留痕违反减负规定")
    rejected.refresh_from_db()
    assert rejected.status == TaskStatus.REJECTED and not rejected.items.exists()
    with pytest.raises(services.InboxError):
        services.task_approve(task=rejected, actor=world.burden_office, approve=True)


def test_only_the_burden_office_decides(world):
    task = submit(world, demands=[Demand.RANKING])
    with pytest.raises(services.InboxError):
        services.task_approve(task=task, actor=world.township_staff, approve=True)


def test_a_form_asking_only_what_the_registry_holds_is_refused_with_a_pointer(world, people):
    task = submit(world, **form_spec(world, elements=["person.name", "person.gender"]))
    assert task.status == TaskStatus.REFUSED and rules(task) == ["registry_holds"]
    assert "report catalog" in task.reason
    assert not task.items.exists()


def test_a_form_reaches_the_village_pre_filled_from_the_registry(world, people):
    task = submit(world, **form_spec(world))
    assert task.status == TaskStatus.ADMITTED
    item = task.items.get()
    rows = {r["label"]: r["values"] for r in item.prefill["rows"]}
    # age>=80 on today's date: the head (1944) and his wife (1945), not the son.
    assert set(rows) == {"张大山", "李秀英"}
    assert rows["张大山"]["person.phone"] == "13812345678"
    assert rows["李秀英"]["person.phone"] == ""


@pytest.mark.parametrize(("overrides", "words"), [
    ({"elements": ["person.nonsense"]}, "not an element"),
    ({"entity": "cat"}, "which records"),
    ({"population_filter": "age>>80"}, ""),
    ({"elements": []}, "name the data elements"),
])
def test_it_refuses_a_form_it_cannot_read(world, people, overrides, words):
    task = submit(world, **form_spec(world, **overrides))
    assert task.status == TaskStatus.REFUSED and rules(task) == ["bad_form"]
    assert words in task.reason


def test_a_retrying_line_system_is_stored_once(world):
    from yici.exchange.models import LineSystem

    system = LineSystem.objects.create(code="mz-sys", name="民政系统", department=world.department)
    spec = services.TaskSpec(department=world.department, title="走访", basis="依据", effort_minutes=10,
                             due_date=in_days(2), area_codes=[VILLAGE])
    first, created = services.task_submit(spec=spec, line_system=system, idempotency_key="req-1", source="api")
    again, created_again = services.task_submit(spec=spec, line_system=system, idempotency_key="req-1", source="api")
    assert created and not created_again and first.pk == again.pk
    assert VillageTask.objects.count() == 1
    assert AdmissionDecision.objects.count() == 1
    assert first.items.get().status == ItemStatus.OPEN
