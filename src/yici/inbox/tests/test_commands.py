"""`yici inbox-generate-recurring` and `yici inbox-remind`; the SMS extension point."""

import datetime
import logging

import pytest
from django.core.management import CommandError, call_command

from yici.inbox.models import Notification, Recurrence, RecurringTask, Task, TaskSource
from yici.inbox.notify import SmsError, notify
from yici.inbox.services import period_of
from yici.inbox.tests.conftest import in_days, submit
from yici.testing.fixtures import VILLAGE


@pytest.fixture
def weekly(world):
    return RecurringTask.objects.create(
        department=world.department, title="每周安全巡查", basis="《安全生产网格化管理办法》", responsible="应急局",
        effort_minutes=30, area_codes=[VILLAGE], recurrence=Recurrence.WEEKLY, deadline_days=4,
        created_by=world.department_staff)


def test_recurring_tasks_are_generated_once_per_period(world, weekly, capsys):
    monthly = RecurringTask.objects.create(
        department=world.department, title="月度低保动态", basis="依据", responsible="民政", effort_minutes=60,
        area_codes=[VILLAGE], recurrence=Recurrence.MONTHLY, deadline_days=10)
    day = in_days(1)
    call_command("inbox_generate_recurring", "--date", day.isoformat())
    assert "2 recurring tasks sent (2 admitted)" in capsys.readouterr().out
    call_command("inbox_generate_recurring", "--date", day.isoformat())
    assert "0 recurring tasks sent" in capsys.readouterr().out
    assert Task.objects.filter(source=TaskSource.RECURRING).count() == 2
    task = Task.objects.get(recurring=weekly)
    assert task.period == period_of(Recurrence.WEEKLY, day)[0] and task.items.count() == 1
    assert Task.objects.get(recurring=monthly).period == f"{day.year}-{day.month:02d}"
    # The next week brings the weekly task again, not the monthly one (unless the month changed too).
    call_command("inbox_generate_recurring", "--date", (day + datetime.timedelta(days=7)).isoformat())
    assert Task.objects.filter(recurring=weekly).count() == 2


def test_a_recurring_task_without_basis_is_refused_like_any_other(world, weekly):
    RecurringTask.objects.filter(pk=weekly.pk).update(basis="")
    call_command("inbox_generate_recurring")
    task = Task.objects.get()
    assert task.status == "refused" and not task.items.exists()


def test_a_bad_date_is_refused_and_nothing_stored(world, weekly):
    with pytest.raises(CommandError, match="not a date"):
        call_command("inbox_generate_recurring", "--date", "2026-13-40")
    assert not Task.objects.exists()


def test_reminders_are_sent_once_a_day_for_tasks_due_soon(world, capsys):
    due = submit(world, title="明天到期", due_date=in_days(1)).items.get()
    submit(world, title="下周到期", due_date=in_days(8))
    Notification.objects.all().delete()
    call_command("inbox_remind")
    assert "1 reminders sent" in capsys.readouterr().out
    call_command("inbox_remind")
    assert "0 reminders sent" in capsys.readouterr().out
    note = Notification.objects.get()
    assert note.user == world.cadre and note.item == due and "明天到期" in note.text


def test_remind_refuses_a_bad_window(world):
    with pytest.raises(CommandError, match="between"):
        call_command("inbox_remind", "--days", "99")


class FailingSender:
    def send(self, *, phone, text):
        raise SmsError("gateway down")


class RecordingSender:
    sent: list = []

    def send(self, *, phone, text):
        RecordingSender.sent.append((phone, text))


def test_the_sms_sender_is_the_extension_point(world, settings, django_capture_on_commit_callbacks, caplog):
    world.cadre.phone = "13800000000"
    world.cadre.save()
    settings.YICI_INBOX_SMS_SENDER = "yici.inbox.tests.test_commands.RecordingSender"
    with django_capture_on_commit_callbacks(execute=True):
        notify(user=world.cadre, text="明天到期：走访")
    assert RecordingSender.sent == [("13800000000", "明天到期：走访")]
    settings.YICI_INBOX_SMS_SENDER = "yici.inbox.tests.test_commands.FailingSender"
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        notify(user=world.cadre, text="失败也不影响站内提醒")
    assert Notification.objects.count() == 2 and "gateway down" in caplog.text


def test_the_default_sender_only_logs(world, django_capture_on_commit_callbacks, caplog):
    world.cadre.phone = "13800000000"
    world.cadre.save()
    with caplog.at_level(logging.INFO, logger="yici.inbox.sms"), django_capture_on_commit_callbacks(execute=True):
        notify(user=world.cadre, text="提醒")
    assert "not sent" in caplog.text and "13800000000" not in caplog.text


def test_the_background_tasks_call_the_services(world, weekly):
    from yici.inbox.tasks import generate_recurring, send_reminders

    assert generate_recurring.enqueue().return_value == {"created": 1}
    assert generate_recurring.enqueue().return_value == {"created": 0}
    Notification.objects.all().delete()
    Task.objects.update(due_date=in_days(0))
    from yici.inbox.models import VillageTask

    VillageTask.objects.update(due_date=in_days(0))
    assert send_reminders.enqueue().return_value == {"sent": 1}
