"""Fill once (一表通): a department's template filled from the registry.

``template_fill`` reads the template (``layout``), maps its columns to catalog elements and
decides which records its rows are (``fill.plan_columns``), selects the area's golden records
through the filter (``population``), writes them into the department's own layout
(``fill.write_workbook``) and counts the cells it saved a cadre from typing (burden metric
``fields_autofilled``). Cells it could not fill are returned as gaps, for gap-only entry.

The report catalog and collections build on it: ``report_draft``/``report_register`` put a
template in the catalog (only a registered report can be sent), ``collection_send`` pre-fills one
instance per village, ``instance_save`` takes the cadre's gap values (validated by the registry
normaliser) and on submit writes them to the registry as report records, ``instance_upload`` reads
the workbook a cadre filled in Excel back the same way, ``collection_workbook`` makes the
department's summary (汇总). Big fills stream from the database into the sheet (``parallel``).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.accounts.models import Area, AreaLevel, Department
from yici.audit.models import AuditAction
from yici.audit.services import audit_event
from yici.burden.models import BurdenMetric
from yici.burden.services import burden_record
from yici.catalog.mapping import element_index
from yici.common.files import content_path, content_store
from yici.registry.models import Link, LinkMethod, SourceKind, SourceRecord
from yici.registry.normalize import ERROR, element_specs_from_catalog, normalize
from yici.registry.reconcile import recompute_golden
from yici.registry.selectors import golden_current
from yici.registry.services import golden_keep_baseline
from yici.reports.fill import ColumnPlan, Gap, plan_columns, prepare_writers, row_entity, write_workbook
from yici.reports.layout import TemplateError, TemplateLayout, template_read
from yici.reports.models import Collection, Frequency, InstanceStatus, Report, ReportInstance, ReportStatus
from yici.reports.parallel import FillJob, fill_rows
from yici.reports.population import (
    ENTITY_MODELS,
    Clause,
    FilterError,
    Row,
    check_reachable,
    parse_where,
    population_batches,
)

__all__ = ["FillError", "FillResult", "Prepared", "template_fill", "template_prepare", "write_prepared"]


class FillError(Exception):
    """The template cannot be filled; the message is one line a person can act on."""


@dataclass
class FillResult:
    workbook: bytes  # the filled .xlsx
    filename: str  # the template's name, .xlsx (a converted .xls gets the new extension)
    sheet_name: str
    entity: str
    columns_total: int  # columns with a header, other than 序号
    columns_mapped: int
    cells_total: int  # rows × mapped columns
    cells_filled: int
    rows: int
    gaps: list[Gap] = field(default_factory=list)
    columns: list[ColumnPlan] = field(default_factory=list)
    converted_from: str = ""
    row_keys: list[dict] = field(default_factory=list)  # [{"key", "row", "label"}] in sheet order
    gap_count: int = 0  # gap cells, also when they were not collected

    def line(self) -> str:
        return _(
            "%(file)s: %(mapped)d of %(cols)d columns mapped, %(filled)d of %(cells)d cells filled, %(rows)d rows"
        ) % {"file": self.filename, "mapped": self.columns_mapped, "cols": self.columns_total,
             "filled": self.cells_filled, "cells": self.cells_total, "rows": self.rows}

    def gaps_json(self) -> list[dict]:
        return [g.as_json() for g in self.gaps]


@dataclass
class Prepared:
    """A template read and mapped, with its row entity and parsed filter: what a fill needs."""

    layout: TemplateLayout
    plans: list[ColumnPlan]
    entity: str
    clauses: list[Clause]


def template_prepare(*, data: bytes, filename: str, where: str = "all", context: str = "") -> Prepared:
    """Read the template, map its columns and parse the filter. Raises ``FillError``."""
    try:
        layout = template_read(data, filename=filename)
    except TemplateError as exc:
        raise FillError(str(exc)) from None
    index = element_index()
    if not index.elements:
        raise FillError(_("The data catalog is empty; load it first with `yici load-catalog`."))
    plans = plan_columns(layout, index, context=context)
    entity = row_entity(plans)
    if entity is None:
        raise FillError(_("No column of the template could be matched to a registry field, so Yici does not "
                          "know what its rows are."))
    try:
        clauses = parse_where(where, elements=index)
        check_reachable(clauses, entity)
    except FilterError as exc:
        raise FillError(str(exc)) from None
    prepare_writers(plans, entity, index)
    return Prepared(layout, plans, entity, clauses)


_LABEL_ELEMENTS = ("person.name", "household.head_name", "house.owner_name", "house.address", "house.code",
                   "place.name")


def row_label(row: Row) -> str:
    """What a person calls the record of a row: a name, else an address or code."""
    for code in _LABEL_ELEMENTS:
        if row.values.get(code):
            return row.values[code]
    return row.key


def write_prepared(prepared: Prepared, rows: list[Row], *, filename: str, area_name: str, as_of: date) -> FillResult:
    """Write ``rows`` into the prepared template (no burden counted)."""
    layout = prepared.layout
    outcome = write_workbook(layout, prepared.plans, rows, area_name=area_name, as_of=as_of)
    row_keys = [{"key": r.key, "row": layout.first_data_row + i, "label": row_label(r)} for i, r in enumerate(rows)]
    return _result(prepared, outcome, row_keys, filename=filename)


def _result(prepared: Prepared, outcome, row_keys: list[dict], *, filename: str) -> FillResult:
    layout, plans = prepared.layout, prepared.plans
    mapped = [p for p in plans if p.element]
    return FillResult(
        workbook=outcome.workbook, filename=str(Path(filename).with_suffix(".xlsx")), sheet_name=layout.sheet_name,
        entity=prepared.entity, columns_total=len(layout.data_columns), columns_mapped=len(mapped),
        cells_total=outcome.rows * len(mapped), cells_filled=outcome.cells_filled, rows=outcome.rows,
        gaps=outcome.gaps, columns=plans, converted_from=layout.converted_from, row_keys=row_keys,
        gap_count=outcome.gap_count,
    )


def fill_area(prepared: Prepared, job: FillJob, *, area: Area, area_name: str) -> FillResult:
    """Fill the population of ``job`` in ``area`` into the prepared template, streamed from the
    database into the sheet (``parallel.fill_rows``). Raises ``FillError``."""
    try:
        outcome, row_keys = fill_rows(prepared, job, area=area, area_name=area_name)
    except TemplateError as exc:
        raise FillError(str(exc)) from None
    return _result(prepared, outcome, row_keys, filename=job.filename)


@transaction.atomic
def template_fill(*, data: bytes, filename: str, area: Area, where: str = "all", as_of: date | None = None,
                  actor=None, context: str = "", burden_context: str | None = None,
                  record_burden: bool = True, collect_gaps: bool = True) -> FillResult:
    """Fill the template ``data`` (.xlsx or .xls) with the golden records of ``area``'s subtree that
    ``where`` selects (``population`` documents the grammar), ages as of ``as_of`` (default today).

    ``context`` is a department code whose remembered header confirmations apply; ``burden_context``
    names the filled cells' burden counter (default: the template's title). Without
    ``collect_gaps`` the gap cells are only counted (``gap_count``). Raises ``FillError``.
    """
    as_of = as_of or timezone.localdate()
    prepared = template_prepare(data=data, filename=filename, where=where, context=context)
    job = FillJob(data=data, filename=filename, where=where, context=context, area_code=area.code, as_of=as_of,
                  collect_gaps=collect_gaps)
    result = fill_area(prepared, job, area=area, area_name=area.name)
    if record_burden:
        label = burden_context if burden_context is not None else (prepared.layout.title or Path(filename).stem)
        burden_record(metric=BurdenMetric.FIELDS_AUTOFILLED, count=result.cells_filled, user=actor,
                      area_code=area.code, context=label[:100])
    return result


# --- the report catalog (报表目录) -------------------------------------------------------------------

TEMPLATE_DIR = "reports"


class ReportError(Exception):
    """A catalog or collection step cannot be done; the message is one line a person can act on.
    ``field`` names the form field at fault (``file``, ``population_filter``), if any."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.field = field


def template_path(sha256: str) -> Path:
    return content_path(TEMPLATE_DIR, sha256)


def template_store(data: bytes) -> str:
    """Keep a template under its sha256 (written atomically); returns the digest."""
    return content_store(TEMPLATE_DIR, data)


def template_bytes(report: Report) -> bytes:
    try:
        return template_path(report.template_sha256).read_bytes()
    except (OSError, ValueError):
        raise ReportError(_("The template file of this report is missing; register it again.")) from None


@transaction.atomic
def report_draft(*, data: bytes, filename: str, department: Department, name: str, legal_basis: str,
                 frequency: str = Frequency.ONCE, population_filter: str = "all", deadline_days: int = 7,
                 actor) -> Report:
    """Read and map an uploaded template and keep it as a draft entry of the catalog.

    The filter is checked with the population grammar now, so a registered report always fills.
    A draft cannot be sent: the department confirms it (``report_register``) after seeing which
    other reports already ask for the same data. Raises ``ReportError``.
    """
    try:
        prepared = template_prepare(data=data, filename=filename, context=department.code)
    except FillError as exc:
        raise ReportError(str(exc), field="file") from None
    try:
        check_reachable(parse_where(population_filter, elements=element_index()), prepared.entity)
    except FilterError as exc:
        raise ReportError(str(exc), field="population_filter") from None
    columns = [{"letter": p.letter, "header": p.column.header_text, "element": p.element or ""}
               for p in prepared.plans if not p.column.is_seq and p.column.header_text]
    report = Report.objects.create(
        department=department, name=name.strip()[:200], legal_basis=legal_basis.strip(), frequency=frequency,
        template_sha256=template_store(data), template_filename=Path(filename).name[:255],
        population_filter=(population_filter or "all").strip()[:500], deadline_days=deadline_days,
        entity=prepared.entity, columns=columns, registered_by=actor, status=ReportStatus.DRAFT,
    )
    audit_event(actor=actor, action=AuditAction.CREATE, obj=report,
                after={"name": report.name, "department": department.code, "status": report.status})
    return report


@transaction.atomic
def report_register(*, report: Report, actor) -> Report:
    """Confirm a draft: it enters the catalog and may be sent."""
    report = Report.objects.select_for_update().get(pk=report.pk)
    if report.status != ReportStatus.DRAFT:
        raise ReportError(_("This report is not a draft."))
    report.status, report.registered_by, report.registered_at = ReportStatus.REGISTERED, actor, timezone.now()
    report.save(update_fields=["status", "registered_by", "registered_at"])
    audit_event(actor=actor, action=AuditAction.UPDATE, obj=report, before={"status": ReportStatus.DRAFT},
                after={"status": report.status})
    return report


# --- collections ---------------------------------------------------------------------------------

def _unmapped_gaps(result: FillResult) -> list[dict]:
    """Cells of columns without an element (走访情况, 备注 …): the cadre may type them too."""
    columns = [p for p in result.columns if not p.element and not p.column.is_seq and p.column.header_text]
    return [{"row": r["row"], "key": r["key"], "column": p.letter, "element": "", "header": p.column.header_text,
             "reason": "unmapped"} for r in result.row_keys for p in columns]


@transaction.atomic
def collection_send(*, report: Report, areas: list[Area], due_date: date | None = None, actor,
                    as_of: date | None = None) -> Collection:
    """Send a registered report to villages: one instance per village, pre-filled from the registry.

    Raises ``ReportError`` for a report that is not registered (an unregistered collection cannot
    be sent), for no villages, or for an area that is not a village of the sender's area.
    """
    if report.status != ReportStatus.REGISTERED:
        raise ReportError(_("Only a registered report can be sent; register “%(name)s” in the report catalog "
                            "first.") % {"name": report.name})
    if not areas:
        raise ReportError(_("Choose at least one village."))
    for area in areas:
        if area.level != AreaLevel.VILLAGE or not actor.can_see_area(area.code):
            raise ReportError(_("%(area)s is not a village you can send reports to.") % {"area": area.name})
    as_of = as_of or timezone.localdate()
    data = template_bytes(report)
    try:
        prepared = template_prepare(data=data, filename=report.template_filename, where=report.population_filter,
                                    context=report.department.code)
    except FillError as exc:
        raise ReportError(str(exc)) from None
    now = timezone.now()
    collection = Collection.objects.create(
        report=report, sent_by=actor, sent_at=now,
        due_date=due_date or (timezone.localdate() + timedelta(days=report.deadline_days)),
    )
    _prefill_instances(collection, prepared, sorted(set(areas), key=lambda a: a.code), as_of=as_of)
    audit_event(actor=actor, action=AuditAction.CREATE, obj=collection,
                after={"report": report.pk, "areas": sorted(a.code for a in areas),
                       "due_date": collection.due_date.isoformat()})
    from yici.inbox.services import task_from_collection  # one inbox: a task per village

    task_from_collection(collection=collection, actor=actor)
    return collection


def _prefill_instances(collection: Collection, prepared: Prepared, areas: list[Area], *, as_of: date) -> None:
    """One pre-filled instance per village: the population is read in one query for all of them
    (village by village), each village's rows written into its own copy of the template."""
    report = collection.report
    by_village = {a.code[:12]: a for a in areas}
    common = _common_area_of(areas)
    done: set[str] = set()

    def make(area: Area, rows: list[Row]) -> None:
        result = write_prepared(prepared, rows, filename=report.template_filename, area_name=area.name, as_of=as_of)
        ReportInstance.objects.create(
            collection=collection, area=area, workbook=result.workbook, filename=result.filename,
            rows=result.row_keys, gaps=result.gaps_json() + _unmapped_gaps(result), cells_filled=result.cells_filled,
        )
        done.add(area.code)

    for batch in population_batches(entity=prepared.entity, area=common, clauses=prepared.clauses, as_of=as_of,
                                    villages=set(by_village)):
        if prepared.entity == "person":
            make(by_village[batch[0].area_code[:12]], batch)
        else:  # one batch, in the entity's own order: split it by village
            for code, area in by_village.items():
                make(area, [r for r in batch if r.area_code[:12] == code])
    for area in areas:  # villages without any row still get their (empty) copy
        if area.code not in done:
            make(area, [])


@transaction.atomic
def instance_remind(*, instance: ReportInstance, actor) -> ReportInstance:
    """Remind a village that has not submitted (the status shows it, the count is kept)."""
    instance = ReportInstance.objects.select_for_update().get(pk=instance.pk)
    if instance.status == InstanceStatus.SUBMITTED:
        raise ReportError(_("This village has already submitted."))
    before = instance.status
    instance.status, instance.reminded_at = InstanceStatus.REMINDED, timezone.now()
    instance.reminder_count += 1
    instance.save(update_fields=["status", "reminded_at", "reminder_count"])
    audit_event(actor=actor, action=AuditAction.UPDATE, obj=instance, before={"status": before},
                after={"status": instance.status, "reminders": instance.reminder_count})
    return instance


def collection_remind(*, collection: Collection, actor) -> int:
    """Remind every village of the collection that has not submitted; returns how many."""
    pending = collection.instances.exclude(status=InstanceStatus.SUBMITTED)
    for instance in pending:
        instance_remind(instance=instance, actor=actor)
    return len(pending)


# --- gap-only entry ------------------------------------------------------------------------------

@dataclass
class EntryResult:
    errors: dict[str, str]  # "key|letter" → why the typed value was rejected
    typed: int  # cells holding a typed value after this save
    submitted: bool


def cell_id(key: str, letter: str) -> str:
    return f"{key}|{letter}"


@transaction.atomic
def instance_save(*, instance: ReportInstance, entries: dict[str, str], actor, submit: bool = False) -> EntryResult:
    """Keep what the cadre typed into the gaps (``entries``: ``cell_id`` → text), and on ``submit``
    write it to the registry.

    Values of mapped columns are checked with the registry normaliser: a failing value is rejected
    with its reason and the rest kept; a submit with any rejected value stays in progress. On
    submit each row's values become one ``SourceRecord`` (kind report) linked to the row's golden
    record, whose golden values are recomputed, so the next template gets them. Only gap cells
    are taken; anything else in ``entries`` is ignored.
    """
    instance = ReportInstance.objects.select_for_update().select_related("collection__report").get(pk=instance.pk)
    if instance.status == InstanceStatus.SUBMITTED:
        raise ReportError(_("This report has already been submitted."))
    errors = _take_entries(instance, entries, element_specs_from_catalog())
    return _save_entries(instance, errors=errors, actor=actor, submit=submit)


def _take_entries(instance: ReportInstance, entries: dict[str, str], specs) -> dict[str, str]:
    """Lay ``entries`` (``cell_id`` → text) over the instance's typed values, gap cells only;
    returns the rejected cells' reasons (a rejected cell keeps its former value)."""
    values, unmapped = dict(instance.values), dict(instance.unmapped_values)
    errors: dict[str, str] = {}
    for gap in instance.gaps:
        cid = cell_id(gap["key"], gap["column"])
        if cid not in entries:
            continue
        raw = (entries[cid] or "").strip()
        target = values if gap["element"] else unmapped
        row = dict(target.get(gap["key"], {}))
        if not raw:
            row.pop(gap["column"], None)
        elif gap["element"]:
            value, error = validate_value(specs, gap["element"], raw)
            if error:
                errors[cid] = error
                continue
            row[gap["column"]] = value
        else:
            row[gap["column"]] = raw[:500]
        if row:
            target[gap["key"]] = row
        else:
            target.pop(gap["key"], None)
    instance.values, instance.unmapped_values = values, unmapped
    return errors


def validate_value(specs, element: str, raw: str) -> tuple[str, str]:
    """The registry spelling of ``raw`` for ``element`` and "", or "" and why it is rejected (the
    registry normaliser: ID check digits, dates, phone numbers, code lists …)."""
    spec = specs.get(element)
    normalized = normalize(spec, raw) if spec is not None else None
    if normalized is None or not normalized.ok or not normalized.value:
        reasons = [i.message for i in (normalized.issues if normalized else ()) if i.level == ERROR]
        return "", "; ".join(reasons) or _("This value cannot be read.")
    return normalized.value, ""


def _typed_count(instance: ReportInstance) -> int:
    return (sum(len(v) for v in instance.values.values()) + sum(len(v) for v in instance.unmapped_values.values())
            + sum(len(v) for v in instance.corrections.values()))


def _save_entries(instance: ReportInstance, *, errors: dict[str, str], actor, submit: bool) -> EntryResult:
    typed = _typed_count(instance)
    submitted = submit and not errors
    if submitted:
        _write_registry(instance, actor)
        instance.status, instance.submitted_by, instance.submitted_at = InstanceStatus.SUBMITTED, actor, timezone.now()
        report = instance.collection.report
        burden_record(metric=BurdenMetric.FIELDS_AUTOFILLED, count=instance.cells_filled, user=actor,
                      area_code=instance.area.code, context=report.name[:100])
        burden_record(metric=BurdenMetric.FIELDS_TYPED, count=typed, user=actor, area_code=instance.area.code,
                      context=report.name[:100])
        audit_event(actor=actor, action=AuditAction.UPDATE, obj=instance, after={"status": instance.status,
                    "typed": typed})
    elif instance.status != InstanceStatus.REMINDED or typed:
        instance.status = InstanceStatus.IN_PROGRESS
    instance.save()
    return EntryResult(errors=errors, typed=typed, submitted=submitted)


# --- the workbook uploaded back -------------------------------------------------------------------

@dataclass
class UploadResult:
    taken: int  # values taken into gap cells
    corrections: int  # pre-filled values changed, kept as proposed corrections
    unchanged: int  # rows read that changed nothing
    cleared: int  # pre-filled cells emptied in the workbook: not taken (a blank does not remove a value)
    rows: int  # rows matched
    rejected: list[str] = field(default_factory=list)  # "row 7, 联系电话: reason"
    unmatched: list[str] = field(default_factory=list)
    submitted: bool = False


@transaction.atomic
def instance_upload(*, instance: ReportInstance, data: bytes, filename: str, actor,
                    submit: bool = False) -> UploadResult:
    """Read the workbook the cadre filled (the downloaded one) back into the instance.

    The rows are matched to the rows Yici wrote (``upload.read_upload`` explains how; rows it
    cannot place are reported, not guessed). Gap cells with a value are taken exactly as typed on
    the gap page — mapped columns checked by the registry normaliser, a failing value rejected
    with its row and column, the rest kept — and columns without an element kept with the
    instance. A changed pre-filled value of a mapped column, checked the same way, is kept as a
    proposed correction: on submit it becomes a report record like the typed values, and the
    registry's survivorship decides whether it replaces the golden value. Cells Yici filled and
    the cadre left alone change nothing. A wrong file (not an .xlsx, damaged, password-protected,
    another template) raises ``ReportError`` and nothing is stored.
    """
    from yici.reports.upload import UploadError, read_upload

    instance = ReportInstance.objects.select_for_update().select_related("collection__report__department",
                                                                         "area").get(pk=instance.pk)
    if instance.status == InstanceStatus.SUBMITTED:
        raise ReportError(_("This report has already been submitted."))
    report = instance.collection.report
    try:
        prepared = template_prepare(data=template_bytes(report), filename=report.template_filename,
                                    where=report.population_filter, context=report.department.code)
    except FillError as exc:
        raise ReportError(str(exc)) from None
    try:
        read = read_upload(data, own=bytes(instance.workbook), layout=prepared.layout, plans=prepared.plans,
                           entity=prepared.entity, row_keys=instance.rows)
    except UploadError as exc:
        raise ReportError(str(exc), field="file") from None
    gaps = {(g["key"], g["column"]): g for g in instance.gaps}
    plans = {p.letter: p for p in prepared.plans}
    specs = element_specs_from_catalog()
    entries: dict[str, str] = {}
    where: dict[str, tuple[int, str]] = {}  # cell id → (their row, header) for the messages
    corrections = {key: dict(cells) for key, cells in instance.corrections.items()}
    result = UploadResult(taken=0, corrections=0, unchanged=0, cleared=0, rows=len(read.rows),
                          unmatched=read.unmatched)
    for row in read.rows:
        changed = False
        for letter, text in row.cells.items():
            plan = plans.get(letter)
            gap = gaps.get((row.key, letter))
            if gap is not None:
                if text:
                    cid = cell_id(row.key, letter)
                    entries[cid] = text
                    where[cid] = (row.sheet_row, gap["header"])
                    changed = True
                continue
            if plan is None or not plan.element:
                continue
            before = row.before.get(letter, "")
            if _same(text, before):
                continue
            if not text:
                result.cleared += 1
                continue
            value, error = validate_value(specs, plan.element, text)
            if error:
                result.rejected.append(_("Row %(row)d, %(header)s: %(reason)s")
                                       % {"row": row.sheet_row, "header": plan.column.header_text, "reason": error})
                continue
            if _same(value, before):
                continue  # the same value spelled otherwise (a date, a phone with spaces)
            corrections.setdefault(row.key, {})[letter] = {"value": value, "was": before, "element": plan.element}
            result.corrections += 1
            changed = True
        if not changed:
            result.unchanged += 1
    errors = _take_entries(instance, entries, specs)
    for cid, reason in errors.items():
        sheet_row, header = where[cid]
        result.rejected.append(_("Row %(row)d, %(header)s: %(reason)s")
                               % {"row": sheet_row, "header": header, "reason": reason})
    result.taken = len(entries) - len(errors)
    instance.corrections = corrections
    instance.uploaded_at, instance.upload_filename = timezone.now(), Path(filename).name[:255]
    audit_event(actor=actor, action=AuditAction.UPDATE, obj=instance, after={
        "uploaded": instance.upload_filename, "taken": result.taken, "corrections": result.corrections,
        "rejected": len(result.rejected), "unmatched": len(result.unmatched)})
    # A rejected value keeps the instance open (as on the gap page): the cadre corrects it first.
    saved = _save_entries(instance, errors={"upload": "rejected"} if result.rejected else {}, actor=actor,
                          submit=submit)
    result.submitted = saved.submitted
    return result


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _write_registry(instance: ReportInstance, actor) -> None:
    """One report record per golden record the typed values describe, linked directly, then the
    golden values recomputed."""
    elements = {(g["key"], g["column"]): g["element"] for g in instance.gaps if g["element"]}
    typed: dict[str, dict[str, str]] = {key: dict(cells) for key, cells in instance.values.items()}
    # Corrections of pre-filled values (an uploaded workbook's): report records like the rest —
    # survivorship decides whether they change the golden value.
    for key, cells in instance.corrections.items():
        for letter, correction in cells.items():
            elements[(key, letter)] = correction["element"]
            typed.setdefault(key, {})[letter] = correction["value"]
    report = instance.collection.report
    now = timezone.now()
    touched: dict[str, set[int]] = defaultdict(set)
    for key, cells in typed.items():
        entity, _sep, pk = key.partition(":")
        obj = golden_current(entity, int(pk)) if pk.isdigit() and entity in ENTITY_MODELS else None
        if obj is None:
            continue
        per_target: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        for letter, value in cells.items():
            element = elements.get((key, letter))
            if not element:
                continue
            target_entity = element.split(".", 1)[0]
            if target_entity == entity:
                per_target[(entity, obj.pk)][element] = value
            elif entity == "person" and target_entity == "household" and obj.household_id:
                per_target[("household", obj.household_id)][element] = value
        for (target_entity, target_pk), record_values in per_target.items():
            target = obj if target_entity == entity else golden_current(target_entity, target_pk)
            if target is None:
                continue
            golden_keep_baseline(entity=target_entity, obj=target, actor=actor,
                                 context=_("registry values before a report"))
            record = SourceRecord.objects.create(
                kind=SourceKind.REPORT, entity=target_entity, values=record_values, raw=record_values,
                area_code=target.area_code or instance.area.code, observed_at=now, actor=actor,
                context=report.name[:200],
            )
            Link.objects.create(record=record, method=LinkMethod.DIRECT, created_by=actor,
                                **{target_entity: target})
            touched[target_entity].add(target.pk)
    for entity, ids in touched.items():
        recompute_golden(entity, ids)


# --- the consolidated workbook (汇总) ----------------------------------------------------------------

@dataclass
class Consolidated:
    workbook: bytes
    filename: str
    rows: int


def collection_workbook(*, collection: Collection, per_village: bool = False, as_of: date | None = None,
                        actor=None) -> Consolidated:
    """All villages' rows in one sheet in the department's layout, with the typed gap values.

    The rows are each village's population as of now (so submitted values already in the registry
    show), and the typed values of every instance are laid over them, including those of columns
    without an element. ``per_village`` adds one sheet per village after the department's own.
    """
    report = collection.report
    as_of = as_of or timezone.localdate()
    # (Not the instances' workbooks, rows and gaps: at a county's size they are the bulk of the data.)
    instances = list(collection.instances.select_related("area").defer("workbook", "rows", "gaps")
                     .order_by("area__code"))
    data = template_bytes(report)
    try:
        prepared = template_prepare(data=data, filename=report.template_filename,
                                    where=report.population_filter, context=report.department.code)
    except FillError as exc:
        raise ReportError(str(exc)) from None
    common = _common_area(instances)
    if common is None:
        raise ReportError(_("This collection has no villages."))
    # The typed values of every instance, laid over its village's rows (columns without an
    # element too); one population query for the whole collection, streamed into the sheet.
    typed: dict[str, dict[str, dict[str, str]]] = {}
    for instance in instances:
        by_key = typed.setdefault(instance.area.code[:12], {})
        for source in (instance.values, instance.unmapped_values):
            for key, cells in source.items():
                by_key.setdefault(key, {}).update(cells)
    job = FillJob(data=data, filename=report.template_filename, where=report.population_filter,
                  context=report.department.code, area_code=common.code, as_of=as_of,
                  villages={i.area.code[:12] for i in instances}, collect_gaps=False, typed=typed,
                  per_village={i.area.code[:12]: i.area.name for i in instances} if per_village else None,
                  area_names={i.area.code[:12]: i.area.name for i in instances})
    try:
        result = fill_area(prepared, job, area=common, area_name=common.name)
    except FillError as exc:
        raise ReportError(str(exc)) from None
    workbook = result.workbook
    audit_event(actor=actor, action=AuditAction.EXPORT, obj=collection, after={"rows": result.rows})
    name = f"{Path(report.template_filename).stem}-汇总.xlsx"
    return Consolidated(workbook, name, result.rows)


def _common_area(instances: list[ReportInstance]) -> Area | None:
    """The smallest area holding every village of the collection (the 填报单位 of the summary)."""
    return _common_area_of([i.area for i in instances])


def _common_area_of(areas: list[Area]) -> Area | None:
    if not areas:
        return None
    area = areas[0]
    while area is not None and not all(a.code.startswith(area.prefix) for a in areas):
        area = area.parent
    return area

