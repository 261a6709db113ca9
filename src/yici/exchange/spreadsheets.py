"""Workbooks for line systems that only take uploads (the ``spreadsheet`` connector).

A period's staged rows are written into the system's own import template when it has one (the
header row is the row that names most of the system's mapped fields; data goes below it, in the
template's styles) or into a plain sheet with those fields as headers. The workbook is kept by
content for download and copied to the system's drop folder, where the department's upload job
picks it up.
"""

import io
import re
from copy import copy
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from yici.common.files import content_path, content_store
from yici.exchange.connectors.spreadsheet import period_key

FOLDER = "exchange-sheets"


class SpreadsheetExportError(Exception):
    """The workbook cannot be made (the message is one line)."""


@dataclass
class HeaderPlan:
    row: int
    columns: dict[str, int]  # their field name → column number


def _find_header(sheet, fields: list[str]) -> HeaderPlan | None:
    wanted = {f.strip(): f for f in fields}
    best: HeaderPlan | None = None
    for row in sheet.iter_rows(min_row=1, max_row=min(sheet.max_row, 30)):
        columns = {}
        for cell in row:
            text = str(cell.value).strip() if cell.value is not None else ""
            if text in wanted:
                columns[wanted[text]] = cell.column
        if columns and (best is None or len(columns) > len(best.columns)):
            best = HeaderPlan(row=row[0].row, columns=columns)
    return best


def template_upload(*, system, data: bytes, filename: str, actor=None) -> None:
    """Keep the system's import template (checked: an .xlsx whose header names at least one mapped field)."""
    fields = list(system.field_mappings.values_list("field_name", flat=True))
    try:
        workbook = load_workbook(io.BytesIO(data))
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise SpreadsheetExportError(f"{filename} is not an .xlsx workbook ({type(exc).__name__})") from exc
    if _find_header(workbook.worksheets[0], fields) is None:
        raise SpreadsheetExportError(f"{filename}: no header row names any of this system's fields")
    digest = content_store(FOLDER, data)
    endpoint = system.endpoint
    endpoint.config = {**endpoint.config, "template_sha256": digest, "template_filename": Path(filename).name[:200]}
    endpoint.save(update_fields=["config"])


def current_period(system) -> str:
    return period_key(system.endpoint.config.get("period", "month"), timezone.localdate())


def spreadsheet_export(*, system, period: str, actor=None):
    """Make (or make again) the workbook of ``period`` for ``system``; returns the ``SpreadsheetExport``."""
    from yici.exchange.models import SpreadsheetExport, SpreadsheetRow

    if not re.fullmatch(r"\d{4}-(\d{2}(-\d{2})?|W\d{2})", period):
        raise SpreadsheetExportError(f"{period!r} is not a period (2026-11, 2026-W48 or 2026-11-26)")
    endpoint = getattr(system, "endpoint", None)
    if endpoint is None or endpoint.kind != "spreadsheet":
        raise SpreadsheetExportError(f"{system.code} does not take spreadsheets")
    fields = list(system.field_mappings.order_by("id").values_list("field_name", flat=True))
    rows = list(SpreadsheetRow.objects.filter(system=system, period=period).order_by("entity", "golden_id"))
    workbook, sheet, plan = _open_template(endpoint, fields)
    first = plan.row + 1
    styles = {col: sheet.cell(first, col) for col in plan.columns.values()}
    for offset, row in enumerate(rows):
        for field, col in plan.columns.items():
            cell = sheet.cell(first + offset, col, row.data.get(field, ""))
            model = styles.get(col)
            if model is not None and model.has_style and offset:
                cell._style = copy(model._style)
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = buffer.getvalue()
    digest = content_store(FOLDER, data)
    filename = f"{system.code}-{period}.xlsx"
    drop_dir = Path(endpoint.config.get("drop_dir") or settings.YICI_DROP_DIR / system.code)
    drop_path = ""
    try:
        drop_dir.mkdir(parents=True, exist_ok=True)
        target = drop_dir / filename
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(target)  # the upload job never sees half a file
        drop_path = str(target)
    except OSError as exc:
        raise SpreadsheetExportError(f"cannot write to the drop folder {drop_dir}: {exc.strerror}") from exc
    with transaction.atomic():
        export = SpreadsheetExport.objects.create(system=system, period=period, filename=filename, sha256=digest,
                                                  rows=len(rows), drop_path=drop_path)
        if actor is not None:
            from yici.audit.models import AuditAction
            from yici.audit.services import audit_event

            audit_event(actor=actor, action=AuditAction.EXPORT, obj=export,
                        after={"period": period, "rows": len(rows)})
    return export


def _open_template(endpoint, fields: list[str]):
    digest = endpoint.config.get("template_sha256")
    if digest:
        path = content_path(FOLDER, digest)
        if path.exists():
            workbook = load_workbook(io.BytesIO(path.read_bytes()))
            sheet = workbook.worksheets[0]
            plan = _find_header(sheet, fields)
            if plan is not None:
                return workbook, sheet, plan
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = endpoint.system.name[:31] or "data"
    for col, field in enumerate(fields, start=1):
        sheet.cell(1, col, field)
    return workbook, sheet, HeaderPlan(row=1, columns={f: n for n, f in enumerate(fields, start=1)})


def export_closed_periods() -> int:
    """Export every past period that has staged rows and no workbook yet (the worker calls this)."""
    from yici.exchange.models import LineSystem, SpreadsheetExport, SpreadsheetRow

    made = 0
    for system in LineSystem.objects.filter(endpoint__kind="spreadsheet", endpoint__active=True).select_related(
        "endpoint"
    ):
        current = current_period(system)
        done = set(SpreadsheetExport.objects.filter(system=system).values_list("period", flat=True))
        periods = set(SpreadsheetRow.objects.filter(system=system).values_list("period", flat=True).distinct())
        for period in sorted(p for p in periods - done if p < current):
            spreadsheet_export(system=system, period=period)
            made += 1
    return made
