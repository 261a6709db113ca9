"""Background work of the inbox. A task only calls a service; both are idempotent, so a scheduler
(cron or the worker) may enqueue them daily or more often."""

from django.tasks import task


@task
def generate_recurring() -> dict:
    """Send the recurring tasks of the present week or month (once per period)."""
    from yici.inbox.services import recurring_generate

    return {"created": len(recurring_generate())}


@task
def send_reminders(days_ahead: int = 1) -> dict:
    """Remind cadres of open tasks due within ``days_ahead`` days or overdue (once per task and day)."""
    from yici.inbox.services import items_remind

    return {"sent": items_remind(days_ahead=days_ahead)}
