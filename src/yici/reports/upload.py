"""Reading a village's filled workbook back (the cadre filled the download in Excel or WPS).

``read_upload`` checks that the file is this report's workbook (an .xlsx whose sheet and header
are the template's), reads its data rows and matches each one to the row Yici wrote, comparing it
with the instance's own pre-filled workbook (what Yici wrote, cell by cell). Which row is whose:

1. by the row's identity value (身份证号, 户号, 房屋编号, 场所编号 …: the mapped column of the rows'
   entity that identifies a record) when Yici wrote one there and it is unique: this survives
   sorting, filtering, deleted and inserted rows;
2. else by the 序号 Yici wrote (a value, so it survives sorting), and
3. else by the sheet row, as long as nothing moved,

where 2 and 3 are taken only when the row's name (or the entity's label column) still says what
Yici wrote — a renumbered or shifted sheet must not give one person's values to another. A row
that matches nothing, or a record a second time, is reported, never guessed. Blank rows and the
template's footer are skipped.

The matched cells are then sorted by what the instance knows of them: a gap cell (Yici left it
empty) with a value is an entry, as typed on the gap page; a pre-filled cell of a mapped column
whose value changed is a proposed correction; an emptied pre-filled cell is only counted (a blank
cell does not remove a registry value).
"""

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time

import openpyxl
from django.utils.translation import gettext as _

from yici.exchange.tabular import CFB_SIGNATURE, ZIP_SIGNATURE

# The elements that identify the record of a row, by the rows' entity (first found wins).
IDENTITY = {
    "person": ("person.id_number",),
    "household": ("household.household_no", "household.head_id_number"),
    "house": ("house.code",),
    "place": ("place.code",),
}
LABEL = {
    "person": ("person.name",),
    "household": ("household.head_name", "household.household_no"),
    "house": ("house.owner_name", "house.address", "house.code"),
    "place": ("place.name", "place.code"),
}
MAX_ROWS = 100_000


class UploadError(Exception):
    """The file cannot be read as this report's workbook; one line a person can act on."""


@dataclass
class UploadedRow:
    sheet_row: int
    key: str  # the record Yici wrote on the matched row
    cells: dict[str, str]  # column letter → text, every data column
    before: dict[str, str]  # the same cells as Yici wrote them


@dataclass
class ReadResult:
    rows: list[UploadedRow] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # one line per row that is reported, not taken


def cell_text(value) -> str:
    """A cell as text the registry normaliser reads: dates as ISO dates, 1.0 as 1."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value).strip()


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def _open(data: bytes, *, own: bool):
    if not own:
        if data.startswith(CFB_SIGNATURE):
            raise UploadError(_("This file is an old .xls workbook or is protected with a password; save it in Excel "
                                "or WPS as .xlsx without a password and upload it again."))
        if not data.startswith(ZIP_SIGNATURE):
            raise UploadError(_("This is not an Excel workbook; upload the .xlsx you downloaded here, filled in."))
    try:
        return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a damaged zip or part: openpyxl raises many kinds
        if own:
            raise
        reason = "not a zip file" if isinstance(exc, zipfile.BadZipFile) else exc.__class__.__name__
        raise UploadError(_("The workbook cannot be read (it may be damaged: %(err)s); save it again in Excel or WPS "
                            "as .xlsx and upload it again.") % {"err": reason}) from None


def _grid(book, sheet_name: str, last_col: int) -> list[tuple]:
    ws = book[sheet_name]
    rows = []
    for values in ws.iter_rows(max_col=last_col, values_only=True):
        rows.append(tuple(values) + (None,) * (last_col - len(values)))
        if len(rows) > MAX_ROWS:
            raise UploadError(_("The workbook has more than %(n)d rows; it is not this report's.") % {"n": MAX_ROWS})
    return rows


def read_upload(data: bytes, *, own: bytes, layout, plans, entity: str, row_keys: list[dict]) -> ReadResult:
    """Match the uploaded workbook ``data`` to the instance's workbook ``own`` (``layout``/``plans``:
    the report's template read and mapped; ``row_keys``: the instance's rows). Raises ``UploadError``."""
    uploaded = _open(data, own=False)
    if layout.sheet_name not in uploaded.sheetnames:
        raise UploadError(_("This workbook has no sheet “%(sheet)s”; it is not this report's workbook.")
                          % {"sheet": layout.sheet_name})
    width = len(layout.columns)
    theirs = _grid(uploaded, layout.sheet_name, width)
    ours = _grid(_open(own, own=True), layout.sheet_name, width)
    first = layout.first_data_row
    _check_header(theirs, ours, layout)
    letters = [c.letter for c in layout.columns]
    by_letter = {p.letter: p for p in plans}
    element_col = {p.element: p.column.index for p in plans if p.element}
    identity = next((element_col[e] for e in IDENTITY.get(entity, ()) if e in element_col), None)
    label = next((element_col[e] for e in LABEL.get(entity, ()) if e in element_col), None)
    seq = layout.seq_column

    written = {r["row"]: r["key"] for r in row_keys}  # sheet row → key, as Yici wrote them
    ours_by_row = {r: ours[r - 1] if r - 1 < len(ours) else (None,) * width for r in written}
    by_identity: dict[str, list[int]] = {}
    if identity is not None:
        for r, values in ours_by_row.items():
            text = _norm(cell_text(values[identity]))
            if text:
                by_identity.setdefault(text, []).append(r)
    by_seq = {i + 1: r["row"] for i, r in enumerate(sorted(row_keys, key=lambda k: k["row"]))}
    footer = {_norm(cell_text(v)) for values in ours[first - 1 + len(row_keys):] for v in values if cell_text(v)}

    result = ReadResult()
    taken: dict[int, int] = {}  # our sheet row → their sheet row
    for index in range(first - 1, len(theirs)):
        values = theirs[index]
        sheet_row = index + 1
        texts = [cell_text(v) for v in values]
        data_texts = [t for i, t in enumerate(texts) if t and i != seq]
        if not data_texts:
            continue
        if all(_norm(t) in footer for t in texts if t):
            continue  # the footer (注：…, 填表人), moved or not
        described = texts[label] if label is not None and texts[label] else f"{data_texts[0]}"

        def agrees(r: int, values=values) -> bool:
            if label is None:
                return True
            return _norm(cell_text(values[label])) == _norm(cell_text(ours_by_row[r][label]))

        match = None
        if identity is not None and texts[identity]:
            found = by_identity.get(_norm(texts[identity]), [])
            match = found[0] if len(found) == 1 else None
        if match is None and seq is not None and re.fullmatch(r"\d+", texts[seq] or ""):
            candidate = by_seq.get(int(texts[seq]))
            match = candidate if candidate is not None and agrees(candidate) else None
        if match is None and sheet_row in written and agrees(sheet_row):
            match = sheet_row
        if match is None:
            result.unmatched.append(_("Row %(row)d (%(what)s) is not a row Yici wrote; it was not taken.")
                                    % {"row": sheet_row, "what": described[:40]})
            continue
        if match in taken:
            result.unmatched.append(_("Row %(row)d (%(what)s) repeats row %(other)d; it was not taken.")
                                    % {"row": sheet_row, "what": described[:40], "other": taken[match]})
            continue
        taken[match] = sheet_row
        columns = [i for i in range(width)
                   if i != seq and by_letter.get(letters[i]) is not None and by_letter[letters[i]].column.header_text]
        before = ours_by_row[match]
        result.rows.append(UploadedRow(sheet_row, written[match], {letters[i]: texts[i] for i in columns},
                                       {letters[i]: cell_text(before[i]) for i in columns}))
    return result


def _check_header(theirs: list[tuple], ours: list[tuple], layout) -> None:
    """The header rows must say what the template's say, column by column."""
    for r in layout.header_rows:
        mine = ours[r - 1] if r - 1 < len(ours) else ()
        other = theirs[r - 1] if r - 1 < len(theirs) else ()
        for i, value in enumerate(mine):
            expected = _norm(cell_text(value))
            found = _norm(cell_text(other[i])) if i < len(other) else ""
            if expected != found:
                raise UploadError(
                    _("This is not this report's workbook: cell %(cell)s of the header says “%(found)s” where "
                      "“%(expected)s” is expected. Upload the workbook downloaded here, without adding or moving "
                      "columns.") % {"cell": f"{layout.columns[i].letter}{r}" if i < len(layout.columns) else r,
                                     "found": cell_text(other[i]) if i < len(other) else "",
                                     "expected": cell_text(value)})
