"""Small department templates built with openpyxl, and a minimal .xls writer, for the report tests."""

import io
import struct

import openpyxl
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.datavalidation import DataValidation

THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)

# Row 3 holds the group headers, row 4 the leaves; A..K.
HEADERS = [
    ("序号", None), ("基本信息", "姓名"), ("基本信息", "性别"), ("基本信息", "身份证号"), ("基本信息", "出生日期"),
    ("年龄", None), ("入伍年月", None), ("联系电话", None), ("残疾类别", None), ("走访情况", None), ("备注", None),
]
NOTE = "注：1.本表由村（社区）填写；2.身份证号须填写18位。"


def template(*, gender_dropdown: tuple | None = ("男", "女"), gender_on_sheet: bool = True, prefilled: int = 3,
             sign_row: bool = True, protect: bool = False, formula: bool = False, instructions: bool = True) -> bytes:
    """A person template: title, 填报 line, two-level merged header, 序号, a gender drop-down (on a hidden
    字典 sheet, or inline), an inline 残疾类别 drop-down, ``prefilled`` formatted rows, a notes row and a sign row."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "花名册"
    ncols = len(HEADERS)
    ws.cell(1, 1, "测试村重点人员信息表").font = Font(b=True, sz=16)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    ws.cell(2, 1, "填报单位（盖章）：\u3000\u3000\u3000\u3000填报人：\u3000\u3000\u3000填报日期：\u3000\u3000年\u3000\u3000月\u3000\u3000日")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=ncols)
    for c, (group, leaf) in enumerate(HEADERS, start=1):
        for r in (3, 4):
            cell = ws.cell(r, c)
            cell.border = BOX
            cell.font = Font(b=True)
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        if leaf is None:
            ws.cell(3, c, group)
            ws.merge_cells(start_row=3, start_column=c, end_row=4, end_column=c)
        else:
            ws.cell(4, c, leaf)
    ws.cell(3, 2, "基本信息")
    ws.merge_cells("B3:E3")
    for r in range(5, 5 + prefilled):
        for c in range(1, ncols + 1):
            cell = ws.cell(r, c)
            cell.border = BOX
            cell.font = Font(name="宋体", sz=10)
        ws.cell(r, 4).number_format = "@"
        ws.cell(r, 5).number_format = "yyyy-mm-dd"
        ws.row_dimensions[r].height = 20
    last = 5 + prefilled
    if formula:
        ws.cell(5, 6, "=2025-YEAR(E5)")
    ws.cell(last + 1, 1, NOTE)
    ws.merge_cells(start_row=last + 1, start_column=1, end_row=last + 1, end_column=ncols)
    ws.row_dimensions[last + 1].height = 30
    if sign_row:
        ws.cell(last + 2, 1, "填表人：")
        ws.cell(last + 2, 5, "审核人：")
        ws.cell(last + 2, 9, "负责人（签字）：")
    for c, width in zip("ABCDEFGHIJK", (6, 10, 8, 22, 12, 8, 10, 14, 12, 16, 10), strict=True):
        ws.column_dimensions[c].width = width
    ws.print_title_rows = "3:4"
    ws.page_setup.orientation = "landscape"
    ws.freeze_panes = "A5"
    if gender_dropdown is not None:
        if gender_on_sheet:
            book = wb.create_sheet("字典")
            book["A1"] = "性别"
            for i, option in enumerate(gender_dropdown, start=2):
                book.cell(i, 1, option)
            book.sheet_state = "hidden"
            formula1 = f"'字典'!$A$2:$A${1 + len(gender_dropdown)}"
        else:
            formula1 = '"' + ",".join(str(o) for o in gender_dropdown) + '"'
        dv = DataValidation(type="list", formula1=formula1, allow_blank=True)
        dv.add("C5:C1000")
        ws.add_data_validation(dv)
    dv = DataValidation(type="list", formula1='"视力残疾,听力残疾,言语残疾,肢体残疾,智力残疾,精神残疾,多重残疾"')
    dv.add("I5:I1000")
    ws.add_data_validation(dv)
    if instructions:
        notes = wb.create_sheet("填表说明")
        notes["A1"] = "1. 性别从下拉列表选择。"
        notes["A2"] = "2. 日期格式为YYYY-MM-DD。"
    if protect:
        ws.protection.sheet = True
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def house_template() -> bytes:
    """A one-row-header house template without pre-formatted rows: the notes row follows the header."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    headers = ["序号", "房屋编号", "房屋地址", "户主姓名", "身份证号码", "结构类型", "层数", "建筑面积（平方米）", "是否危房",
               "整改措施"]
    ws.cell(1, 1, "测试村自建房排查表")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    for c, text in enumerate(headers, start=1):
        cell = ws.cell(2, c, text)
        cell.border = BOX
        cell.font = Font(b=True)
    ws.cell(3, 1, "注：C级、D级房屋须填写整改措施。")
    ws.merge_cells(start_row=3, start_column=1, end_row=3, end_column=len(headers))
    dv = DataValidation(type="list", formula1='"是,否"')
    dv.add("I3:I500")
    ws.add_data_validation(dv)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- a minimal BIFF8 (.xls) writer: xlwt is not installed --------------------------------------------


def _record(rtype: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", rtype, len(payload)) + payload


def _short_text(s: str) -> bytes:
    return struct.pack("<BB", len(s), 1) + s.encode("utf-16-le")


def _text(s: str) -> bytes:
    return struct.pack("<HB", len(s), 1) + s.encode("utf-16-le")


def biff8(sheets) -> bytes:
    """A BIFF8 workbook. ``sheets``: dicts with ``name``, ``cells`` {(row, col): str | int | None
    (a blank, bordered cell)}, ``merges`` [(first_row, last_row, first_col, last_col)], ``hidden``,
    ``widths`` {col: characters}, ``extra`` (raw records appended to the sheet)."""
    bof = lambda kind: _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))  # noqa: E731

    def xf(fmt: int, font: int = 0, border: int = 0) -> bytes:
        # Line styles of the left, right, top and bottom borders, four bits each, colour index 8 (black).
        borders = (border | border << 4 | border << 8 | border << 12 | 8 << 16 | 8 << 23) if border else 0
        return _record(0x00E0, struct.pack("<HHHBBBBIiH", font, fmt, 0, 0x20, 0, 0, 0, borders, 0, 0))

    head = [bof(0x0005), _record(0x0042, struct.pack("<H", 1200))]
    head += [_record(0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + _short_text("Arial"))] * 5
    head += [xf(0)] * 16 + [xf(0), xf(0, border=1)]  # xf 16: general; xf 17: general with thin borders

    bodies = []
    for sheet in sheets:
        cells = sheet["cells"]
        body = [bof(0x0010), _record(0x0200, struct.pack("<IIHHH", 0, max(r for r, _ in cells) + 1, 0,
                                                          max(c for _, c in cells) + 1, 0))]
        for col, width in sheet.get("widths", {}).items():
            body.append(_record(0x007D, struct.pack("<HHHHHH", col, col, int(width * 256), 17, 0, 0)))
        for (r, c), v in sorted(cells.items()):
            if v is None:
                body.append(_record(0x0201, struct.pack("<HHH", r, c, 17)))
            elif isinstance(v, str):
                body.append(_record(0x0204, struct.pack("<HHH", r, c, 17) + _text(v)))
            else:
                body.append(_record(0x0203, struct.pack("<HHHd", r, c, 17, float(v))))
        body += sheet.get("extra", [])
        merges = sheet.get("merges", [])
        if merges:
            body.append(_record(0x00E5, struct.pack("<H", len(merges)) + b"".join(struct.pack("<HHHH", *m) for m in merges)))
        body.append(_record(0x000A))
        bodies.append(b"".join(body))

    def boundsheet(pos: int, name: str, hidden: bool) -> bytes:
        return _record(0x0085, struct.pack("<IBB", pos, 1 if hidden else 0, 0) + _short_text(name))

    offset = sum(map(len, head)) + sum(len(boundsheet(0, s["name"], False)) for s in sheets) + len(_record(0x000A))
    sheet_records = []
    for sheet, body in zip(sheets, bodies, strict=True):
        sheet_records.append(boundsheet(offset, sheet["name"], sheet.get("hidden", False)))
        offset += len(body)
    return _cfb(b"".join(head + sheet_records + [_record(0x000A)] + bodies))


def protect_record() -> bytes:
    return _record(0x0012, struct.pack("<H", 1))


def dv_records() -> list[bytes]:
    return [_record(0x01B2, b"\x00" * 18), _record(0x01BE, b"\x00" * 20)]


def formula_record(row: int, col: int) -> bytes:
    return _record(0x0006, struct.pack("<HHH", row, col, 17) + b"\x00" * 8 + b"\x00\x00" + b"\x00" * 4 + b"\x00\x00")


def _cfb(data: bytes) -> bytes:
    """A version-3 OLE compound file holding one "Workbook" stream, padded so no mini stream is needed."""
    data += b"\x00" * (max(4096, -(-len(data) // 512) * 512) - len(data))
    n = len(data) // 512
    end, free = 0xFFFFFFFE, 0xFFFFFFFF
    fat = [0xFFFFFFFD, end] + [3 + i if i < n - 1 else end for i in range(n)]
    fat += [free] * (128 - len(fat))
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\x00" * 6 + struct.pack("<9I", 0, 1, 1, 0, 4096, end, 0, end, 0) + struct.pack("<I", 0)
              + struct.pack("<I", free) * 108)

    def entry(entry_name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = entry_name.encode("utf-16-le") + b"\x00\x00"
        return (encoded.ljust(64, b"\x00") + struct.pack("<HBB", len(encoded), kind, 1)
                + struct.pack("<III", free, free, child) + b"\x00" * 36 + struct.pack("<II", start, size) + b"\x00" * 4)

    directory = (entry("Root Entry", 5, 1, end, 0) + entry("Workbook", 2, free, 2, len(data))).ljust(512, b"\x00")
    return header + struct.pack("<128I", *fat) + directory + data
