"""The reports hook: sending a collection puts one task per village in the inbox, pointing at the
village's pre-filled instance; the task is done when the report is submitted."""

import pytest
from django.conf import settings

from yici.inbox import services
from yici.inbox.models import ItemStatus, Task, TaskKind, TaskSource
from yici.reports import services as reports
from yici.reports.models import InstanceStatus
from yici.reports.tests.builders import template


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_collection_creates_one_inbox_task_per_village_pointing_at_its_instance(client, world, people):
    report = reports.report_draft(data=template(prefilled=1), filename="重点人员.xlsx", department=world.department,
                                  name="重点人员信息表", legal_basis="《浙江省社会救助条例》第十条",
                                  actor=world.department_staff)
    report = reports.report_register(report=report, actor=world.department_staff)
    collection = reports.collection_send(report=report, areas=[world.village, world.neighbour_village],
                                         actor=world.department_staff)
    task = Task.objects.get()
    assert task.source == TaskSource.COLLECTION and task.kind == TaskKind.REPORT and task.collection == collection
    assert task.basis == "《浙江省社会救助条例》第十条" and task.effort_minutes >= 10
    items = {i.area_code: i for i in task.items.select_related("instance")}
    instance = collection.instances.get(area=world.village)
    assert items[world.village.code].instance == instance
    assert items[world.village.code].assignee == world.cadre

    client.force_login(world.cadre)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/inbox/").content.decode()
    assert f"/reports/mine/{instance.pk}/" in page  # the pre-filled report one tap away

    item = items[world.village.code]
    with pytest.raises(services.InboxError, match="Submit the report first"):
        services.item_complete(item=item, actor=world.cadre)
    reports.instance_save(instance=instance, entries={}, actor=world.cadre, submit=True)
    assert instance.__class__.objects.get(pk=instance.pk).status == InstanceStatus.SUBMITTED
    services.item_complete(item=item, actor=world.cadre)
    item.refresh_from_db()
    assert item.status == ItemStatus.DONE
