"""Understanding a department's template: where its rows go and what each column accepts.

``read_table`` (the legacy importer's reader) already finds the title, the 填报单位 line, the
header block, the 序号 column, the first data row and the footer. Filling needs more: the
drop-down lists of each column (inline ``"男,女"`` or a range on a possibly hidden 字典 sheet),
the number format of the first data row, how many empty rows the department pre-formatted, and
whether the sheet can be filled at all (a protected sheet or formulas in the data rows cannot).
An old .xls template is converted to .xlsx first (``reports.xls``).
"""

import io
import re
from dataclasses import dataclass, field
from typing import Any

import openpyxl
from django.utils.translation import gettext as _
from openpyxl.utils import range_boundaries

from yici.exchange.tabular import CFB_SIGNATURE, ZIP_SIGNATURE, CellRange, TableError, read_table


class TemplateError(Exception):
    """The template cannot be filled; the message is one line a person can act on."""


@dataclass(frozen=True)
class Dropdown:
    """A list-type data validation over a column's data cells."""

    options: tuple[Any, ...]  # as the list holds them (text, or numbers from a 字典 sheet)
    source: str  # inline | sheet
    formula: str

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(option_text(o) for o in self.options)


@dataclass
class TemplateColumn:
    index: int  # 0-based
    letter: str
    header_text: str
    header_path: tuple[str, ...]
    is_seq: bool = False
    dropdown: Dropdown | None = None
    number_format: str = "General"  # of the first data row's cell ("General" without pre-formatted rows)


@dataclass
class TemplateLayout:
    filename: str
    data: bytes  # the workbook as .xlsx (converted when the template was .xls)
    sheet_name: str
    sheet_names: list[str]
    title_rows: list[int]
    fill_line_rows: list[int]
    header_rows: list[int]
    colnum_row: int | None
    first_data_row: int
    prefilled_rows: int  # formatted rows from first_data_row on, empty or holding rows the fill replaces
    footer_rows: list[int]
    columns: list[TemplateColumn]
    seq_column: int | None
    merges: list[CellRange] = field(default_factory=list)
    title: str = ""
    converted_from: str = ""  # "xls" when the template was converted

    @property
    def data_columns(self) -> list[TemplateColumn]:
        """Columns with a header, other than 序号."""
        return [c for c in self.columns if not c.is_seq and c.header_path]


def option_text(value: Any) -> str:
    """A drop-down option as the cell shows it: 1.0 → "1"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def template_read(data: bytes, *, filename: str) -> TemplateLayout:
    """Read a template (.xlsx, or .xls converted to .xlsx). Raises ``TemplateError``."""
    if data.startswith(CFB_SIGNATURE):
        from yici.reports.xls import xls_to_xlsx

        data, converted = xls_to_xlsx(data, filename=filename), "xls"
    elif data.startswith(ZIP_SIGNATURE):
        converted = ""
    elif not data.strip():
        raise TemplateError(_("The file is empty."))
    else:
        raise TemplateError(_("A template must be an Excel workbook (.xlsx or .xls)."))
    try:
        table = read_table(data, filename=filename)
    except TableError as exc:
        raise TemplateError(str(exc)) from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data))
    except Exception as exc:  # the reader accepted it, so this is rare: a part openpyxl cannot parse
        raise TemplateError(_("The workbook could not be opened for filling: %(err)s") % {"err": exc}) from None
    ws = book[table.sheet_name]
    if ws.protection.sheet:
        raise TemplateError(
            _("Sheet “%(sheet)s” is protected; remove the protection in Excel (Review → Unprotect Sheet) and "
              "upload it again.") % {"sheet": ws.title}
        )
    last_col = max(len(table.columns), 1)
    _refuse_formulas(ws, table.first_data_row, last_col)
    columns = [
        TemplateColumn(index=c.index, letter=c.letter, header_text=c.header_text, header_path=c.header_path,
                       is_seq=c.index == table.seq_column)
        for c in table.columns
    ]
    footer_start = table.footer_rows[0] if table.footer_rows else None
    prefilled = _prefilled_rows(ws, table.first_data_row, footer_start, last_col)
    if table.rows:  # rows already filled in (a sample, or the last report's): the fill replaces them
        prefilled = max(prefilled, table.rows[-1].sheet_row - table.first_data_row + 1)
    if prefilled:
        for col in columns:
            col.number_format = ws.cell(table.first_data_row, col.index + 1).number_format or "General"
    dropdowns = _dropdowns(book, ws, table.first_data_row)
    for col in columns:
        col.dropdown = dropdowns.get(col.index + 1)
    title = ""
    if table.title_rows:
        title = next((str(c.value).strip() for c in ws[table.title_rows[0]] if c.value not in (None, "")), "")
    return TemplateLayout(
        filename=filename, data=data, sheet_name=table.sheet_name, sheet_names=table.sheet_names,
        title_rows=table.title_rows, fill_line_rows=table.fill_line_rows, header_rows=table.header_rows,
        colnum_row=table.colnum_row, first_data_row=table.first_data_row, prefilled_rows=prefilled,
        footer_rows=table.footer_rows, columns=columns, seq_column=table.seq_column, merges=table.merges,
        title=title, converted_from=converted,
    )


def _refuse_formulas(ws, first_data_row: int, last_col: int) -> None:
    """Formulas below the header would be overwritten or left pointing at the wrong rows."""
    for row in ws.iter_rows(min_row=first_data_row, max_col=max(last_col, ws.max_column)):
        for cell in row:
            if cell.data_type == "f":
                raise TemplateError(
                    _("Cell %(cell)s below the header holds a formula (%(formula)s); Yici fills values only. "
                      "Remove the formulas from the data and footer rows and upload the template again.")
                    % {"cell": cell.coordinate, "formula": str(getattr(cell.value, "text", cell.value))[:40]}
                )


def _prefilled_rows(ws, first: int, footer_start: int | None, last_col: int) -> int:
    """Formatted, empty rows the department prepared from the first data row on (序号 may be pre-numbered)."""
    end = footer_start if footer_start is not None else ws.max_row + 1
    count = 0
    for r in range(first, end):
        cells = [ws.cell(r, c) for c in range(1, last_col + 1)]
        if not any(c.has_style for c in cells):
            break
        count += 1
    return count


_SHEET_REF = re.compile(r"^(?:'((?:[^']|'')+)'|([^'!]+))!(.+)$")


def _dropdowns(book, ws, first_data_row: int) -> dict[int, Dropdown]:
    """List validations over data cells, by 1-based column."""
    found: dict[int, Dropdown] = {}
    for dv in ws.data_validations.dataValidation:
        if dv.type != "list" or not dv.formula1:
            continue
        dropdown = _dropdown(book, ws, dv.formula1)
        if dropdown is None:
            continue
        for rng in dv.sqref.ranges:
            if rng.max_row < first_data_row:
                continue
            for col in range(rng.min_col, rng.max_col + 1):
                found.setdefault(col, dropdown)
    return found


def _dropdown(book, ws, formula: str) -> Dropdown | None:
    formula = formula.strip()
    if formula.startswith('"') and formula.endswith('"'):
        options = tuple(o.strip() for o in formula[1:-1].replace('""', '"').split(",") if o.strip())
        return Dropdown(options, "inline", formula) if options else None
    ref = formula.lstrip("=")
    target_ws, cells = ws, ref
    match = _SHEET_REF.match(ref)
    if match:
        name = (match.group(1) or "").replace("''", "'") or match.group(2)
        if name not in book.sheetnames:
            return None
        target_ws, cells = book[name], match.group(3)
    elif not re.match(r"^\$?[A-Z]{1,3}\$?\d+(:\$?[A-Z]{1,3}\$?\d+)?$", ref):
        destinations = _defined_name(book, ws, ref)
        if destinations is None:
            return None  # INDIRECT(…) and other computed lists: their options cannot be known
        sheet_name, cells = destinations
        if sheet_name not in book.sheetnames:
            return None
        target_ws = book[sheet_name]
    try:
        min_col, min_row, max_col, max_row = range_boundaries(cells.replace("$", ""))
    except ValueError:
        return None
    options = []
    for row in target_ws.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col, values_only=True):
        options.extend(v for v in row if option_text(v))
    return Dropdown(tuple(options), "sheet", formula) if options else None


def _defined_name(book, ws, name: str) -> tuple[str, str] | None:
    for scope in (ws.defined_names, book.defined_names):
        dn = scope.get(name) if hasattr(scope, "get") else None
        if dn is not None:
            for sheet_name, cells in dn.destinations:
                return sheet_name, cells
    return None
