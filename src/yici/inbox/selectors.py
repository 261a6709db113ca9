"""Reads of the inbox, scoped by the requesting user.

Village cadres see their village's tasks (assigned to them or to nobody); township staff and the
county admin see the workload of the villages in their area; departments see their own tasks;
the burden-reduction office sees admission decisions and counts, never residents' values. A user
whose role may not use a page gets 403; an item outside the user's scope is 404.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.http import Http404
from django.utils.translation import gettext as _

from yici.accounts.models import Area, AreaLevel, User
from yici.accounts.roles import Role
from yici.accounts.selectors import area_subtree_q
from yici.burden.models import BurdenMetric
from yici.burden.selectors import burden_totals
from yici.inbox.models import (
    AdmissionDecision,
    ExtensionRequest,
    ExtensionStatus,
    ItemStatus,
    Notification,
    Task,
    TaskStatus,
    VillageTask,
)

INBOX_ROLES = frozenset({Role.VILLAGE_CADRE})
WORKLOAD_ROLES = frozenset({Role.TOWNSHIP_STAFF, Role.COUNTY_ADMIN})
ADMISSION_ROLES = frozenset({Role.BURDEN_OFFICE, Role.COUNTY_ADMIN})
SENDER_ROLES = frozenset({Role.DEPARTMENT_STAFF, Role.COUNTY_ADMIN})
DEFAULT_WORKDAY_MINUTES = 8 * 60
DEFAULT_MONTHLY_THRESHOLD = 15


def workday_minutes() -> int:
    return getattr(settings, "INBOX_WORKDAY_MINUTES", DEFAULT_WORKDAY_MINUTES)


def monthly_threshold() -> int:
    return getattr(settings, "INBOX_MONTHLY_THRESHOLD", DEFAULT_MONTHLY_THRESHOLD)


def _role(user, roles) -> None:
    if not getattr(user, "is_authenticated", False) or user.area_id is None or user.role not in roles:
        raise PermissionDenied


def can_send(user) -> bool:
    return (getattr(user, "is_authenticated", False) and user.area_id is not None
            and (user.role == Role.COUNTY_ADMIN or (user.role == Role.DEPARTMENT_STAFF and user.department_id)))


# --- the cadre's inbox ---------------------------------------------------------------------------

def can_use_inbox(user) -> bool:
    return getattr(user, "is_authenticated", False) and user.area_id is not None and user.role in INBOX_ROLES


def _village_code(user) -> str:
    return user.area.code[:12]


def inbox_items(*, user):
    """The cadre's open tasks across all departments, earliest deadline first: those assigned to
    the cadre and those of the village assigned to nobody."""
    _role(user, INBOX_ROLES)
    return (VillageTask.objects
            .filter(Q(assignee=user) | Q(assignee__isnull=True, area_code=_village_code(user)),
                    status=ItemStatus.OPEN)
            .select_related("task__department", "instance")
            .only("id", "due_date", "effort_minutes", "status", "area_code", "assignee_id", "instance_id",
                  "instance__status", "task__id", "task__title", "task__kind", "task__department__name",
                  "task__responsible")
            .order_by("due_date", "id"))


def inbox_minutes_due(*, user, today: datetime.date, week_end: datetime.date) -> tuple[int, int]:
    """Minutes of the cadre's open tasks due by today and before ``week_end``."""
    totals = inbox_items(user=user).order_by().aggregate(
        today=Sum("effort_minutes", filter=Q(due_date__lte=today)),
        week=Sum("effort_minutes", filter=Q(due_date__lt=week_end)))
    return totals["today"] or 0, totals["week"] or 0


def inbox_recent_done(*, user, limit: int = 10):
    _role(user, INBOX_ROLES)
    return (VillageTask.objects.filter(area_code=_village_code(user), completed_at__isnull=False)
            .select_related("task__department").only("id", "status", "task__title", "task__department__name")
            .order_by("-completed_at", "-id")[:limit])


def item_for_user(*, user, pk: int) -> VillageTask:
    """A cadre's item of their village, or one in the area of township staff / the county admin."""
    if not getattr(user, "is_authenticated", False) or user.area_id is None:
        raise PermissionDenied
    if user.role not in INBOX_ROLES | WORKLOAD_ROLES:
        raise PermissionDenied
    qs = VillageTask.objects.select_related("task__department", "instance", "assignee", "answered_from__task")
    if user.role == Role.VILLAGE_CADRE:
        qs = qs.filter(area_code=_village_code(user))
    else:
        qs = qs.filter(area_subtree_q("area_code", user.area_prefix))
    item = qs.filter(pk=pk).first()
    if item is None:
        raise Http404
    return item


def village_team(*, area_code: str):
    """The active cadres of a village (and its groups)."""
    return (User.objects.filter(area_subtree_q("area__code", area_code[:12]), role=Role.VILLAGE_CADRE,
                                is_active=True).order_by("display_name", "username"))


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_list(*, user, limit: int = 50):
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")[:limit]


# --- workload ------------------------------------------------------------------------------------

@dataclass
class Load:
    """Minutes due per day for one cadre (or a village's unassigned tasks)."""

    label: str
    village: str
    user_id: int | None = None
    code: str = ""
    days: dict[datetime.date, int] = field(default_factory=dict)
    overdue: int = 0
    count: int = 0

    @property
    def total(self) -> int:
        return sum(self.days.values()) + self.overdue

    def week_hours(self, weeks: list[datetime.date]) -> list[float]:
        out = []
        for start in weeks:
            end = start + datetime.timedelta(days=7)
            out.append(round(sum(m for d, m in self.days.items() if start <= d < end) / 60, 1))
        return out


@dataclass
class Workload:
    start: datetime.date
    days: list[datetime.date]
    weeks: list[datetime.date]
    cadres: list[Load]
    villages: list[Load]
    clashes: list[tuple[Load, datetime.date, int]]  # (whose, day, minutes) above a working day
    heat: list[list]  # [["2026-11-27", hours], ...] for the ECharts calendar
    pending_extensions: list[ExtensionRequest]
    workday_minutes: int


def workload(*, user, start: datetime.date, days: int = 28, village: str = "") -> Workload:
    """Hours due per day and week per cadre and per village of the user's area, from the effort
    estimates of open tasks; a clash is a day on which one cadre (or a village's unassigned tasks)
    has more than a working day's load due."""
    _role(user, WORKLOAD_ROLES)
    prefix = village if village and village.startswith(user.area_prefix) else user.area_prefix
    end = start + datetime.timedelta(days=days)
    open_items = VillageTask.objects.filter(area_subtree_q("area_code", prefix), status=ItemStatus.OPEN,
                                            due_date__lt=end)
    rows = open_items.values("area_code", "assignee_id", "due_date").annotate(minutes=Sum("effort_minutes"),
                                                                            n=Count("id"))
    names = dict(Area.objects.filter(area_subtree_q("code", prefix), level=AreaLevel.VILLAGE)
                 .values_list("code", "name"))
    team = {u.pk: u for u in User.objects.filter(area_subtree_q("area__code", prefix), role=Role.VILLAGE_CADRE,
                                                  is_active=True).select_related("area")}
    cadres: dict[int | str, Load] = {pk: Load(str(u), names.get(u.area.code[:12], u.area.code[:12]), pk)
                                     for pk, u in team.items()}
    villages: dict[str, Load] = {}
    heat: dict[datetime.date, int] = defaultdict(int)
    for row in rows:
        code, who, day, minutes = row["area_code"], row["assignee_id"], row["due_date"], row["minutes"] or 0
        vname = names.get(code, code)
        vload = villages.setdefault(code, Load(vname, vname, code=code))
        key = who if who in cadres else f"unassigned:{code}"
        if key not in cadres:
            cadres[key] = Load(str(team[who]) if who in team else (_("unassigned") if who is None else "—"), vname, who)
        for load in (vload, cadres[key]):
            load.count += row["n"]
            if day < start:
                load.overdue += minutes
            else:
                load.days[day] = load.days.get(day, 0) + minutes
        if day >= start:
            heat[day] += minutes
    limit = workday_minutes()
    clashes = sorted(((load, day, m) for load in cadres.values() for day, m in load.days.items() if m > limit),
                     key=lambda c: (c[1], -c[2]))
    day_list = [start + datetime.timedelta(days=i) for i in range(days)]
    monday = start - datetime.timedelta(days=start.weekday())
    weeks = [monday + datetime.timedelta(weeks=i) for i in range((days + 6) // 7 + 1)]
    pending = list(ExtensionRequest.objects.filter(area_subtree_q("item__area_code", prefix),
                                                   status=ExtensionStatus.PENDING)
                   .select_related("item__task__department", "requested_by").order_by("requested_at")[:50])
    return Workload(
        start=start, days=day_list, weeks=weeks,
        cadres=sorted(cadres.values(), key=lambda c: (-c.total, c.village, c.label)),
        villages=sorted(villages.values(), key=lambda v: (-v.total, v.label)),
        clashes=clashes, heat=[[d.isoformat(), round(m / 60, 1)] for d, m in sorted(heat.items())],
        pending_extensions=pending, workday_minutes=limit,
    )


def village_items(*, user, village: str):
    """Open items of one village of the user's area (for reassigning and extending)."""
    _role(user, WORKLOAD_ROLES)
    if not user.can_see_area(village) or len(village) != 12:
        raise Http404
    return (VillageTask.objects.filter(area_code=village, status=ItemStatus.OPEN)
            .select_related("task__department", "assignee").order_by("due_date", "id"))


def village_area(*, user, code: str) -> Area:
    _role(user, WORKLOAD_ROLES)
    area = Area.objects.filter(code=code, level=AreaLevel.VILLAGE).first()
    if area is None or not user.can_see_area(code):
        raise Http404
    return area


# --- admission and burden ------------------------------------------------------------------------

def admission_queue(*, user):
    _role(user, ADMISSION_ROLES)
    return Task.objects.filter(status=TaskStatus.PENDING_APPROVAL).select_related("department").order_by("created_at")


def task_for_approval(*, user, pk: int) -> Task:
    task = admission_queue(user=user).filter(pk=pk).first()
    if task is None:
        raise Http404
    return task


def decision_log(*, user, limit: int = 100):
    _role(user, ADMISSION_ROLES)
    return (AdmissionDecision.objects.select_related("task__department", "decided_by")
            .order_by("-decided_at", "-id")[:limit])


@dataclass
class MonthlyLoad:
    area_code: str
    village: str
    department: str
    requests: int
    over: bool


def monthly_load(*, user, month: datetime.date) -> list[MonthlyLoad]:
    """Requests that reached each village from each department in ``month``, against the threshold."""
    _role(user, ADMISSION_ROLES)
    first = month.replace(day=1)
    after = (first + datetime.timedelta(days=32)).replace(day=1)
    rows = (VillageTask.objects.filter(area_subtree_q("area_code", user.area_prefix),
                                       created_at__date__gte=first, created_at__date__lt=after)
            .values("area_code", "task__department__name").annotate(n=Count("id"))
            .order_by("-n", "area_code", "task__department__name"))
    rows = list(rows[:200])
    names = dict(Area.objects.filter(code__in={r["area_code"] for r in rows}).values_list("code", "name"))
    limit = monthly_threshold()
    return [MonthlyLoad(r["area_code"], names.get(r["area_code"], r["area_code"]), r["task__department__name"],
                        r["n"], r["n"] > limit) for r in rows]


def monthly_series(*, user, months: int = 6) -> list[dict]:
    """Requests per month (all villages of the user's area) for the chart."""
    _role(user, ADMISSION_ROLES)
    rows = (VillageTask.objects.filter(area_subtree_q("area_code", user.area_prefix))
            .annotate(month=TruncMonth("created_at")).values("month").annotate(n=Count("id")).order_by("-month"))
    return [{"month": r["month"].strftime("%Y-%m"), "n": r["n"]} for r in list(rows[:months])][::-1]


BURDEN_METRICS = (BurdenMetric.REQUESTS_RECEIVED, BurdenMetric.REQUESTS_REFUSED, BurdenMetric.REQUESTS_ANSWERED,
                  BurdenMetric.DUPLICATES_BLOCKED, BurdenMetric.MINUTES_ESTIMATED, BurdenMetric.MINUTES_SPENT)


def burden_metrics(*, user, day_from: datetime.date | None = None) -> dict[str, int]:
    """Tasks received, refused, answered automatically, duplicates blocked, minutes estimated and reported."""
    _role(user, ADMISSION_ROLES)
    prefix = user.area_prefix
    totals = {m: 0 for m in BURDEN_METRICS}
    for row in burden_totals(area_prefix=prefix, metric=BURDEN_METRICS, day_from=day_from):
        totals[row["metric"]] = row["total"]
    # Reported time is compared with the estimate of the same tasks (those done with a time given).
    done = (VillageTask.objects.filter(reported_minutes__isnull=False)
            .filter(area_subtree_q("area_code", user.area_prefix))
            .aggregate(estimated=Sum("effort_minutes"), reported=Sum("reported_minutes")))
    totals["done_estimated"] = done["estimated"] or 0
    totals["done_reported"] = done["reported"] or 0
    return totals


# --- departments -----------------------------------------------------------------------------------

def department_tasks(*, user):
    if not can_send(user):
        raise PermissionDenied
    qs = Task.objects.select_related("department", "line_system")
    if user.role != Role.COUNTY_ADMIN:
        qs = qs.filter(department_id=user.department_id)
    return qs.annotate(villages=Count("items"),
                       done=Count("items", filter=Q(items__status__in=[ItemStatus.DONE, ItemStatus.ANSWERED])))


def department_task(*, user, pk: int) -> Task:
    task = department_tasks(user=user).filter(pk=pk).first()
    if task is None:
        raise Http404
    return task
