"""Inbox pages: the cadre's one list (phone), the township's workload, the burden office's
admission queue and the department's task page. Each view checks the role (in the selector),
calls one service and renders."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yici.accounts.models import User
from yici.accounts.roles import Role
from yici.catalog.mapping import element_index
from yici.inbox import selectors, services
from yici.inbox.forms import CompleteForm, ExtensionForm, TaskForm
from yici.inbox.models import ItemStatus, TaskKind

PAGE_SIZE = 30  # a phone screen or three; the rest one tap away


def _date(value: str | None, default: datetime.date) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value) if value else default
    except ValueError:
        return default


# --- the cadre ---------------------------------------------------------------------------------------

@login_required
def inbox(request):
    # One query for the page: a row past the page says whether there is a next one (no COUNT).
    try:
        number = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        number = 1
    offset = (number - 1) * PAGE_SIZE
    rows = list(selectors.inbox_items(user=request.user)[offset:offset + PAGE_SIZE + 1])
    has_next, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    today = timezone.localdate()
    week_end = today + datetime.timedelta(days=7 - today.weekday())
    for item in rows:
        item.overdue = item.due_date < today
    if number == 1 and not has_next:  # the whole list is on the page
        due_today = sum(i.effort_minutes for i in rows if i.due_date <= today)
        due_week = sum(i.effort_minutes for i in rows if i.due_date < week_end)
    else:
        due_today, due_week = selectors.inbox_minutes_due(user=request.user, today=today, week_end=week_end)
    return render(request, "inbox/inbox.html", {
        "number": number, "has_next": has_next, "items": rows, "today": today,
        "unread": selectors.unread_count(request.user),
        "hours_today": round(due_today / 60, 1), "hours_week": round(due_week / 60, 1),
        "recent": selectors.inbox_recent_done(user=request.user, limit=5),
    })


def _form_rows(item, index):
    """The pre-filled rows for the template: per element its value, or an input if the cadre must type it."""
    elements = item.prefill.get("elements", [])
    heads = [{"code": c, "name": getattr(index.by_code.get(c), "name", c)} for c in elements]
    rows = []
    for row in item.prefill.get("rows", []):
        typed = item.answers.get(row["key"], {})
        cells = [{"code": c, "value": row["values"].get(c, ""), "typed": typed.get(c, ""),
                  "name": f"a|{row['key']}|{c}"} for c in elements]
        rows.append({"key": row["key"], "label": row["label"], "cells": cells})
    return heads, rows


@login_required
def item_detail(request, pk: int):
    item = selectors.item_for_user(user=request.user, pk=pk)
    heads, rows = _form_rows(item, element_index()) if item.prefill.get("rows") else ([], [])
    team = [u for u in selectors.village_team(area_code=item.area_code) if u.pk != item.assignee_id]
    return render(request, "inbox/item_detail.html", {
        "item": item, "task": item.task, "heads": heads, "rows": rows, "team": team,
        "gaps": sum(1 for r in rows for c in r["cells"] if not c["value"]),
        "can_act": item.status == ItemStatus.OPEN and services.can_act(request.user, item),
        "can_complete": (item.status == ItemStatus.OPEN and services.can_act(request.user, item)
                         and request.user.role == Role.VILLAGE_CADRE),
        "complete_form": CompleteForm(), "extension_form": ExtensionForm(initial={
            "new_due_date": item.due_date + datetime.timedelta(days=3)}),
        "is_report": item.task.kind == TaskKind.REPORT, "today": timezone.localdate(),
    })


@login_required
@require_POST
def item_complete(request, pk: int):
    item = selectors.item_for_user(user=request.user, pk=pk)
    form = CompleteForm(request.POST)
    minutes = form.cleaned_data.get("reported_minutes") if form.is_valid() else None
    answers: dict[str, dict[str, str]] = {}
    for name, value in request.POST.items():
        if name.startswith("a|"):
            _prefix, key, code = name.split("|", 2)
            answers.setdefault(key, {})[code] = value
    try:
        services.item_complete(item=item, actor=request.user, answers=answers, reported_minutes=minutes)
    except services.InboxError as exc:
        messages.error(request, str(exc))
        return redirect("inbox:item_detail", item.pk)
    messages.success(request, _("Done: “%(title)s”.") % {"title": item.task.title})
    return redirect("inbox:inbox" if request.user.role == "village_cadre" else "inbox:item_detail", *(
        [] if request.user.role == "village_cadre" else [item.pk]))


@login_required
@require_POST
def item_hand_over(request, pk: int):
    item = selectors.item_for_user(user=request.user, pk=pk)
    to_user = User.objects.filter(pk=request.POST.get("to") or 0).first()
    try:
        services.item_hand_over(item=item, to_user=to_user, actor=request.user)
    except services.InboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Handed to %(who)s.") % {"who": to_user})
    back = request.POST.get("next", "")
    if back.startswith("/inbox/"):
        return redirect(back)
    return redirect("inbox:inbox" if request.user.role == "village_cadre" else "inbox:item_detail",
                    *([] if request.user.role == "village_cadre" else [item.pk]))


@login_required
@require_POST
def item_more_time(request, pk: int):
    item = selectors.item_for_user(user=request.user, pk=pk)
    form = ExtensionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a new deadline and a reason."))
        return redirect("inbox:item_detail", item.pk)
    try:
        services.extension_request(item=item, new_due_date=form.cleaned_data["new_due_date"],
                                   reason=form.cleaned_data["reason"], actor=request.user)
    except services.InboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("More time asked; the township will answer."))
    return redirect("inbox:item_detail", item.pk)


@login_required
def notifications(request):
    if request.method == "POST":
        services.notifications_read(user=request.user)
        return redirect("inbox:notifications")
    return render(request, "inbox/notifications.html", {
        "notifications": selectors.notification_list(user=request.user),
        "unread": selectors.unread_count(request.user),
    })


# --- township ----------------------------------------------------------------------------------------

@login_required
def workload(request):
    today = timezone.localdate()
    start = _date(request.GET.get("start"), today)
    village = request.GET.get("village", "")
    data = selectors.workload(user=request.user, start=start, days=28, village=village)
    week_labels = [_("week of %(d)s (h)") % {"d": wk.strftime("%m-%d")} for wk in data.weeks[:4]]
    for load in data.cadres[:100] + data.villages:
        load.week_cells = list(zip(week_labels, load.week_hours(data.weeks[:4]), strict=True))
    return render(request, "inbox/workload.html", {
        "w": data, "village": selectors.village_area(user=request.user, code=village) if village else None, "cadres": data.cadres[:100],
        "week_labels": week_labels,
        "heat": {"days": data.heat, "range": [data.days[0].isoformat(), data.days[-1].isoformat()],
                 "limit": round(data.workday_minutes / 60, 1)},
    })


@login_required
def workload_village(request, code: str):
    area = selectors.village_area(user=request.user, code=code)
    items = list(selectors.village_items(user=request.user, village=code))
    return render(request, "inbox/workload_village.html", {
        "area": area, "items": items, "team": list(selectors.village_team(area_code=code)),
        "extend_to": timezone.localdate() + datetime.timedelta(days=7),
    })


@login_required
@require_POST
def item_extend(request, pk: int):
    item = selectors.item_for_user(user=request.user, pk=pk)
    new_date = _date(request.POST.get("new_due_date"), item.due_date)
    try:
        services.item_extend(item=item, new_due_date=new_date, actor=request.user,
                             reason=request.POST.get("reason", ""))
    except services.InboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Deadline moved to %(date)s.") % {"date": new_date.isoformat()})
    return redirect("inbox:workload_village", item.area_code)


@login_required
@require_POST
def extension_decide(request, pk: int):
    from yici.inbox.models import ExtensionRequest

    ext = ExtensionRequest.objects.select_related("item").filter(pk=pk).first()
    if ext is None:
        from django.http import Http404

        raise Http404
    selectors.item_for_user(user=request.user, pk=ext.item_id)  # scope: 404 outside the area
    try:
        services.extension_decide(extension=ext, grant=request.POST.get("grant") == "1", actor=request.user)
    except services.InboxError as exc:
        messages.error(request, str(exc))
    return redirect("inbox:workload")


# --- burden office ------------------------------------------------------------------------------------

@login_required
def admission(request):
    today = timezone.localdate()
    month = _date(request.GET.get("month", "") + "-01" if request.GET.get("month") else None, today)
    metrics = selectors.burden_metrics(user=request.user)
    return render(request, "inbox/admission.html", {
        "queue": list(selectors.admission_queue(user=request.user)),
        "decisions": selectors.decision_log(user=request.user, limit=50),
        "load": selectors.monthly_load(user=request.user, month=month), "month": month,
        "threshold": selectors.monthly_threshold(), "metrics": metrics,
        "series": selectors.monthly_series(user=request.user),
    })


@login_required
@require_POST
def admission_decide(request, pk: int):
    task = selectors.task_for_approval(user=request.user, pk=pk)
    try:
        services.task_approve(task=task, actor=request.user, approve=request.POST.get("approve") == "1",
                              note=request.POST.get("note", ""))
    except services.InboxError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Decision recorded."))
    return redirect("inbox:admission")


# --- departments ---------------------------------------------------------------------------------------

@login_required
def task_list(request):
    tasks = selectors.department_tasks(user=request.user).order_by("-created_at", "-id")
    page = Paginator(tasks, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "inbox/task_list.html", {"page": page, "tasks": page.object_list})


@login_required
def task_new(request):
    if not selectors.can_send(request.user):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    form = TaskForm(request.POST or None, user=request.user,
                    initial={"due_date": timezone.localdate() + datetime.timedelta(days=7), "kind": TaskKind.ACTION})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        spec = services.TaskSpec(
            department=form.department_of(), title=data["title"], basis=data["basis"],
            responsible=data["responsible"] or str(request.user), effort_minutes=data["effort_minutes"],
            due_date=data["due_date"], area_codes=[a.code for a in data["areas"]], kind=data["kind"],
            instructions=data["instructions"], entity=data["entity"], elements=data["elements"],
            population_filter=data["population_filter"] or "all", demands=data["demands"],
        )
        task, _created = services.task_submit(spec=spec, actor=request.user)
        return redirect("inbox:task_detail", task.pk)
    return render(request, "inbox/task_new.html", {"form": form})


@login_required
def task_detail(request, pk: int):
    task = selectors.department_task(user=request.user, pk=pk)
    items = list(task.items.select_related("assignee").order_by("area_code"))
    from yici.accounts.models import Area

    names = dict(Area.objects.filter(code__in=[i.area_code for i in items]).values_list("code", "name"))
    for item in items:
        item.village = names.get(item.area_code, item.area_code)
    return render(request, "inbox/task_detail.html", {
        "task": task, "items": items, "decisions": list(task.decisions.select_related("decided_by")),
    })
