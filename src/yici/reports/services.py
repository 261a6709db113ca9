"""Fill once (一表通): a department's template filled from the registry.

``template_fill`` reads the template (``layout``), maps its columns to catalog elements and
decides which records its rows are (``fill.plan_columns``), selects the area's golden records
through the filter (``population``), writes them into the department's own layout
(``fill.write_workbook``) and counts the cells it saved a cadre from typing (burden metric
``fields_autofilled``). Cells it could not fill are returned as gaps, for gap-only entry.
"""

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.accounts.models import Area
from yici.burden.models import BurdenMetric
from yici.burden.services import burden_record
from yici.catalog.mapping import element_index
from yici.reports.fill import ColumnPlan, Gap, plan_columns, prepare_writers, row_entity, write_workbook
from yici.reports.layout import TemplateError, template_read
from yici.reports.population import FilterError, check_reachable, parse_where, population

__all__ = ["FillError", "FillResult", "template_fill"]


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

    def line(self) -> str:
        return _(
            "%(file)s: %(mapped)d of %(cols)d columns mapped, %(filled)d of %(cells)d cells filled, %(rows)d rows"
        ) % {"file": self.filename, "mapped": self.columns_mapped, "cols": self.columns_total,
             "filled": self.cells_filled, "cells": self.cells_total, "rows": self.rows}

    def gaps_json(self) -> list[dict]:
        return [g.as_json() for g in self.gaps]


@transaction.atomic
def template_fill(*, data: bytes, filename: str, area: Area, where: str = "all", as_of: date | None = None,
                  actor=None, context: str = "") -> FillResult:
    """Fill the template ``data`` (.xlsx or .xls) with the golden records of ``area``'s subtree that
    ``where`` selects (``population`` documents the grammar), ages as of ``as_of`` (default today).

    ``context`` is a department code whose remembered header confirmations apply. Raises ``FillError``.
    """
    as_of = as_of or timezone.localdate()
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
    rows = population(entity=entity, area=area, clauses=clauses, as_of=as_of)
    outcome = write_workbook(layout, plans, rows, area_name=area.name, as_of=as_of)
    mapped = [p for p in plans if p.element]
    result = FillResult(
        workbook=outcome.workbook, filename=str(Path(filename).with_suffix(".xlsx")), sheet_name=layout.sheet_name,
        entity=entity, columns_total=len(layout.data_columns), columns_mapped=len(mapped),
        cells_total=len(rows) * len(mapped), cells_filled=outcome.cells_filled, rows=len(rows), gaps=outcome.gaps,
        columns=plans, converted_from=layout.converted_from,
    )
    burden_record(metric=BurdenMetric.FIELDS_AUTOFILLED, count=outcome.cells_filled, user=actor,
                  area_code=area.code, context=(layout.title or Path(filename).stem)[:100])
    return result
