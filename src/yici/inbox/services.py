"""Writes of the inbox: admission, dispatch to villages, the cadre's actions, approvals, reminders.

``task_submit`` is the one door for every sender (department page, collection, line system,
recurrence). It decides admission and records each decision with its reason:

* refused: no policy basis, no effort estimate (or zero), a deadline in the past, no area or an
  area outside the sender's reach, a form the catalog cannot read, or a form asking only what the
  registry already holds for every record (the refusal points to the report catalog's fill);
* flagged: a forbidden demand (``admission.detect_demands``) — it waits for the burden office
  (``task_approve``);
* linked: a form asking overlapping elements of the same population, in overlapping villages,
  within ``INBOX_DUPLICATE_WINDOW_DAYS`` of an earlier admitted request: its village copies are
  answered from the earlier one's results (at once if done, else when it is done);
* admitted: the rest. ``task_dispatch`` then makes one ``VillageTask`` per village, pre-filled.

A line system that retries sends the same ``Idempotency-Key``; the task is stored once.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.accounts.models import Area, AreaLevel, Department
from yici.accounts.roles import Role
from yici.accounts.selectors import area_subtree_q
from yici.audit.models import AuditAction
from yici.audit.services import audit_event
from yici.burden.models import BurdenMetric
from yici.burden.services import burden_record
from yici.inbox.admission import detect_demands
from yici.inbox.models import (
    AdmissionDecision,
    DecisionOutcome,
    ExtensionRequest,
    ExtensionStatus,
    ItemStatus,
    Recurrence,
    RecurringTask,
    Task,
    TaskKind,
    TaskSource,
    TaskStatus,
    VillageTask,
)
from yici.inbox.notify import notify

DEFAULT_DUPLICATE_WINDOW_DAYS = 90
PREFILL_MAX_ROWS = 2000  # a form larger than this is a report: send it through the report catalog


class InboxError(Exception):
    """An action cannot be done; the message is one line a person can act on."""


@dataclass
class TaskSpec:
    """What a sender asks: the fields of a task before admission."""

    department: Department
    title: str
    basis: str = ""
    responsible: str = ""
    effort_minutes: int | None = None
    due_date: date | None = None
    area_codes: list[str] = field(default_factory=list)
    kind: str = TaskKind.ACTION
    instructions: str = ""
    entity: str = ""
    elements: list[str] = field(default_factory=list)
    population_filter: str = "all"
    demands: list[str] = field(default_factory=list)


@dataclass
class Refusal:
    rule: str
    reason: str


def duplicate_window() -> timedelta:
    return timedelta(days=getattr(settings, "INBOX_DUPLICATE_WINDOW_DAYS", DEFAULT_DUPLICATE_WINDOW_DAYS))


# --- areas ---------------------------------------------------------------------------------------

def villages_of(codes: list[str]) -> list[Area]:
    """The villages of the given areas (a village itself, or every village under a township/county)."""
    areas = list(Area.objects.filter(code__in=codes))
    q = Q(pk__in=[])
    for area in areas:
        q |= area_subtree_q("code", area.prefix)
    return list(Area.objects.filter(q, level=AreaLevel.VILLAGE).order_by("code"))


def _reach_refusal(codes: list[str], *, actor, line_system) -> Refusal | None:
    if not codes:
        return Refusal("no_area", _("The task names no area."))
    known = {a.code: a for a in Area.objects.filter(code__in=codes)}
    for code in codes:
        area = known.get(code)
        if area is None or area.level not in (AreaLevel.COUNTY, AreaLevel.TOWNSHIP, AreaLevel.VILLAGE):
            return Refusal("out_of_reach", _("%(code)s is not a county, township or village Yici knows.")
                           % {"code": code})
        if actor is not None and not actor.can_see_area(code):
            return Refusal("out_of_reach", _("%(area)s is outside the sender's area.") % {"area": area.name})
        if actor is None and line_system is not None:
            counties = Area.objects.filter(level=AreaLevel.COUNTY).values_list("prefix", flat=True)
            if not any(code.startswith(p) for p in counties):
                return Refusal("out_of_reach", _("%(area)s is outside the county.") % {"area": area.name})
    return None


# --- forms: elements, population, what the registry holds -------------------------------------------

def _form_clauses(spec: TaskSpec):
    """Parse a form's elements and filter; returns the clauses or a ``Refusal``."""
    from yici.catalog.mapping import element_index
    from yici.reports.population import ENTITY_MODELS, REACHABLE, FilterError, check_reachable, parse_where

    if spec.entity not in ENTITY_MODELS:
        return Refusal("bad_form", _("A form must say which records it asks about (person, household, house or "
                                     "place)."))
    if not spec.elements:
        return Refusal("bad_form", _("A form must name the data elements it asks for."))
    index = element_index()
    for code in spec.elements:
        if code not in index.by_code:
            return Refusal("bad_form", _("%(code)s is not an element of the data catalog.") % {"code": code})
        if code.split(".", 1)[0] not in REACHABLE[spec.entity]:
            return Refusal("bad_form", _("%(code)s cannot be asked about %(entity)s records.")
                           % {"code": code, "entity": spec.entity})
    try:
        clauses = parse_where(spec.population_filter or "all", elements=index)
        check_reachable(clauses, spec.entity)
    except FilterError as exc:
        return Refusal("bad_form", str(exc))
    return clauses


def canonical_population(entity: str, clauses) -> str:
    """One spelling per population: the entity and its sorted clauses (so ``a and b`` equals ``b and a``)."""
    return entity + ":" + " and ".join(sorted(str(c) for c in clauses)) if clauses else entity + ":all"


def _population_rows(task: Task, area: Area, clauses, as_of: date):
    from yici.reports.population import population

    return population(entity=task.entity, area=area, clauses=clauses, as_of=as_of)


def _label(row) -> str:
    from yici.reports.services import row_label

    return row_label(row)


def _registry_holds(spec: TaskSpec, villages: list[Area], clauses) -> tuple[int, int] | None:
    """(records, villages) when the registry holds every asked element for every record; else None."""
    from yici.reports.population import population

    total = 0
    as_of = timezone.localdate()
    for village in villages:
        rows = population(entity=spec.entity, area=village, clauses=clauses, as_of=as_of)
        for row in rows:
            if not all(row.values.get(code) for code in spec.elements):
                return None
        total += len(rows)
    return (total, len(villages)) if total else None


# --- admission -------------------------------------------------------------------------------------

def _decide(task: Task, outcome: str, rule: str, reason: str, actor=None) -> AdmissionDecision:
    return AdmissionDecision.objects.create(task=task, outcome=outcome, rule=rule, reason=reason, decided_by=actor)


def _find_duplicate(task: Task, population_key: str, village_codes: set[str]) -> tuple[Task, list[str]] | None:
    """The earliest admitted form in the window asking overlapping elements of the same population
    in at least one of the same villages."""
    from yici.catalog.mapping import element_index
    from yici.reports.population import FilterError, parse_where

    since = timezone.now() - duplicate_window()
    candidates = (Task.objects.filter(kind=TaskKind.FORM, entity=task.entity, status=TaskStatus.ADMITTED,
                                      created_at__gte=since).exclude(pk=task.pk).order_by("created_at", "id"))
    index = None
    asked = set(task.elements)
    for other in candidates:
        shared = [c for c in other.elements if c in asked]
        if not shared:
            continue
        index = index or element_index()
        try:
            key = canonical_population(other.entity, parse_where(other.population_filter or "all", elements=index))
        except FilterError:
            continue
        if key != population_key:
            continue
        if not village_codes & set(other.items.values_list("area_code", flat=True)):
            continue
        return other, shared
    return None


@transaction.atomic
def task_submit(*, spec: TaskSpec, actor=None, source: str = TaskSource.PAGE, line_system=None,
                idempotency_key: str = "", collection=None, recurring: RecurringTask | None = None,
                period: str = "") -> tuple[Task, bool]:
    """Receive a task, decide its admission (recording every decision) and, if admitted, dispatch it.

    Returns ``(task, created)``; ``created`` is False when a line system's retry (same
    ``idempotency_key``) or a recurrence's period was already stored — nothing else happens then.
    """
    if line_system is not None and idempotency_key:
        existing = Task.objects.filter(line_system=line_system, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    if recurring is not None and period:
        existing = Task.objects.filter(recurring=recurring, period=period).first()
        if existing is not None:
            return existing, False
    task = Task(
        department=spec.department, title=spec.title.strip()[:200], basis=spec.basis.strip(),
        responsible=spec.responsible.strip()[:100], effort_minutes=spec.effort_minutes,
        due_date=spec.due_date or timezone.localdate(), area_codes=list(dict.fromkeys(spec.area_codes)),
        kind=spec.kind, instructions=spec.instructions.strip(), entity=spec.entity if spec.kind == TaskKind.FORM else "",
        elements=list(dict.fromkeys(spec.elements)) if spec.kind == TaskKind.FORM else [],
        population_filter=(spec.population_filter or "all") if spec.kind == TaskKind.FORM else "",
        source=source, line_system=line_system, idempotency_key=idempotency_key[:200], collection=collection,
        recurring=recurring, period=period, created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    task.demands = detect_demands(declared=spec.demands, text=f"{task.title}\n{task.instructions}")
    try:
        with transaction.atomic():
            task.save()
    except IntegrityError:  # a concurrent retry stored it first
        existing = (Task.objects.filter(line_system=line_system, idempotency_key=idempotency_key).first()
                    if idempotency_key else Task.objects.filter(recurring=recurring, period=period).first())
        if existing is None:
            raise
        return existing, False
    dept_context = spec.department.name[:100]
    first_area = task.area_codes[0] if task.area_codes else ""
    burden_record(metric=BurdenMetric.REQUESTS_RECEIVED, area_code=first_area, context=dept_context)

    refusals: list[Refusal] = []
    if not task.basis:
        refusals.append(Refusal("no_basis", _("The task names no policy basis (政策依据).")))
    if task.effort_minutes is None:
        refusals.append(Refusal("no_effort", _("The task gives no estimate of the effort in minutes.")))
    elif task.effort_minutes <= 0:
        refusals.append(Refusal("no_effort", _("The effort estimate must be more than zero minutes.")))
    if task.due_date < timezone.localdate():
        refusals.append(Refusal("deadline_past", _("The deadline %(date)s is in the past.")
                                % {"date": task.due_date.isoformat()}))
    reach = _reach_refusal(task.area_codes, actor=task.created_by, line_system=line_system)
    if reach is not None:
        refusals.append(reach)
    clauses = None
    villages: list[Area] = []
    if not refusals:
        villages = villages_of(task.area_codes)
        if not villages:
            refusals.append(Refusal("no_area", _("The areas named hold no village.")))
    if not refusals and task.kind == TaskKind.FORM:
        parsed = _form_clauses(spec)
        if isinstance(parsed, Refusal):
            refusals.append(parsed)
        else:
            clauses = parsed
            held = _registry_holds(spec, villages, clauses)
            if held is not None:
                refusals.append(Refusal("registry_holds", _(
                    "The registry already holds every element asked for all %(rows)d records in %(villages)d "
                    "villages: fill your template from the registry in the report catalog (报表目录, 一表通) or "
                    "read it through the API instead of asking the villages.") % {"rows": held[0],
                                                                                  "villages": held[1]}))
    if refusals:
        for refusal in refusals:
            _decide(task, DecisionOutcome.REFUSED, refusal.rule, refusal.reason)
        task.status, task.reason = TaskStatus.REFUSED, " ".join(r.reason for r in refusals)
        task.save(update_fields=["status", "reason"])
        burden_record(metric=BurdenMetric.REQUESTS_REFUSED, area_code=first_area, context=dept_context)
        audit_event(actor=task.created_by, action=AuditAction.CREATE, obj=task,
                    after={"status": task.status, "rules": [r.rule for r in refusals]})
        return task, True

    if task.kind == TaskKind.FORM:
        found = _find_duplicate(task, canonical_population(task.entity, clauses), {v.code for v in villages})
        if found is not None:
            earlier, shared = found
            task.duplicate_of, task.overlap = earlier, shared
            _decide(task, DecisionOutcome.LINKED, "duplicate_ask", _(
                "Asks %(shared)s of the same population as “%(title)s” (#%(pk)d, %(date)s): answered from its "
                "results.") % {"shared": ", ".join(shared), "title": earlier.title, "pk": earlier.pk,
                               "date": timezone.localtime(earlier.created_at).date().isoformat()})
    if task.demands:
        from yici.inbox.models import Demand

        labels = "; ".join(str(Demand(d).label) for d in task.demands)
        reason = _("Asks what the rules on reducing the burden of grassroots work forbid (%(demands)s): it "
                   "needs the burden-reduction office's approval.") % {"demands": labels}
        _decide(task, DecisionOutcome.FLAGGED, "forbidden_demand", reason)
        task.status, task.reason = TaskStatus.PENDING_APPROVAL, reason
        task.save(update_fields=["status", "reason", "duplicate_of", "overlap"])
        audit_event(actor=task.created_by, action=AuditAction.CREATE, obj=task,
                    after={"status": task.status, "demands": task.demands})
        return task, True

    reason = _("Names its basis, effort and deadline, and asks nothing forbidden.")
    _decide(task, DecisionOutcome.ADMITTED, "admitted", reason)
    task.status, task.reason = TaskStatus.ADMITTED, reason
    task.save(update_fields=["status", "reason", "duplicate_of", "overlap"])
    audit_event(actor=task.created_by, action=AuditAction.CREATE, obj=task, after={"status": task.status})
    task_dispatch(task=task, villages=villages, clauses=clauses)
    return task, True


@transaction.atomic
def task_approve(*, task: Task, actor, approve: bool, note: str = "") -> Task:
    """The burden office's decision on a flagged task: approved tasks are dispatched."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status != TaskStatus.PENDING_APPROVAL:
        raise InboxError(_("This task is not waiting for approval."))
    if actor.role not in (Role.BURDEN_OFFICE, Role.COUNTY_ADMIN):
        raise InboxError(_("Only the burden-reduction office decides on flagged tasks."))
    note = note.strip()
    if approve:
        reason = note or _("Approved by the burden-reduction office.")
        _decide(task, DecisionOutcome.APPROVED, "burden_office", reason, actor)
        task.status, task.reason = TaskStatus.ADMITTED, reason
    else:
        if not note:
            raise InboxError(_("Say why the task is rejected; the department reads it."))
        _decide(task, DecisionOutcome.REJECTED, "burden_office", note, actor)
        task.status, task.reason = TaskStatus.REJECTED, note
        burden_record(metric=BurdenMetric.REQUESTS_REFUSED, area_code=task.area_codes[0] if task.area_codes else "",
                      context=task.department.name[:100])
    task.save(update_fields=["status", "reason"])
    audit_event(actor=actor, action=AuditAction.UPDATE, obj=task, before={"status": TaskStatus.PENDING_APPROVAL},
                after={"status": task.status}, reason=note)
    if approve:
        clauses = None
        if task.kind == TaskKind.FORM:
            clauses = _form_clauses(TaskSpec(department=task.department, title=task.title, entity=task.entity,
                                             elements=task.elements, population_filter=task.population_filter))
            if isinstance(clauses, Refusal):
                raise InboxError(clauses.reason)
        task_dispatch(task=task, villages=villages_of(task.area_codes), clauses=clauses)
    return task


# --- dispatch --------------------------------------------------------------------------------------

def village_cadres(codes: list[str]) -> dict[str, list]:
    """Village code → its cadres (users of role village cadre in the village or one of its groups)."""
    from yici.accounts.models import User

    out: dict[str, list] = {c: [] for c in codes}
    if not codes:
        return out
    q = Q(pk__in=[])
    for code in codes:
        q |= area_subtree_q("area__code", code)
    for user in User.objects.filter(q, role=Role.VILLAGE_CADRE, is_active=True).order_by("pk"):
        village = user.area.code[:12]
        if village in out:
            out[village].append(user)
    return out


def _open_minutes(user_ids: list[int]) -> dict[int, int]:
    rows = (VillageTask.objects.filter(assignee_id__in=user_ids, status=ItemStatus.OPEN)
            .values("assignee_id").annotate(total=Sum("effort_minutes")))
    return {r["assignee_id"]: r["total"] or 0 for r in rows}


def _rows_prefill(task: Task, village: Area, clauses, earlier: VillageTask | None) -> dict:
    rows = _population_rows(task, village, clauses, timezone.localdate())[:PREFILL_MAX_ROWS]
    known = {}
    if earlier is not None:
        known = _results(earlier)
    out = []
    for row in rows:
        values = {code: row.values.get(code, "") for code in task.elements}
        for code, value in known.get(row.key, {}).items():
            if code in values and value and not values[code]:
                values[code] = value
        out.append({"key": row.key, "label": _label(row), "values": values})
    return {"elements": list(task.elements), "rows": out}


def _results(item: VillageTask) -> dict[str, dict[str, str]]:
    """An item's values per record: what was pre-filled overlaid with what the cadre typed."""
    out: dict[str, dict[str, str]] = {}
    for row in item.prefill.get("rows", []):
        out[row["key"]] = {k: v for k, v in row["values"].items() if v}
    for key, values in item.answers.items():
        out.setdefault(key, {}).update({k: v for k, v in values.items() if v})
    return out


def task_dispatch(*, task: Task, villages: list[Area], clauses=None) -> list[VillageTask]:
    """One pre-filled ``VillageTask`` per village, assigned to the village's least loaded cadre."""
    cadres = village_cadres([v.code for v in villages])
    load = _open_minutes([u.pk for users in cadres.values() for u in users])
    instances = {}
    if task.collection_id:
        instances = {i.area.code: i for i in task.collection.instances.select_related("area").defer("workbook")}
    earlier_items = {}
    if task.duplicate_of_id:
        earlier_items = {i.area_code: i for i in task.duplicate_of.items.all()}
    full_overlap = bool(task.duplicate_of_id) and set(task.elements) <= set(task.duplicate_of.elements)
    items = []
    now = timezone.now()
    for village in villages:
        team = cadres.get(village.code, [])
        assignee = min(team, key=lambda u: (load.get(u.pk, 0), u.pk)) if team else None
        if assignee is not None:
            load[assignee.pk] = load.get(assignee.pk, 0) + (task.effort_minutes or 0)
        earlier = earlier_items.get(village.code)
        item = VillageTask(task=task, area_code=village.code, assignee=assignee, due_date=task.due_date,
                           effort_minutes=task.effort_minutes or 0, instance=instances.get(village.code))
        if task.kind == TaskKind.FORM and clauses is not None:
            item.prefill = _rows_prefill(task, village, clauses, earlier)
        if earlier is not None:
            item.answered_from = earlier
            if full_overlap and earlier.status in (ItemStatus.DONE, ItemStatus.ANSWERED):
                item.status, item.completed_at = ItemStatus.ANSWERED, now
                item.answers = _answers_for(item, _results(earlier))
            elif full_overlap:
                item.status = ItemStatus.LINKED
        items.append(item)
    VillageTask.objects.bulk_create(items)
    items = list(task.items.select_related("assignee__area"))
    context = task.department.name[:100]
    for item in items:
        if item.status == ItemStatus.ANSWERED:
            burden_record(metric=BurdenMetric.REQUESTS_ANSWERED, area_code=item.area_code, context=context)
        elif item.status == ItemStatus.LINKED:
            burden_record(metric=BurdenMetric.DUPLICATES_BLOCKED, area_code=item.area_code, context=context)
        else:
            burden_record(metric=BurdenMetric.MINUTES_ESTIMATED, area_code=item.area_code, context=context,
                          count=item.effort_minutes)
            recipients = [item.assignee] if item.assignee else cadres.get(item.area_code, [])
            for user in recipients:
                notify(user=user, item=item, text=_("New task from %(dept)s: %(title)s, due %(date)s")
                       % {"dept": task.department.name, "title": task.title, "date": item.due_date.isoformat()})
    return items


def _answers_for(item: VillageTask, results: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The earlier results restricted to this item's records and elements."""
    elements = set(item.task.elements)
    keys = {r["key"] for r in item.prefill.get("rows", [])}
    return {key: {k: v for k, v in values.items() if k in elements}
            for key, values in results.items() if key in keys}


# --- collections (the reports hook) ---------------------------------------------------------------

def collection_effort_minutes(collection) -> int:
    """An estimate for a pre-filled report: 10 minutes to check it plus half a minute per cell to type
    (the village average of its instances' gaps)."""
    gaps = [len(i.gaps) for i in collection.instances.only("gaps")]
    average = sum(gaps) / len(gaps) if gaps else 0
    return max(10, round(10 + average / 2))


def task_from_collection(*, collection, actor) -> Task:
    """The inbox task of a report collection: one item per village, pointing at its pre-filled instance.

    The report catalog already asked for the basis (its legal basis) and checked the areas, so the
    task normally is admitted; a report whose name gives away a forbidden demand waits for approval.
    """
    report = collection.report
    villages = list(collection.instances.values_list("area__code", flat=True))
    spec = TaskSpec(
        department=report.department, title=report.name, basis=report.legal_basis,
        responsible=str(actor) if actor else "", effort_minutes=collection_effort_minutes(collection),
        due_date=collection.due_date, area_codes=villages, kind=TaskKind.REPORT,
        instructions=_("Check the pre-filled report and type only the missing cells."),
    )
    task, _created = task_submit(spec=spec, actor=actor, source=TaskSource.COLLECTION, collection=collection)
    return task


# --- the cadre's actions -------------------------------------------------------------------------

def can_act(user, item: VillageTask) -> bool:
    """A cadre of the item's village, or township staff / the county admin over it."""
    if not getattr(user, "is_authenticated", False) or not user.can_see_area(item.area_code):
        return False
    if user.role == Role.VILLAGE_CADRE:
        return user.area.code[:12] == item.area_code
    return user.role in (Role.TOWNSHIP_STAFF, Role.COUNTY_ADMIN)


def _require(user, item: VillageTask, *, cadre_only: bool = False) -> None:
    if not can_act(user, item) or (cadre_only and user.role != Role.VILLAGE_CADRE):
        raise InboxError(_("You cannot act on this task."))


def _locked(item: VillageTask) -> VillageTask:
    return (VillageTask.objects.select_for_update(of=("self",)).select_related("task__department", "instance")
            .get(pk=item.pk))


@transaction.atomic
def item_complete(*, item: VillageTask, actor, answers: dict[str, dict[str, str]] | None = None,
                  reported_minutes: int | None = None) -> VillageTask:
    """Mark a task done with what the cadre typed; requests linked to it are answered from it."""
    item = _locked(item)
    _require(actor, item, cadre_only=True)
    if item.status != ItemStatus.OPEN:
        raise InboxError(_("This task is not open."))
    if item.task.kind == TaskKind.REPORT and item.instance is not None:
        from yici.reports.models import InstanceStatus

        if item.instance.status != InstanceStatus.SUBMITTED:
            raise InboxError(_("Submit the report first; the task is done when the report is."))
    if reported_minutes is not None and reported_minutes < 0:
        raise InboxError(_("The time spent cannot be negative."))
    if answers:
        keys = {r["key"] for r in item.prefill.get("rows", [])}
        elements = set(item.task.elements)
        clean = {}
        for key, values in answers.items():
            if key not in keys:
                continue
            row = {k: str(v).strip()[:500] for k, v in values.items() if k in elements and str(v).strip()}
            if row:
                clean[key] = row
        item.answers = clean
    item.status, item.completed_by, item.completed_at = ItemStatus.DONE, actor, timezone.now()
    item.reported_minutes = reported_minutes
    item.save(update_fields=["answers", "status", "completed_by", "completed_at", "reported_minutes"])
    if reported_minutes:
        burden_record(metric=BurdenMetric.MINUTES_SPENT, user=actor, area_code=item.area_code,
                      context=item.task.department.name[:100], count=reported_minutes)
    audit_event(actor=actor, action=AuditAction.UPDATE, obj=item, before={"status": ItemStatus.OPEN},
                after={"status": item.status, "minutes": reported_minutes})
    _answer_followers(item)
    return item


def _answer_followers(item: VillageTask) -> None:
    """Later requests linked to this one: fully covered ones are answered, the others pre-filled."""
    results = _results(item)
    now = timezone.now()
    for follower in item.answers_given.select_related("task__department").select_for_update(of=("self",)):
        if follower.status == ItemStatus.LINKED:
            follower.answers = _answers_for(follower, results)
            follower.status, follower.completed_at = ItemStatus.ANSWERED, now
            follower.save(update_fields=["answers", "status", "completed_at"])
            burden_record(metric=BurdenMetric.REQUESTS_ANSWERED, area_code=follower.area_code,
                          context=follower.task.department.name[:100])
        elif follower.status == ItemStatus.OPEN and follower.prefill.get("rows"):
            for row in follower.prefill["rows"]:
                for code, value in results.get(row["key"], {}).items():
                    if code in row["values"] and not row["values"][code]:
                        row["values"][code] = value
            follower.save(update_fields=["prefill"])


@transaction.atomic
def item_hand_over(*, item: VillageTask, to_user, actor) -> VillageTask:
    """Give the task to another cadre of the same village (a cadre hands over; township staff reassign)."""
    item = _locked(item)
    _require(actor, item)
    if item.status != ItemStatus.OPEN:
        raise InboxError(_("This task is not open."))
    if (to_user is None or to_user.role != Role.VILLAGE_CADRE or not to_user.is_active or to_user.area_id is None
            or to_user.area.code[:12] != item.area_code):
        raise InboxError(_("Hand the task to a cadre of the same village."))
    before = item.assignee_id
    item.assignee = to_user
    item.save(update_fields=["assignee"])
    audit_event(actor=actor, action=AuditAction.UPDATE, obj=item, before={"assignee": before},
                after={"assignee": to_user.pk})
    notify(user=to_user, item=item, text=_("%(who)s gave you the task “%(title)s”, due %(date)s")
           % {"who": str(actor), "title": item.task.title, "date": item.due_date.isoformat()})
    return item


@transaction.atomic
def extension_request(*, item: VillageTask, new_due_date: date, reason: str, actor) -> ExtensionRequest:
    """A cadre asks for more time; township staff over the village decide (``extension_decide``)."""
    item = _locked(item)
    _require(actor, item, cadre_only=True)
    if item.status != ItemStatus.OPEN:
        raise InboxError(_("This task is not open."))
    if new_due_date <= item.due_date:
        raise InboxError(_("Ask for a date after the present deadline %(date)s.") % {"date": item.due_date})
    if not reason.strip():
        raise InboxError(_("Say why more time is needed."))
    if item.extensions.filter(status=ExtensionStatus.PENDING).exists():
        raise InboxError(_("More time has already been asked for this task."))
    ext = ExtensionRequest.objects.create(item=item, requested_by=actor, new_due_date=new_due_date,
                                          reason=reason.strip()[:300])
    audit_event(actor=actor, action=AuditAction.CREATE, obj=ext, after={"item": item.pk, "date": str(new_due_date)})
    from yici.accounts.models import User

    township = item.area_code[:9]
    for user in User.objects.filter(area_subtree_q("area__code", township), role=Role.TOWNSHIP_STAFF,
                                    area__level=AreaLevel.TOWNSHIP):
        notify(user=user, item=item, text=_("%(who)s asks until %(date)s for “%(title)s”")
               % {"who": str(actor), "date": new_due_date.isoformat(), "title": item.task.title})
    return ext


@transaction.atomic
def extension_decide(*, extension: ExtensionRequest, grant: bool, actor) -> ExtensionRequest:
    extension = (ExtensionRequest.objects.select_for_update(of=("self",)).select_related("item__task")
                 .get(pk=extension.pk))
    item = extension.item
    if actor.role not in (Role.TOWNSHIP_STAFF, Role.COUNTY_ADMIN) or not actor.can_see_area(item.area_code):
        raise InboxError(_("Only township staff over the village grant more time."))
    if extension.status != ExtensionStatus.PENDING:
        raise InboxError(_("This request has already been decided."))
    extension.status = ExtensionStatus.GRANTED if grant else ExtensionStatus.REFUSED
    extension.decided_by, extension.decided_at = actor, timezone.now()
    extension.save(update_fields=["status", "decided_by", "decided_at"])
    if grant:
        before = item.due_date
        VillageTask.objects.filter(pk=item.pk).update(due_date=extension.new_due_date)
        audit_event(actor=actor, action=AuditAction.UPDATE, obj=item, before={"due_date": str(before)},
                    after={"due_date": str(extension.new_due_date)})
    if extension.requested_by is not None:
        text = (_("More time granted for “%(title)s”: due %(date)s") if grant
                else _("More time refused for “%(title)s”: still due %(date)s"))
        notify(user=extension.requested_by, item=item, text=text % {
            "title": item.task.title, "date": (extension.new_due_date if grant else item.due_date).isoformat()})
    return extension


@transaction.atomic
def item_extend(*, item: VillageTask, new_due_date: date, actor, reason: str = "") -> ExtensionRequest:
    """Township staff give more time without being asked (recorded as a granted request)."""
    item = _locked(item)
    if new_due_date <= item.due_date:
        raise InboxError(_("Choose a date after the present deadline %(date)s.") % {"date": item.due_date})
    ext = ExtensionRequest.objects.create(item=item, requested_by=None, new_due_date=new_due_date,
                                          reason=(reason or _("granted by the township")).strip()[:300])
    return extension_decide(extension=ext, grant=True, actor=actor)


@transaction.atomic
def notifications_read(*, user, ids: list[int] | None = None) -> int:
    qs = user.inbox_notifications.filter(read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


# --- reminders and recurrence ------------------------------------------------------------------------

def items_remind(*, today: date | None = None, days_ahead: int = 1) -> int:
    """Remind cadres of open tasks due within ``days_ahead`` days or overdue; once per task and day."""
    today = today or timezone.localdate()
    items = (VillageTask.objects.filter(status=ItemStatus.OPEN, due_date__lte=today + timedelta(days=days_ahead))
             .select_related("task", "assignee__area").order_by("due_date", "id"))
    by_village: dict[str, list] | None = None
    sent = 0
    for item in items:
        recipients = [item.assignee] if item.assignee else None
        if recipients is None:
            if by_village is None:
                by_village = village_cadres(sorted({i.area_code for i in items if i.assignee_id is None}))
            recipients = by_village.get(item.area_code, [])
        text = (_("Overdue since %(date)s: %(title)s") if item.due_date < today
                else _("Due %(date)s: %(title)s")) % {"date": item.due_date.isoformat(), "title": item.task.title}
        for user in recipients:
            with transaction.atomic():
                if notify(user=user, item=item, text=text, key=f"due:{item.pk}:{today.isoformat()}"):
                    sent += 1
    return sent


def period_of(recurrence: str, day: date) -> tuple[str, date]:
    """The period key and first day of the period holding ``day``."""
    if recurrence == Recurrence.WEEKLY:
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}", day - timedelta(days=day.weekday())
    return f"{day.year}-{day.month:02d}", day.replace(day=1)


def recurring_generate(*, today: date | None = None, progress=None) -> list[Task]:
    """Send each active recurring task once for the period holding ``today``; returns the new tasks."""
    today = today or timezone.localdate()
    rules = list(RecurringTask.objects.filter(active=True).select_related("department", "created_by__area"))
    created = []
    for n, rule in enumerate(rules, 1):
        period, start = period_of(rule.recurrence, today)
        spec = TaskSpec(department=rule.department, title=rule.title, basis=rule.basis, responsible=rule.responsible,
                        effort_minutes=rule.effort_minutes, due_date=max(start + timedelta(days=rule.deadline_days),
                                                                          today),
                        area_codes=list(rule.area_codes), kind=rule.kind, instructions=rule.instructions)
        task, new = task_submit(spec=spec, actor=rule.created_by, source=TaskSource.RECURRING, recurring=rule,
                                period=period)
        if new:
            created.append(task)
        if progress:
            progress(n, len(rules))
    return created
