"""One inbox, end to end (issue #7 "Done when"): a department sends two overlapping requests and a
photo-proof request; the first reaches the cadre pre-filled, the second is answered from it, the
third waits for the burden office; the cadre's inbox and the township's workload show it all."""

import datetime

import pytest
from django.utils import timezone

from tests.browser.conftest import sign_in
from yici.inbox.models import ItemStatus, Task, TaskStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def villagers(world):
    from yici.catalog.services import BUILTIN_CATALOG, catalog_load
    from yici.reports.tests.conftest import person

    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    return {
        "head": person("张大山", datetime.date(1944, 7, 1), seq=11, phone="13812345678", village="樟树村"),
        "wife": person("李秀英", datetime.date(1945, 6, 30), seq=12, gender="女", village="樟树村"),
        "son": person("张小明", datetime.date(1975, 1, 2), seq=13, village="樟树村"),
    }


def send(page, base, *, title, elements="", demand="", effort="60", days=3):
    page.goto(f"{base}/inbox/tasks/new/")
    page.fill("#id_title", title)
    page.fill("#id_basis", "《浙江省老年人权益保障条例》")
    page.fill("#id_responsible", "王科长")
    page.fill("#id_effort_minutes", effort)
    page.fill("#id_due_date", (timezone.localdate() + datetime.timedelta(days=days)).isoformat())
    page.check("[data-testid=task-form] label:has-text('樟树村') input")
    if elements:
        page.select_option("#id_kind", "form")
        page.select_option("#id_entity", "person")
        page.fill("#id_elements", elements)
        page.fill("#id_population_filter", "age>=80")
    if demand:
        page.check(f"[data-testid=task-form] input[value={demand}]")
    page.click("[data-testid=task-submit]")
    page.wait_for_selector("[data-testid=task-status]")
    return Task.objects.get(title=title)


def test_two_overlapping_requests_and_a_photo_request(live_server, world, villagers, browser, phone, artifacts):
    base = live_server.url
    desk_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    desk = desk_context.new_page()
    desk.set_default_timeout(15_000)
    try:
        # 民政 sends three requests from its page.
        sign_in(desk, base, "dora")
        first = send(desk, base, title="高龄老人基本情况核查", elements="person.phone, person.living_alone")
        assert desk.get_attribute("[data-testid=task-status]", "data-status") == "admitted"
        second = send(desk, base, title="高龄独居老人统计", elements="person.living_alone", effort="45", days=5)
        assert "高龄老人基本情况核查" in desk.inner_text("[data-testid=task-duplicate-of]")
        third = send(desk, base, title="值班在岗照片上报", demand="photo_proof", effort="20", days=2)
        assert desk.get_attribute("[data-testid=task-status]", "data-status") == "pending_approval"
        desk.screenshot(path=str(artifacts / "inbox-department-flagged.png"), full_page=True)

        # The township's workload on a phone: the heat map draws, the village's open load is listed.
        township = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                       is_mobile=True, has_touch=True, locale="zh-CN")
        tom = township.new_page()
        tom.set_default_timeout(15_000)
        sign_in(tom, base, "tom")
        tom.goto(f"{base}/inbox/workload/")
        tom.wait_for_selector("[data-testid=heatmap][data-ready='1']")
        assert "樟树村" in tom.inner_text("[data-testid=village-load]")
        assert str(world.cadre) in tom.inner_text("[data-testid=cadre-load]")
        assert tom.evaluate("document.documentElement.scrollWidth") <= 360
        tom.screenshot(path=str(artifacts / "inbox-workload-360.png"), full_page=True)
        township.close()

        # The cadre's phone: one list, the first request only (the second is linked, the third waits).
        sign_in(phone, base, "bob")
        phone.click("nav.mainnav a[href='/inbox/']")
        phone.wait_for_selector("[data-testid=inbox-list]")
        item = first.items.get()
        listing = phone.inner_text("[data-testid=inbox-list]")
        assert "高龄老人基本情况核查" in listing
        assert "高龄独居老人统计" not in listing and "值班在岗照片上报" not in listing
        assert phone.locator("[data-testid=unread-badge]").count() == 1
        tap = phone.locator(f"[data-testid=inbox-open-{item.pk}]").bounding_box()
        assert tap["height"] >= 44
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        phone.screenshot(path=str(artifacts / "inbox-cadre-360.png"), full_page=True)

        # One tap to the pre-filled form: the registry's phone number is there, only the gaps are asked.
        phone.click(f"[data-testid=inbox-open-{item.pk}]")
        phone.wait_for_selector("[data-testid=complete-form]")
        head, wife = (f"person:{villagers[k].pk}" for k in ("head", "wife"))
        assert phone.inner_text(f"[data-testid='value-{head}-person.phone']") == "13812345678"
        assert phone.locator(f"[data-testid='input-{head}-person.phone']").count() == 0
        phone.fill(f"[data-testid='input-{wife}-person.phone']", "13600001111")
        phone.fill(f"[data-testid='input-{wife}-person.living_alone']", "是")
        phone.fill(f"[data-testid='input-{head}-person.living_alone']", "否")
        field = phone.locator(f"[data-testid='input-{wife}-person.phone']").bounding_box()
        assert field["height"] >= 44
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        phone.screenshot(path=str(artifacts / "inbox-form-360.png"), full_page=True)
        phone.fill("#id_reported_minutes", "20")
        phone.click("[data-testid=item-complete]")
        phone.wait_for_selector("[data-testid=inbox-done]")

        # The second request was answered from the first.
        linked = second.items.get()
        linked.refresh_from_db()
        assert linked.status == ItemStatus.ANSWERED
        assert linked.answers[wife] == {"person.living_alone": "是"}
        assert "高龄独居老人统计" in phone.inner_text("[data-testid=inbox-done]")
        phone.screenshot(path=str(artifacts / "inbox-cadre-answered-360.png"), full_page=True)

        # The burden office sees the photo request waiting, with its reason.
        desk_context.clear_cookies()
        sign_in(desk, base, "bella")
        desk.goto(f"{base}/inbox/admission/")
        assert "值班在岗照片上报" in desk.inner_text(f"[data-testid=pending-{third.pk}]")
        assert desk.inner_text("[data-testid=metric-answered]") == "1"
        desk.screenshot(path=str(artifacts / "inbox-burden-office.png"), full_page=True)
        assert Task.objects.get(pk=third.pk).status == TaskStatus.PENDING_APPROVAL

    finally:
        desk_context.close()
