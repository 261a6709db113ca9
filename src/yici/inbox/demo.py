"""The inbox part of the demo county (``yici demo``).

民政 sends two overlapping requests about the residents aged 80 and over in 岩头镇 and a request
demanding photos as proof: the first reaches the village cadres pre-filled from the registry, the
second is linked to it (answered from its results when the cadre completes it), the third waits
for the burden-reduction office. A few plain tasks from other departments and one weekly task give
the workload view something to show. Demo tasks carry the key prefix ``demo-inbox:`` and are
replaced when the demo is loaded again.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from yici.accounts.models import Department, User
from yici.inbox.models import Demand, Recurrence, RecurringTask, Task, TaskKind
from yici.inbox.services import TaskSpec, recurring_generate, task_submit

DEMO_KEY = "demo-inbox:"
TOWNSHIP = "330726101000"
RECURRING_TITLE = "安全生产网格巡查记录"
ELDERLY = "age>=80"


def _department(code: str, name: str) -> Department:
    return Department.objects.filter(code=code).first() or Department.objects.get_or_create(code=code,
                                                                                              defaults={"name": name})[0]


@transaction.atomic
def load_demo_inbox(*, township: str = TOWNSHIP, sender_username: str = "minzheng") -> dict:
    """Create the demo scenario; returns the tasks by role in the story."""
    Task.objects.filter(idempotency_key__startswith=DEMO_KEY).delete()
    RecurringTask.objects.filter(title=RECURRING_TITLE).delete()
    today = timezone.localdate()
    sender = User.objects.filter(username=sender_username).first()
    minzheng = _department("minzheng", "民政")

    def send(key: str, spec: TaskSpec) -> Task:
        task, _created = task_submit(spec=spec, actor=sender, idempotency_key=DEMO_KEY + key)
        return task

    first = send("elderly-check", TaskSpec(
        department=minzheng, title="80周岁以上老人基本情况核查", basis="《浙江省老年人权益保障条例》第二十条",
        responsible="民政局 养老服务科 王科长", effort_minutes=60, due_date=today + timedelta(days=3),
        area_codes=[township], kind=TaskKind.FORM, entity="person", population_filter=ELDERLY,
        elements=["person.phone", "person.living_alone", "person.current_address"],
        instructions="请核对本村80周岁以上老人的联系电话、现住址和是否独居，只需补齐空缺项。",
    ))
    second = send("elderly-alone", TaskSpec(
        department=minzheng, title="高龄独居老人摸排统计", basis="《关于加强独居老人关爱服务的通知》",
        responsible="民政局 社会救助科 李科长", effort_minutes=45, due_date=today + timedelta(days=5),
        area_codes=[township], kind=TaskKind.FORM, entity="person", population_filter=ELDERLY,
        elements=["person.living_alone", "person.phone"],
        instructions="统计本村高龄老人中独居的人员及联系电话。",
    ))
    third = send("flood-photo", TaskSpec(
        department=_department("yingji", "应急管理"), title="防汛值班在岗情况拍照上报",
        basis="《防汛防台应急预案》", responsible="应急管理局 值班室", effort_minutes=20,
        due_date=today + timedelta(days=2), area_codes=[township], kind=TaskKind.ACTION,
        instructions="每日上午、下午各拍一张值班人员在岗照片上传工作群。", demands=[Demand.PHOTO_PROOF],
    ))
    plain = [
        send("health-visit", TaskSpec(
            department=_department("weijian", "卫健"), title="家庭医生签约随访提醒", basis="《家庭医生签约服务规范》",
            responsible="卫健局 基层卫生科", effort_minutes=90, due_date=today + timedelta(days=3),
            area_codes=[township], kind=TaskKind.ACTION, instructions="通知本村未随访的签约对象到卫生院随访。")),
        send("house-check", TaskSpec(
            department=_department("zhujian", "住建"), title="农村危房排查整改进度更新", basis="《农村房屋安全隐患排查整治工作方案》",
            responsible="住建局 村镇科", effort_minutes=240, due_date=today + timedelta(days=3),
            area_codes=[township], kind=TaskKind.ACTION, instructions="更新本村C级、D级危房的整改进度。")),
        send("veteran-visit", TaskSpec(
            department=_department("tuiyijunren", "退役军人事务"), title="重点优抚对象节前走访", basis="《军人抚恤优待条例》",
            responsible="退役军人事务局 优抚科", effort_minutes=120, due_date=today + timedelta(days=9),
            area_codes=[township], kind=TaskKind.ACTION, instructions="节前走访本村重点优抚对象并记录需求。")),
    ]
    rule = RecurringTask.objects.create(
        department=_department("yingji", "应急管理"), title=RECURRING_TITLE, basis="《安全生产网格化管理办法》",
        responsible="应急管理局 基础科", effort_minutes=30, kind=TaskKind.ACTION, area_codes=[township],
        recurrence=Recurrence.WEEKLY, deadline_days=4, created_by=sender,
        instructions="每周完成一次网格安全巡查并记录发现的问题。",
    )
    recurring = recurring_generate(today=today)
    for task in recurring:
        if task.recurring_id == rule.pk:
            Task.objects.filter(pk=task.pk).update(idempotency_key=DEMO_KEY + "recurring")
    return {"first": first, "second": second, "third": third, "plain": plain, "recurring": recurring}
