"""The cadre's inbox, the township's workload, the burden office's admission page and the
department's task pages: roles, scoping (the outsider is refused), actions and query counts."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from yici.inbox import services
from yici.inbox.models import (
    AdmissionDecision,
    Demand,
    ExtensionRequest,
    ExtensionStatus,
    ItemStatus,
    Notification,
    Task,
    TaskStatus,
    VillageTask,
)
from yici.inbox.tests.conftest import form_spec, in_days, submit
from yici.testing.fixtures import VILLAGE


def client_for(client, user):
    """Signed in, pages in English (the tests read English messages)."""
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


# --- the cadre's inbox -----------------------------------------------------------------------------

def test_the_inbox_lists_the_villages_open_tasks_across_departments_by_deadline(client, world):
    from yici.testing.factories import DepartmentFactory

    later = submit(world, title="后到期", due_date=in_days(9))
    sooner = submit(world, title="先到期", due_date=in_days(1), department=DepartmentFactory(code="zj", name="住建"))
    submit(world, title="别村的任务", area_codes=["330726102201"], actor=world.admin)
    body = client_for(client, world.cadre).get(reverse("inbox:inbox")).content.decode()
    assert body.index("先到期") < body.index("后到期")
    assert "住建" in body and "民政" in body
    assert "别村的任务" not in body
    assert f'data-testid="inbox-item-{sooner.items.get().pk}"' in body
    assert f'data-testid="inbox-item-{later.items.get().pk}"' in body


@pytest.mark.parametrize("who", ["township_staff", "department_staff", "burden_office", "auditor"])
def test_only_village_cadres_have_an_inbox(client, world, who):
    assert client_for(client, getattr(world, who)).get(reverse("inbox:inbox")).status_code == 403


def test_the_outsider_cannot_open_another_villages_task(client, world):
    item = submit(world).items.get()
    c = client_for(client, world.outsider)
    assert c.get(reverse("inbox:item_detail", args=[item.pk])).status_code == 404
    assert c.post(reverse("inbox:item_complete", args=[item.pk])).status_code == 404
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN


def test_a_cadre_completes_a_pre_filled_form_typing_only_the_gaps(client, world, people):
    item = submit(world, **form_spec(world)).items.get()
    c = client_for(client, world.cadre)
    page = c.get(reverse("inbox:item_detail", args=[item.pk])).content.decode()
    assert "13812345678" in page  # pre-filled, shown as a value
    wife = next(r["key"] for r in item.prefill["rows"] if r["label"] == "李秀英")
    assert f'data-testid="input-{wife}-person.phone"' in page
    response = c.post(reverse("inbox:item_complete", args=[item.pk]), {
        f"a|{wife}|person.phone": "13600001111", f"a|{wife}|person.living_alone": "是",
        "a|person:999999|person.phone": "ignored", "reported_minutes": "40"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE and item.completed_by == world.cadre and item.reported_minutes == 40
    assert item.answers == {wife: {"person.phone": "13600001111", "person.living_alone": "是"}}


def test_a_cadre_hands_a_task_to_a_village_colleague_but_not_elsewhere(client, world, colleague, neighbour_cadre):
    item = submit(world).items.get()
    c = client_for(client, world.cadre)
    c.post(reverse("inbox:item_hand_over", args=[item.pk]), {"to": neighbour_cadre.pk})
    item.refresh_from_db()
    assert item.assignee == world.cadre
    c.post(reverse("inbox:item_hand_over", args=[item.pk]), {"to": colleague.pk})
    item.refresh_from_db()
    assert item.assignee == colleague
    assert Notification.objects.filter(user=colleague, item=item, text__contains="gave you").exists()


def test_a_cadre_asks_for_more_time_and_the_township_grants_it(client, world):
    item = submit(world, due_date=in_days(2)).items.get()
    c = client_for(client, world.cadre)
    c.post(reverse("inbox:item_more_time", args=[item.pk]), {"new_due_date": in_days(6).isoformat(),
                                                             "reason": "老人外出就医"})
    ext = ExtensionRequest.objects.get()
    assert ext.status == ExtensionStatus.PENDING
    assert Notification.objects.filter(user=world.township_staff, item=item).exists()
    # A cadre cannot grant it; the township can.
    with pytest.raises(services.InboxError):
        services.extension_decide(extension=ext, grant=True, actor=world.cadre)
    t = client_for(client, world.township_staff)
    t.post(reverse("inbox:extension_decide", args=[ext.pk]), {"grant": "1"})
    item.refresh_from_db()
    assert item.due_date == in_days(6)
    assert Notification.objects.filter(user=world.cadre, text__contains="granted").exists()


def test_asking_for_an_earlier_date_is_refused(world):
    item = submit(world, due_date=in_days(4)).items.get()
    with pytest.raises(services.InboxError, match="after"):
        services.extension_request(item=item, new_due_date=in_days(3), reason="x", actor=world.cadre)


def test_the_notification_badge_and_mark_read(client, world):
    submit(world)
    c = client_for(client, world.cadre)
    assert 'data-testid="unread-badge">1<' in c.get(reverse("inbox:inbox")).content.decode()
    c.post(reverse("inbox:notifications"))
    assert 'data-testid="unread-badge"' not in c.get(reverse("inbox:inbox")).content.decode()


# --- workload ------------------------------------------------------------------------------------------

def test_the_workload_shows_hours_clashes_and_the_heat_map_data(client, world):
    day = in_days(3)
    submit(world, title="大任务一", effort_minutes=300, due_date=day)
    submit(world, title="大任务二", effort_minutes=240, due_date=day)
    body = client_for(client, world.township_staff).get(reverse("inbox:workload")).content.decode()
    assert 'data-testid="clash"' in body and day.isoformat() in body
    assert f'["{day.isoformat()}", 9.0]' in body  # json_script heat data: 540 minutes
    assert "heatmap.js" in body


def test_the_outsider_and_cadres_cannot_see_the_workload(client, world):
    assert client_for(client, world.cadre).get(reverse("inbox:workload")).status_code == 403
    item = submit(world).items.get()
    other_township = world.outsider
    assert client_for(client, other_township).get(
        reverse("inbox:workload_village", args=[VILLAGE])).status_code == 403
    assert client_for(client, other_township).post(reverse("inbox:item_extend", args=[item.pk])).status_code == 404


def test_township_staff_reassign_within_the_village_and_extend(client, world, colleague):
    item = submit(world, due_date=in_days(2)).items.get()
    c = client_for(client, world.township_staff)
    page = c.get(reverse("inbox:workload_village", args=[VILLAGE])).content.decode()
    assert f'data-testid="reassign-{item.pk}"' in page
    c.post(reverse("inbox:item_hand_over", args=[item.pk]), {"to": colleague.pk,
                                                            "next": reverse("inbox:workload_village", args=[VILLAGE])})
    c.post(reverse("inbox:item_extend", args=[item.pk]), {"new_due_date": in_days(10).isoformat()})
    item.refresh_from_db()
    assert item.assignee == colleague and item.due_date == in_days(10)
    assert ExtensionRequest.objects.get().status == ExtensionStatus.GRANTED


def test_workload_selector_counts_clashes_per_cadre_and_village(world, colleague):
    day = in_days(2)
    first = submit(world, effort_minutes=400, due_date=day).items.get()
    second = submit(world, effort_minutes=100, due_date=day).items.get()
    assert first.assignee != second.assignee  # balanced: no single cadre clashes
    from yici.inbox.selectors import workload

    data = workload(user=world.township_staff, start=timezone.localdate())
    assert data.clashes == []
    village = next(v for v in data.villages if v.code == VILLAGE)
    assert village.days[day] == 500 and village.count == 2
    services.item_hand_over(item=second, to_user=first.assignee, actor=world.township_staff)
    data = workload(user=world.township_staff, start=timezone.localdate())
    assert [(c[0].user_id, c[1], c[2]) for c in data.clashes] == [(first.assignee_id, day, 500)]


# --- burden office and departments ---------------------------------------------------------------------

def test_the_admission_page_shows_the_queue_metrics_and_monthly_load(client, world, settings):
    settings.INBOX_MONTHLY_THRESHOLD = 1
    flagged = submit(world, demands=[Demand.PHOTO_PROOF])
    submit(world)
    submit(world, title="又一个")
    submit(world, basis="")
    c = client_for(client, world.burden_office)
    body = c.get(reverse("inbox:admission")).content.decode()
    assert f'data-testid="pending-{flagged.pk}"' in body
    assert 'data-testid="metric-received">4<' in body and 'data-testid="metric-refused">1<' in body
    assert "over the threshold" in body
    c.post(reverse("inbox:admission_decide", args=[flagged.pk]), {"approve": "0", "note": "违反减负规定"})
    flagged.refresh_from_db()
    assert flagged.status == TaskStatus.REJECTED
    assert AdmissionDecision.objects.filter(task=flagged, outcome="rejected", decided_by=world.burden_office).exists()


@pytest.mark.parametrize("who", ["cadre", "township_staff", "department_staff", "outsider"])
def test_only_the_burden_office_and_admin_see_admission(client, world, who):
    assert client_for(client, getattr(world, who)).get(reverse("inbox:admission")).status_code == 403


def test_a_department_sends_a_task_from_its_page_and_sees_the_decision(client, world):
    c = client_for(client, world.department_staff)
    response = c.post(reverse("inbox:task_new"), {
        "title": "困难群众走访", "basis": "《社会救助暂行办法》", "responsible": "王科长", "effort_minutes": "45",
        "due_date": in_days(4).isoformat(), "areas": [world.village.pk], "kind": "action", "instructions": "走访",
        "population_filter": "all"})
    task = Task.objects.get()
    assert response.status_code == 302 and task.status == TaskStatus.ADMITTED
    detail = c.get(reverse("inbox:task_detail", args=[task.pk])).content.decode()
    assert 'data-status="admitted"' in detail and "樟树村" in detail
    c.post(reverse("inbox:task_new"), {
        "title": "零工作量", "basis": "依据", "effort_minutes": "0", "due_date": in_days(4).isoformat(),
        "areas": [world.village.pk], "kind": "action", "population_filter": "all"})
    refused = Task.objects.get(title="零工作量")
    assert refused.status == TaskStatus.REFUSED
    assert "more than zero" in c.get(reverse("inbox:task_detail", args=[refused.pk])).content.decode()
    assert c.get(reverse("inbox:task_list")).status_code == 200


def test_a_department_sees_only_its_own_tasks(client, world):
    from yici.testing.factories import DepartmentFactory, UserFactory

    task = submit(world)
    other = UserFactory(username="zed", role="department_staff", area=world.county,
                        department=DepartmentFactory(code="zj", name="住建"))
    assert client_for(client, other).get(reverse("inbox:task_detail", args=[task.pk])).status_code == 404
    assert client_for(client, world.cadre).get(reverse("inbox:task_list")).status_code == 403


# --- query counts (no N+1) -----------------------------------------------------------------------------

def _many(world, n: int, colleague=None):
    from yici.testing.factories import DepartmentFactory

    departments = [world.department] + [DepartmentFactory(code=f"d{i}", name=f"部门{i}") for i in range(4)]
    for i in range(n):
        submit(world, title=f"任务{i}", department=departments[i % 5], due_date=in_days(i % 20),
               effort_minutes=30 + i, area_codes=[world.township.code])


def test_the_inbox_page_query_count_does_not_grow_with_tasks(client, world, colleague, neighbour_cadre,
                                                             django_assert_max_num_queries):
    _many(world, 60)
    c = client_for(client, world.cadre)
    with django_assert_max_num_queries(12):
        response = c.get(reverse("inbox:inbox"))
    assert response.content.decode().count('class="inbox-item') >= 25


def test_the_workload_pages_query_count_does_not_grow_with_tasks(client, world, colleague, neighbour_cadre,
                                                                 django_assert_max_num_queries):
    _many(world, 60)
    c = client_for(client, world.township_staff)
    with django_assert_max_num_queries(12):
        assert c.get(reverse("inbox:workload")).status_code == 200
    with django_assert_max_num_queries(12):
        page = c.get(reverse("inbox:workload_village", args=[VILLAGE]))
    assert page.content.decode().count('data-testid="village-item-') == 60


def test_the_admission_and_task_pages_query_counts(client, world, django_assert_max_num_queries):
    _many(world, 30)
    for i in range(5):
        submit(world, title=f"拍照{i}")
    c = client_for(client, world.burden_office)
    with django_assert_max_num_queries(14):
        assert c.get(reverse("inbox:admission")).status_code == 200
    c = client_for(client, world.department_staff)
    with django_assert_max_num_queries(10):
        assert c.get(reverse("inbox:task_list")).status_code == 200


def test_the_item_page_with_a_large_form_does_few_queries(client, world, people, django_assert_max_num_queries):
    item = submit(world, **form_spec(world, population_filter="all")).items.get()
    c = client_for(client, world.cadre)
    with django_assert_max_num_queries(12):
        assert c.get(reverse("inbox:item_detail", args=[item.pk])).status_code == 200


def test_open_items_of_done_tasks_leave_the_inbox(world):
    item = submit(world).items.get()
    services.item_complete(item=item, actor=world.cadre)
    assert VillageTask.objects.get(pk=item.pk).status == ItemStatus.DONE
    from yici.inbox.selectors import inbox_items

    assert list(inbox_items(user=world.cadre)) == []
    with pytest.raises(services.InboxError):
        services.item_complete(item=item, actor=world.cadre)


def test_a_long_inbox_pages_and_still_counts_every_hour_due(client, world):
    for i in range(35):
        submit(world, title=f"任务{i:02d}", due_date=in_days(0), effort_minutes=60)
    c = client_for(client, world.cadre)
    first = c.get(reverse("inbox:inbox")).content.decode()
    assert first.count('class="inbox-item') == 30 and 'data-testid="inbox-next"' in first
    assert "Due by today: 35.0 h" in first
    second = c.get(reverse("inbox:inbox") + "?page=2").content.decode()
    assert second.count('class="inbox-item') == 5 and 'data-testid="inbox-next"' not in second
    assert c.get(reverse("inbox:inbox") + "?page=x").status_code == 200


def test_township_staff_reassign_but_only_the_villages_cadres_complete_or_ask_for_time(world):
    item = submit(world).items.get()
    with pytest.raises(services.InboxError):
        services.item_complete(item=item, actor=world.township_staff)
    with pytest.raises(services.InboxError):
        services.extension_request(item=item, new_due_date=in_days(9), reason="x", actor=world.township_staff)
    with pytest.raises(services.InboxError):
        services.item_complete(item=item, actor=world.outsider)
    assert VillageTask.objects.get(pk=item.pk).status == ItemStatus.OPEN


def test_the_workload_of_one_village(client, world, neighbour_cadre):
    from yici.testing.fixtures import NEIGHBOUR_VILLAGE

    submit(world, title="樟树村的", effort_minutes=60, due_date=in_days(2))
    submit(world, title="石门村的", effort_minutes=120, due_date=in_days(2), area_codes=[NEIGHBOUR_VILLAGE])
    c = client_for(client, world.township_staff)
    body = c.get(reverse("inbox:workload") + f"?village={NEIGHBOUR_VILLAGE}").content.decode()
    assert f'["{in_days(2).isoformat()}", 2.0]' in body
    assert c.get(reverse("inbox:workload") + "?village=330726102201").status_code == 404
