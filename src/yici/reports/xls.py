"""Converting an old .xls template to an equivalent .xlsx, or refusing when that would lose layout.

xlrd reads values, merges, column widths, row heights, fonts, borders, fills, alignment and number
formats, and these are carried over, with hidden sheets, frozen panes, print titles, print area,
orientation and margins. xlrd cannot read drop-down lists (data validation), conditional formats
or formulas, so a workbook holding any of them is refused with a message to save it as .xlsx in
Excel; so is a protected sheet. The raw BIFF records are scanned to know.
"""

import io
import struct
from dataclasses import dataclass, field

import openpyxl
import xlrd
from django.utils.translation import gettext as _
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from yici.reports.layout import TemplateError


def _save_as_xlsx() -> str:
    return _("open it in Excel and save it as “Excel Workbook (.xlsx)”, then upload that file.")

# BIFF record types
_BOF, _EOF = 0x0809, 0x000A
_FORMULA, _ARRAY, _SHRFMLA = 0x0006, 0x0221, 0x04BC
_DV, _DVAL = 0x01BE, 0x01B2
_CONDFMT, _CF = 0x01B0, 0x01B1
_PROTECT = 0x0012
_SETUP = 0x00A1
_MARGINS = {0x0026: "left", 0x0027: "right", 0x0028: "top", 0x0029: "bottom"}
_WORKSHEET = 0x0010

_BORDER_STYLES = {1: "thin", 2: "medium", 3: "dashed", 4: "dotted", 5: "thick", 6: "double", 7: "hair",
                  8: "mediumDashed", 9: "dashDot", 10: "mediumDashDot", 11: "dashDotDot", 12: "mediumDashDotDot",
                  13: "slantDashDot"}
_HORIZONTAL = {1: "left", 2: "center", 3: "right", 4: "fill", 5: "justify", 6: "centerContinuous", 7: "distributed"}
_VERTICAL = {0: "top", 1: "center", 2: "bottom", 3: "justify", 4: "distributed"}
_VISIBILITY = {0: "visible", 1: "hidden", 2: "veryHidden"}


@dataclass
class _SheetFeatures:
    formulas: list[tuple[int, int]] = field(default_factory=list)  # (row, col), 0-based
    validations: bool = False
    conditional: bool = False
    protected: bool = False
    landscape: bool | None = None
    margins: dict[str, float] = field(default_factory=dict)


def _scan(data: bytes) -> list[_SheetFeatures]:
    """What each worksheet's BIFF records hold that xlrd does not report."""
    try:
        stream = xlrd.compdoc.CompDoc(data).get_named_stream("Workbook") or b""
    except Exception:  # noqa: BLE001 - xlrd opened it already; a scan failure only loses the checks
        return []
    sheets: list[_SheetFeatures] = []
    depth, current = 0, None
    pos, end = 0, len(stream)
    while pos + 4 <= end:
        rtype, size = struct.unpack_from("<HH", stream, pos)
        payload = stream[pos + 4: pos + 4 + size]
        pos += 4 + size
        if rtype == _BOF:
            depth += 1
            kind = struct.unpack_from("<H", payload, 2)[0] if len(payload) >= 4 else 0
            if depth == 1:
                current = _SheetFeatures() if kind == _WORKSHEET else None
                if current is not None:
                    sheets.append(current)
            continue
        if rtype == _EOF:
            depth = max(depth - 1, 0)
            if depth == 0:
                current = None
            continue
        if current is None or depth != 1:
            continue
        if rtype in (_FORMULA, _ARRAY, _SHRFMLA) and len(payload) >= 4:
            current.formulas.append(struct.unpack_from("<HH", payload, 0))
        elif rtype in (_DV, _DVAL):
            current.validations = True
        elif rtype in (_CONDFMT, _CF):
            current.conditional = True
        elif rtype == _PROTECT and len(payload) >= 2:
            current.protected = current.protected or struct.unpack_from("<H", payload, 0)[0] == 1
        elif rtype == _SETUP and len(payload) >= 12:
            flags = struct.unpack_from("<H", payload, 10)[0]
            if not flags & 0x4:  # fNoPls: the printer settings are not valid
                current.landscape = not flags & 0x2
        elif rtype in _MARGINS and len(payload) >= 8:
            current.margins[_MARGINS[rtype]] = struct.unpack_from("<d", payload, 0)[0]
    return sheets


def xls_to_xlsx(data: bytes, *, filename: str) -> bytes:
    """An .xlsx equivalent to the .xls ``data``. Raises ``TemplateError`` when layout would be lost."""
    try:
        try:
            book = xlrd.open_workbook(file_contents=data, formatting_info=True)
        except NotImplementedError:  # BIFF versions without formatting support
            raise TemplateError(_("The .xls format of %(file)s is too old to convert; %(fix)s")
                                % {"file": filename, "fix": _save_as_xlsx()}) from None
    except TemplateError:
        raise
    except Exception as exc:  # xlrd.XLRDError, CompDocError, struct errors …
        if "encrypt" in str(exc).lower() or "password" in str(exc).lower():
            raise TemplateError(_("The workbook is password-protected; remove the password in Excel and upload "
                                  "it again.")) from None
        raise TemplateError(_("The file is damaged or is not an Excel workbook.")) from None
    features = _scan(data)
    sheets = book.sheets()
    for sheet, found in zip(sheets, features, strict=False):
        if found.protected:
            raise TemplateError(_("Sheet “%(sheet)s” is protected; remove the protection in Excel (Review → "
                                  "Unprotect Sheet) and upload it again.") % {"sheet": sheet.name})
        if found.validations or found.conditional:
            raise TemplateError(
                _("Sheet “%(sheet)s” of the .xls template has drop-down lists or conditional formats, which "
                  "cannot be carried over from the old .xls format; %(fix)s") % {"sheet": sheet.name, "fix": _save_as_xlsx()}
            )
        if found.formulas:
            row, col = found.formulas[0]
            raise TemplateError(
                _("Cell %(cell)s of sheet “%(sheet)s” holds a formula, which cannot be carried over from the old "
                  ".xls format; %(fix)s") % {"cell": f"{get_column_letter(col + 1)}{row + 1}", "sheet": sheet.name,
                                              "fix": _save_as_xlsx()}
            )
    out = openpyxl.Workbook()
    out.remove(out.active)
    styles = _Styles(book)
    for index, sheet in enumerate(sheets):
        ws = out.create_sheet(sheet.name)
        _copy_sheet(book, sheet, ws, styles)
        ws.sheet_state = _VISIBILITY.get(sheet.visibility, "visible")
        if index < len(features):
            found = features[index]
            if found.landscape is not None:
                ws.page_setup.orientation = "landscape" if found.landscape else "portrait"
            for side, inches in found.margins.items():
                setattr(ws.page_margins, side, inches)
    _print_names(book, out)
    if all(ws.sheet_state != "visible" for ws in out.worksheets):
        out.worksheets[0].sheet_state = "visible"
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


class _Styles:
    """openpyxl style objects for each xlrd XF, made once."""

    def __init__(self, book):
        self.book = book
        self.cache: dict[int, tuple] = {}

    def colour(self, index: int) -> str | None:
        rgb = self.book.colour_map.get(index)
        return None if rgb is None else "FF{:02X}{:02X}{:02X}".format(*rgb)

    def get(self, xf_index: int) -> tuple:
        made = self.cache.get(xf_index)
        if made is not None:
            return made
        xf = self.book.xf_list[xf_index]
        f = self.book.font_list[xf.font_index]
        colour = self.colour(f.colour_index)
        font = Font(name=f.name, sz=f.height / 20, b=bool(f.bold), i=bool(f.italic),
                    u="single" if f.underline_type else None, strike=bool(f.struck_out), color=colour)
        a = xf.alignment
        alignment = Alignment(horizontal=_HORIZONTAL.get(a.hor_align), vertical=_VERTICAL.get(a.vert_align),
                              wrap_text=bool(a.text_wrapped), indent=a.indent_level,
                              text_rotation=a.rotation if 0 <= a.rotation <= 180 else 0)
        b = xf.border

        def side(style: int, colour_index: int) -> Side:
            return Side(style=_BORDER_STYLES.get(style), color=self.colour(colour_index) if style else None)

        border = Border(left=side(b.left_line_style, b.left_colour_index),
                        right=side(b.right_line_style, b.right_colour_index),
                        top=side(b.top_line_style, b.top_colour_index),
                        bottom=side(b.bottom_line_style, b.bottom_colour_index))
        bg = xf.background
        fill = PatternFill()
        if bg.fill_pattern and self.colour(bg.pattern_colour_index):
            fill = PatternFill(fill_type="solid", fgColor=self.colour(bg.pattern_colour_index))
        fmt = self.book.format_map.get(xf.format_key)
        number_format = fmt.format_str if fmt is not None and fmt.format_str else "General"
        made = self.cache[xf_index] = (font, alignment, border, fill, number_format)
        return made


def _copy_sheet(book, sheet, ws, styles: _Styles) -> None:
    for r in range(sheet.nrows):
        for c in range(sheet.ncols):
            cell = sheet.cell(r, c)
            if cell.ctype == xlrd.XL_CELL_EMPTY:  # no record at all (a formatted empty cell is BLANK)
                continue
            value = _value(book, cell)
            target = ws.cell(r + 1, c + 1)
            if value is not None:
                target.value = value
                if target.data_type == "f":  # text that starts with "=" stays text
                    target.data_type = "s"
            if cell.xf_index is not None:
                font, alignment, border, fill, number_format = styles.get(cell.xf_index)
                target.font, target.alignment, target.border, target.fill = font, alignment, border, fill
                target.number_format = number_format
    for rlo, rhi, clo, chi in sheet.merged_cells:
        if rhi - rlo > 1 or chi - clo > 1:
            ws.merge_cells(start_row=rlo + 1, end_row=rhi, start_column=clo + 1, end_column=chi)
    default_width = sheet.defcolwidth if sheet.defcolwidth is not None else None
    if sheet.standardwidth:
        default_width = sheet.standardwidth / 256
    if default_width:
        ws.sheet_format.defaultColWidth = default_width
    for c, info in sheet.colinfo_map.items():
        dim = ws.column_dimensions[get_column_letter(c + 1)]
        dim.width = info.width / 256
        dim.hidden = bool(info.hidden)
    for r, info in sheet.rowinfo_map.items():
        dim = ws.row_dimensions[r + 1]
        if not info.has_default_height:
            dim.height = info.height / 20
        dim.hidden = bool(info.hidden)
    if sheet.panes_are_frozen and (sheet.horz_split_pos or sheet.vert_split_pos):
        ws.freeze_panes = ws.cell((sheet.horz_split_pos or 0) + 1, (sheet.vert_split_pos or 0) + 1)


def _value(book, cell):
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return None
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate.xldate_as_datetime(cell.value, book.datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
        return int(cell.value)
    return cell.value


def _print_names(book, out) -> None:
    """Print titles and print areas, which .xls keeps as built-in names."""
    for name in getattr(book, "name_obj_list", []):
        builtin = name.name.lower().lstrip("_").replace("xlnm.", "")
        if builtin not in ("print_titles", "print_area") or name.result is None:
            continue
        try:
            refs = name.result.value
        except AttributeError:
            continue
        for ref in refs or []:
            coords = getattr(ref, "coords", None)
            if not coords:
                continue
            sheet_lo, _sheet_hi, rlo, rhi, clo, chi = coords
            if not 0 <= sheet_lo < len(out.worksheets):
                continue
            ws = out.worksheets[sheet_lo]
            whole_rows = clo == 0 and chi >= 256
            whole_cols = rlo == 0 and rhi >= 65536
            if builtin == "print_titles":
                if whole_rows:
                    ws.print_title_rows = f"{rlo + 1}:{rhi}"
                elif whole_cols:
                    ws.print_title_cols = f"{get_column_letter(clo + 1)}:{get_column_letter(chi)}"
            elif rhi > rlo and chi > clo:
                ws.print_area = f"{get_column_letter(clo + 1)}{rlo + 1}:{get_column_letter(chi)}{rhi}"

