"""Fill once (一表通): a department's template filled from the registry.

``template_fill`` reads the template (``layout``), maps its columns to catalog elements and
decides which records its rows are (``fill.plan_columns``), selects the area's golden records
through the filter (``population``), writes them into the department's own layout
(``fill.write_workbook``) and counts the cells it saved a cadre from typing (burden metric
``fields_autofilled``). Cells it could not fill are returned as gaps, for gap-only entry.

The report catalog and collections build on it: ``report_draft``/``report_register`` put a
template in the catalog (only a registered report can be sent), ``collection_send`` pre-fills one
instance per village, ``instance_save`` takes the cadre's gap values (validated by the registry
normaliser) and on submit writes them to the registry as report records, ``collection_workbook``
makes the department's summary (汇总).
"""

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import openpyxl
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
from yici.registry.golden import element_values
from yici.registry.models import Link, LinkMethod, SourceKind, SourceRecord
from yici.registry.normalize import ERROR, element_specs_from_catalog, normalize
from yici.registry.reconcile import recompute_golden
from yici.reports.fill import ColumnPlan, Gap, plan_columns, prepare_writers, row_entity, write_workbook
from yici.reports.layout import TemplateError, TemplateLayout, template_read
from yici.reports.models import Collection, Frequency, InstanceStatus, Report, ReportInstance, ReportStatus
from yici.reports.population import (
    DERIVED,
    ENTITY_MODELS,
    Clause,
    FilterError,
    Row,
    check_reachable,
    parse_where,
    population,
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
    layout, plans = prepared.layout, prepared.plans
    outcome = write_workbook(layout, plans, rows, area_name=area_name, as_of=as_of)
    mapped = [p for p in plans if p.element]
    return FillResult(
        workbook=outcome.workbook, filename=str(Path(filename).with_suffix(".xlsx")), sheet_name=layout.sheet_name,
        entity=prepared.entity, columns_total=len(layout.data_columns), columns_mapped=len(mapped),
        cells_total=len(rows) * len(mapped), cells_filled=outcome.cells_filled, rows=len(rows), gaps=outcome.gaps,
        columns=plans, converted_from=layout.converted_from,
        row_keys=[{"key": r.key, "row": layout.first_data_row + i, "label": row_label(r)} for i, r in enumerate(rows)],
    )


@transaction.atomic
def template_fill(*, data: bytes, filename: str, area: Area, where: str = "all", as_of: date | None = None,
                  actor=None, context: str = "", burden_context: str | None = None,
                  record_burden: bool = True) -> FillResult:
    """Fill the template ``data`` (.xlsx or .xls) with the golden records of ``area``'s subtree that
    ``where`` selects (``population`` documents the grammar), ages as of ``as_of`` (default today).

    ``context`` is a department code whose remembered header confirmations apply; ``burden_context``
    names the filled cells' burden counter (default: the template's title). Raises ``FillError``.
    """
    as_of = as_of or timezone.localdate()
    prepared = template_prepare(data=data, filename=filename, where=where, context=context)
    rows = population(entity=prepared.entity, area=area, clauses=prepared.clauses, as_of=as_of)
    result = write_prepared(prepared, rows, filename=filename, area_name=area.name, as_of=as_of)
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
    for area in sorted(set(areas), key=lambda a: a.code):
        rows = population(entity=prepared.entity, area=area, clauses=prepared.clauses, as_of=as_of)
        result = write_prepared(prepared, rows, filename=report.template_filename, area_name=area.name, as_of=as_of)
        ReportInstance.objects.create(
            collection=collection, area=area, workbook=result.workbook, filename=result.filename,
            rows=result.row_keys, gaps=result.gaps_json() + _unmapped_gaps(result), cells_filled=result.cells_filled,
        )
    audit_event(actor=actor, action=AuditAction.CREATE, obj=collection,
                after={"report": report.pk, "areas": sorted(a.code for a in areas),
                       "due_date": collection.due_date.isoformat()})
    return collection


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
    specs = element_specs_from_catalog()
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
            spec = specs.get(gap["element"])
            normalized = normalize(spec, raw) if spec is not None else None
            if normalized is None or not normalized.ok or not normalized.value:
                reasons = [i.message for i in (normalized.issues if normalized else ()) if i.level == ERROR]
                errors[cid] = "; ".join(reasons) or _("This value cannot be read.")
                continue
            row[gap["column"]] = normalized.value
        else:
            row[gap["column"]] = raw[:500]
        if row:
            target[gap["key"]] = row
        else:
            target.pop(gap["key"], None)
    instance.values, instance.unmapped_values = values, unmapped
    typed = sum(len(v) for v in values.values()) + sum(len(v) for v in unmapped.values())
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


def _golden(entity: str, pk: int):
    """The golden record ``pk`` or, if it has been merged since, the one it was merged into."""
    model = ENTITY_MODELS[entity]
    obj = model.objects.filter(pk=pk).first()
    for _step in range(5):
        if obj is None or obj.merged_into_id is None:
            break
        obj = model.objects.filter(pk=obj.merged_into_id).first()
    return obj


def _write_registry(instance: ReportInstance, actor) -> None:
    """One report record per golden record the typed values describe, linked directly, then the
    golden values recomputed."""
    elements = {(g["key"], g["column"]): g["element"] for g in instance.gaps if g["element"]}
    report = instance.collection.report
    now = timezone.now()
    touched: dict[str, set[int]] = defaultdict(set)
    for key, cells in instance.values.items():
        entity, _sep, pk = key.partition(":")
        obj = _golden(entity, int(pk)) if pk.isdigit() and entity in ENTITY_MODELS else None
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
            target = obj if target_entity == entity else _golden(target_entity, target_pk)
            if target is None:
                continue
            _keep_baseline(target_entity, target, actor)
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


def _keep_baseline(entity: str, obj, actor) -> None:
    """A golden record made without any source (by hand, or in a test) would lose its values when
    they are recomputed from its links: its present values become a record of their own first."""
    if Link.objects.filter(active=True, **{entity: obj}).exists():
        return
    values = {k: v for k, v in element_values(entity, obj).items() if k not in DERIVED and v}
    record = SourceRecord.objects.create(
        kind=SourceKind.USER, entity=entity, values=values, raw=values, area_code=obj.area_code,
        observed_at=obj.updated_at or obj.created_at, actor=None, context=_("registry values before a report"),
    )
    Link.objects.create(record=record, method=LinkMethod.DIRECT, created_by=actor, **{entity: obj})


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
    instances = list(collection.instances.select_related("area").order_by("area__code"))
    try:
        prepared = template_prepare(data=template_bytes(report), filename=report.template_filename,
                                    where=report.population_filter, context=report.department.code)
    except FillError as exc:
        raise ReportError(str(exc)) from None
    by_letter = {p.letter: p for p in prepared.plans}
    all_rows: list[Row] = []
    unmapped: list[dict[str, str]] = []  # per row: letter → typed text
    per_area: list[tuple[Area, int, int]] = []
    for instance in instances:
        rows = population(entity=prepared.entity, area=instance.area, clauses=prepared.clauses, as_of=as_of)
        start = len(all_rows)
        for row in rows:
            for letter, value in instance.values.get(row.key, {}).items():
                plan = by_letter.get(letter)
                if plan is not None and plan.element:
                    row.values[plan.element] = value
            all_rows.append(row)
            unmapped.append(instance.unmapped_values.get(row.key, {}))
        per_area.append((instance.area, start, len(all_rows)))
    common = _common_area(instances)
    result = write_prepared(prepared, all_rows, filename=report.template_filename,
                            area_name=common.name if common else "", as_of=as_of)
    workbook = result.workbook
    # Re-opening with openpyxl costs far more than the fast write itself: only when there is
    # something to lay over the rows (typed values of columns without an element) or to split.
    if per_village or any(unmapped):
        book = openpyxl.load_workbook(io.BytesIO(result.workbook))
        ws = book[result.sheet_name]
        first = prepared.layout.first_data_row
        for i, typed in enumerate(unmapped):
            for letter, text in typed.items():
                ws[f"{letter}{first + i}"] = text
        if per_village:
            for area, start, end in per_area:
                sheet = book.copy_worksheet(ws)
                sheet.title = area.name[:31]
                keep = set(range(first + start, first + end))
                for r in range(first + len(all_rows) - 1, first - 1, -1):
                    if r not in keep:
                        sheet.delete_rows(r)
        out = io.BytesIO()
        book.save(out)
        workbook = out.getvalue()
    audit_event(actor=actor, action=AuditAction.EXPORT, obj=collection, after={"rows": len(all_rows)})
    name = f"{Path(report.template_filename).stem}-汇总.xlsx"
    return Consolidated(workbook, name, len(all_rows))


def _common_area(instances: list[ReportInstance]) -> Area | None:
    """The smallest area holding every village of the collection (the 填报单位 of the summary)."""
    if not instances:
        return None
    area = instances[0].area
    while area is not None and not all(i.area.code.startswith(area.prefix) for i in instances):
        area = area.parent
    return area
