import io
import json
import struct
import zipfile
from datetime import datetime

import openpyxl
import pytest
from django.utils import translation

from yici.exchange.tabular import CellRange, TableError, read_table
from yici.testing.kit import KIT_DIR as KIT

needs_kit = pytest.mark.skipif(not KIT.exists(), reason=f"{KIT} is not present in this checkout")


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def xlsx(build) -> bytes:
    """An .xlsx built by ``build(workbook)``."""
    wb = openpyxl.Workbook()
    build(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def roster(wb, *, title="梅岭镇2025年低保对象花名册", fill_line=True, footer=True, rows=3):
    """A department roster: title, 填报 line, two-level merged header, data, blank row and footer."""
    ws = wb.active
    ws.title = "花名册"
    ws.append([title])
    ws.merge_cells("A1:F1")
    if fill_line:
        ws.append(["填报单位：梅岭镇", None, None, "填报日期：2025年3月"])
    top = ws.max_row + 1
    ws.append(["序号", "户主信息", None, "成员姓名", "出生日期", "备注"])
    ws.append([None, "姓名", "身份证号", None, None, None])
    ws.merge_cells(start_row=top, end_row=top, start_column=2, end_column=3)
    for col in (1, 4, 5, 6):
        ws.merge_cells(start_row=top, end_row=top + 1, start_column=col, end_column=col)
    people = [("郑树根", "330726193702136490", "郑树根", datetime(1937, 2, 13), None),
              ("郑树根", "330726193702136490", "郑秀英", datetime(1940, 9, 2), "配偶"),
              ("邵永林", "330726196509111359", "邵永林", datetime(1965, 9, 11), 2.5)]
    for n, person in enumerate(people[:rows], start=1):
        ws.append([n, *person])
    if footer:
        ws.append([])
        ws.append(["制表人：周家乐　　审核人：　　制表日期：2025年3月"])
    wb.create_sheet("填表说明").append(["1. 本表按户填写，户主在前。"])


# --- the data kit ---------------------------------------------------------------------------------


@needs_kit
def test_it_finds_every_legacy_table_of_the_kit():
    truth = json.loads((KIT / "truth" / "legacy_columns.json").read_text(encoding="utf-8"))
    for item in truth:
        table = read_table(KIT / "legacy" / item["file"], filename=item["file"])
        assert table.header_rows == item["header_rows"], item["file"]
        assert table.first_data_row == item["first_data_row"], item["file"]
        assert table.n_data_rows == item["n_data_rows"], item["file"]
        assert [c.header_text for c in table.columns] == [c["header_text"] for c in item["columns"]], item["file"]
        assert [c.letter for c in table.columns] == [c["col_letter"] for c in item["columns"]], item["file"]
        if item["sheet"]:
            assert table.sheet_name == item["sheet"]
        assert [r.row_number for r in table.rows[:3]] == [1, 2, 3]
        assert table.rows[0].sheet_row == item["first_data_row"]


@needs_kit
def test_it_reads_the_kit_csv_as_gbk_with_crlf():
    table = read_table(KIT / "legacy" / "卫健_65岁及以上老年人健康管理名单.csv",
                       filename="卫健_65岁及以上老年人健康管理名单.csv")
    assert (table.format, table.encoding, table.delimiter, table.sheet_name) == ("csv", "gb18030", ",", None)
    assert table.columns[2].header_text == "性　别"
    assert all(not str(v).endswith("\r") for v in table.rows[0].values if v)


@needs_kit
def test_it_keeps_typed_values_and_reports_the_footer_of_the_kit_roster():
    table = read_table(KIT / "legacy" / "民政_低保特困救助对象花名册.xlsx", filename="民政_低保特困救助对象花名册.xlsx")
    assert table.sheet_names == ["花名册", "填表说明"]
    assert table.title_rows == [1]
    assert table.footer_rows == [139]
    assert table.seq_column == 0
    first = table.rows[0].values
    assert first[0] == 1 and isinstance(first[0], int)
    zhujian = read_table(KIT / "legacy" / "住建_农村自建房安全隐患排查台账.xlsx", filename="住建.xlsx")
    assert zhujian.columns[1].header_path == ("基本情况", "村名")
    assert zhujian.columns[0].header_path == ("序号",)
    assert isinstance(zhujian.rows[0].values[14], datetime)


@needs_kit
def test_it_reads_the_layout_of_every_kit_template():
    for path in sorted((KIT / "truth" / "templates").glob("*.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        table = read_table(KIT / "templates" / truth["file"], filename=truth["file"])
        where = truth["file"]
        assert table.sheet_name == truth["sheet"], where
        assert table.sheet_names == truth["sheets"], where
        assert table.title_rows == truth["title_rows"], where
        assert table.fill_line_rows == ([truth["fill_line_row"]] if truth["fill_line_row"] else []), where
        assert table.header_rows == truth["header_rows"], where
        assert table.first_data_row == truth["first_data_row"], where
        assert table.footer_rows == truth["footer_rows"], where
        assert table.n_data_rows == 0, where
        assert [c.header_text for c in table.columns] == [c["header_text"] for c in truth["columns"]], where
        assert [c.header_path for c in table.columns] == [tuple(c["header_path"]) for c in truth["columns"]], where
        seq = [i for i, c in enumerate(truth["columns"]) if c["role"] == "seq"]
        assert table.seq_column == seq[0], where


# --- synthetic workbooks -------------------------------------------------------------------------


def test_it_skips_title_and_fill_lines_and_reads_a_merged_two_level_header():
    table = read_table(xlsx(roster), filename="roster.xlsx")
    assert table.format == "xlsx"
    assert table.sheet_name == "花名册"
    assert table.sheet_names == ["花名册", "填表说明"]
    assert table.title_rows == [1]
    assert table.fill_line_rows == [2]
    assert table.header_rows == [3, 4]
    assert table.first_data_row == 5
    assert [c.header_path for c in table.columns] == [
        ("序号",), ("户主信息", "姓名"), ("户主信息", "身份证号"), ("成员姓名",), ("出生日期",), ("备注",)]
    assert [c.header_text for c in table.columns] == ["序号", "姓名", "身份证号", "成员姓名", "出生日期", "备注"]
    assert [c.letter for c in table.columns] == list("ABCDEF")
    assert table.n_data_rows == 3
    assert [(r.row_number, r.sheet_row) for r in table.rows] == [(1, 5), (2, 6), (3, 7)]
    assert table.rows[1].values == [2, "郑树根", "330726193702136490", "郑秀英", datetime(1940, 9, 2), "配偶"]
    assert table.rows[2].values[5] == 2.5
    assert table.footer_rows == [9]
    assert table.seq_column == 0
    assert CellRange(3, 2, 3, 3) in table.header_merges
    assert CellRange(1, 1, 1, 6) in table.merges and CellRange(1, 1, 1, 6) not in table.header_merges
    assert table.column_values(3) == ["郑树根", "郑秀英", "邵永林"]
    assert table.column_values(5, limit=1) == ["配偶"]


def test_it_reads_the_sheet_asked_for_and_lists_the_sheets_when_it_is_missing():
    def build(wb):
        roster(wb)
        other = wb.create_sheet("汇总")
        other.append(["村名", "户数", "人数"])
        other.append(["樟树村", 12, 30])

    data = xlsx(build)
    table = read_table(data, filename="roster.xlsx", sheet="汇总")
    assert table.sheet_name == "汇总"
    assert table.header_rows == [1]
    assert table.rows[0].values == ["樟树村", 12, 30]
    with pytest.raises(TableError, match="no sheet named “Sheet9”; its sheets are: 花名册、填表说明、汇总"):
        read_table(data, filename="roster.xlsx", sheet="Sheet9")


def test_without_a_sheet_it_reads_the_first_visible_sheet_holding_a_table():
    def build(wb):
        notes = wb.active
        notes.title = "说明"
        notes.append(["本表由村委会填报，请勿修改表头。"])
        hidden = wb.create_sheet("字典")
        hidden.append(["性别", "民族"])
        hidden.append(["男", "汉族"])
        hidden.sheet_state = "hidden"
        data = wb.create_sheet("名单")
        data.append(["姓名", "性别", "身份证号"])
        data.append(["张三", "男", "330726193702136490"])

    table = read_table(xlsx(build), filename="x.xlsx")
    assert table.sheet_name == "名单"
    assert table.sheet_names == ["说明", "字典", "名单"]


def test_an_empty_template_still_has_its_layout():
    def build(wb):
        ws = wb.active
        ws.append(["梅岭镇残疾人信息表"])
        ws.merge_cells("A1:E1")
        ws.append(["填报单位：", None, "填报人：", None, "填报日期：  年  月  日"])
        ws.append(["序号", "姓名", "性别", "身份证号", "说明"])
        for n in range(1, 6):
            ws.append([n])  # pre-numbered, otherwise empty rows
        ws.append(["注：1.残疾人证号为20位；2.监护人信息由村核实后填写。"])
        ws.merge_cells("A9:E9")
        ws.append(["填表人：", None, "审核人：", None, "负责人（签字）："])

    table = read_table(xlsx(build), filename="template.xlsx")
    assert (table.title_rows, table.fill_line_rows, table.header_rows) == ([1], [2], [3])
    assert table.first_data_row == 4
    assert table.n_data_rows == 0
    assert table.footer_rows == [9, 10]
    assert table.seq_column == 0


def test_a_template_whose_notes_follow_the_header_directly():
    def build(wb):
        ws = wb.active
        ws.append(["樟树村4组户籍家庭成员表"])
        ws.merge_cells("A1:D1")
        ws.append(["序  号", "户口编号", "户主姓名", "居民姓名"])
        ws.append(["注：1.按户号顺序填写；2.户主在前。"])
        ws.merge_cells("A3:D3")

    table = read_table(xlsx(build), filename="t.xlsx")
    assert (table.header_rows, table.first_data_row, table.footer_rows, table.n_data_rows) == ([2], 3, [3], 0)


def test_it_stops_at_a_total_line_and_skips_blank_rows_inside_the_data():
    def build(wb):
        ws = wb.active
        ws.append(["村名", "户主姓名", "人数", "金额"])
        ws.append(["樟树村", "张三", 3, 120.5])
        ws.append([])
        ws.append(["前陈村", "李四", 2, 80])
        ws.append(["合计", None, 5, 200.5])
        ws.append(["说明：金额单位为元"])

    table = read_table(xlsx(build), filename="t.xlsx")
    assert [(r.row_number, r.sheet_row) for r in table.rows] == [(1, 2), (2, 4)]
    assert table.footer_rows == [5, 6]
    assert table.seq_column is None


def test_a_cell_merged_down_over_data_rows_fills_each_row():
    def build(wb):
        ws = wb.active
        ws.append(["户主姓名", "成员姓名", "家庭住址", "备注"])
        ws.append(["郑树根", "郑树根", "前陈村7组6号", "两行合并的备注"])
        ws.append([None, "郑秀英", None, None])
        ws.append(["邵永林", "邵永林", "前陈村1组25号", None])
        ws.merge_cells("A2:A3")
        ws.merge_cells("C2:C3")
        ws.merge_cells("D2:E3")

    table = read_table(xlsx(build), filename="t.xlsx")
    assert [r.values for r in table.rows] == [
        ["郑树根", "郑树根", "前陈村7组6号", "两行合并的备注"],
        ["郑树根", "郑秀英", "前陈村7组6号", "两行合并的备注"],
        ["邵永林", "邵永林", "前陈村1组25号", None],
    ]


def test_a_row_of_column_numbers_under_the_header_is_not_data():
    def build(wb):
        ws = wb.active
        ws.append(["序号", "姓名", "性别", "出生日期"])
        ws.append([1, 2, 3, 4])
        ws.append([1, "张三", "男", "1985-03-02"])
        ws.append([2, "李四", "女", "19900101"])

    table = read_table(xlsx(build), filename="t.xlsx")
    assert (table.header_rows, table.colnum_row, table.first_data_row, table.n_data_rows) == ([1], 2, 3, 2)


def test_data_beyond_the_header_gets_an_unnamed_column():
    def build(wb):
        ws = wb.active
        ws.append(["姓名", "性别", "电话"])
        ws.append(["张三", "男", "13900000000", "补充说明"])
        ws.append(["李四", "女", "13900000001"])

    table = read_table(xlsx(build), filename="t.xlsx")
    assert [c.header_text for c in table.columns] == ["姓名", "性别", "电话", ""]
    assert table.rows[1].values == ["李四", "女", "13900000001", None]


def test_it_recognises_a_numbering_column_by_its_values():
    def build(wb):
        ws = wb.active
        ws.append(["NO", "姓名", "性别"])
        for n, name in enumerate(["张三", "李四", "王五", "赵六"], start=1):
            ws.append([n, name, "男"])

    assert read_table(xlsx(build), filename="t.xlsx").seq_column == 0


# --- delimited text ------------------------------------------------------------------------------


def test_it_reads_a_gbk_csv_with_crlf_line_ends():
    text = "档案编号,姓名,性　别,出生日期\r\n001,黄志明,男,1953.3.13\r\n002,薛树根,男,\"1950/08/28\"\r\n"
    table = read_table(text.encode("gbk"), filename="名单.csv")
    assert table.encoding == "gb18030"
    assert table.header_rows == [1]
    assert [c.header_text for c in table.columns] == ["档案编号", "姓名", "性　别", "出生日期"]
    assert table.rows[1].values == ["002", "薛树根", "男", "1950/08/28"]
    assert table.n_data_rows == 2


def test_it_reads_utf8_with_a_bom_and_semicolons():
    text = "姓名;性别;备注\n张三;男;\n李四;女;低保\n"
    table = read_table(codecs_bom() + text.encode("utf-8"), filename="x.csv")
    assert (table.encoding, table.delimiter) == ("utf-8-sig", ";")
    assert table.columns[0].header_text == "姓名"
    assert table.rows[0].values == ["张三", "男", None]


def codecs_bom() -> bytes:
    return b"\xef\xbb\xbf"


def test_it_reads_plain_utf8_and_tab_separated_text_saved_under_an_xls_name():
    text = "姓名\t性别\t身份证号\n张三\t男\t330726193702136490\n"
    table = read_table(text.encode("utf-8"), filename="导出.xls")
    assert (table.format, table.encoding, table.delimiter) == ("csv", "utf-8", "\t")
    assert table.rows[0].values[2] == "330726193702136490"
    utf16 = read_table(text.encode("utf-16"), filename="导出.txt")
    assert utf16.rows[0].values == ["张三", "男", "330726193702136490"]


def test_a_two_level_csv_header_without_merges():
    text = "序号,基本信息,,,备注\n,姓名,性别,身份证号,\n1,张三,男,330726193702136490,\n"
    table = read_table(text.encode("utf-8"), filename="x.csv")
    assert table.header_rows == [1, 2]
    assert [c.header_path for c in table.columns] == [
        ("序号",), ("基本信息", "姓名"), ("基本信息", "性别"), ("基本信息", "身份证号"), ("备注",)]
    assert table.n_data_rows == 1


# --- .xls ----------------------------------------------------------------------------------------


def test_it_reads_an_xls_workbook_with_merges_dates_and_a_hidden_sheet():
    cells = {(0, 0): "梅岭镇低保对象花名册", (1, 0): "序号", (1, 1): "户主信息", (2, 1): "姓名", (2, 2): "身份证号",
             (1, 3): "出生日期", (3, 0): 1, (3, 1): "郑树根", (3, 2): "330726193702136490", (3, 3): ("date", 13559.0),
             (4, 0): 2, (4, 1): "邵永林", (4, 2): "330726196509111359", (4, 3): ("date", 23996.0)}
    merges = [(0, 0, 0, 3), (1, 1, 1, 2), (1, 2, 0, 0), (1, 2, 3, 3)]
    data = biff8([("字典", {(0, 0): "性别", (0, 1): "民族", (1, 0): "男", (1, 1): "汉族"}, [], True),
                  ("花名册", cells, merges, False)])
    table = read_table(data, filename="花名册.xls")
    assert table.format == "xls"
    assert table.sheet_name == "花名册"
    assert table.sheet_names == ["字典", "花名册"]
    assert (table.title_rows, table.header_rows, table.first_data_row) == ([1], [2, 3], 4)
    assert [c.header_path for c in table.columns] == [("序号",), ("户主信息", "姓名"), ("户主信息", "身份证号"), ("出生日期",)]
    assert table.rows[0].values == [1, "郑树根", "330726193702136490", datetime(1937, 2, 13)]
    assert CellRange(2, 2, 2, 3) in table.header_merges


def test_a_password_protected_xls_is_refused():
    data = biff8([("Sheet1", {(0, 0): "姓名", (0, 1): "性别"}, [], False)], encrypted=True)
    with pytest.raises(TableError, match="password-protected"):
        read_table(data, filename="x.xls")


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \r\n"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(TableError, match="The file is empty"):
        read_table(data, filename="x.xlsx")


def test_a_damaged_xlsx_is_refused():
    with pytest.raises(TableError, match="damaged or is not an Excel workbook"):
        read_table(b"this is not a workbook at all", filename="x.xlsx")
    with pytest.raises(TableError, match="damaged or is not an Excel workbook"):
        read_table(xlsx(roster)[:600], filename="x.xlsx")


def test_a_zip_that_is_not_a_workbook_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(TableError, match="damaged or is not an Excel workbook"):
        read_table(buf.getvalue(), filename="x.xlsx")


def test_a_password_protected_xlsx_is_refused():
    # Excel stores an encrypted .xlsx as an OLE compound file with an EncryptedPackage stream.
    with pytest.raises(TableError, match="password-protected"):
        read_table(cfb({"EncryptedPackage": b"\x00" * 5000}), filename="secret.xlsx")
    # An OLE file under an .xlsx name that is not a readable .xls either.
    with pytest.raises(TableError, match="password-protected"):
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, filename="secret.xlsx")


def test_a_damaged_xls_is_refused():
    with pytest.raises(TableError, match="damaged or is not an Excel workbook"):
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 2000, filename="x.xls")
    with pytest.raises(TableError, match="not a workbook or a text table"):
        read_table(b"\x00\x01\x02garbage\x00" * 50, filename="x.xls")


def test_a_web_page_saved_as_xls_is_refused():
    with pytest.raises(TableError, match="web page"):
        read_table(b"<html><body><table><tr><td>1</td></tr></table></body></html>", filename="x.xls")


def test_an_undecodable_csv_is_refused():
    data = bytes(range(128, 256)) * 20 + b"\x01\x02\x03" * 30
    with pytest.raises(TableError, match="could not be decoded"):
        read_table(data, filename="x.csv")


def test_a_sheet_without_a_header_is_refused():
    def only_title(wb):
        wb.active.append(["梅岭镇2025年花名册"])
        wb.active.append([])
        wb.active.append([330726193702136490, 13900000000, 1985])

    with pytest.raises(TableError, match="No table header was found in any sheet"):
        read_table(xlsx(only_title), filename="x.xlsx")
    with pytest.raises(TableError, match="No table header was found in sheet “Sheet”"):
        read_table(xlsx(only_title), filename="x.xlsx", sheet="Sheet")
    with pytest.raises(TableError, match="No table header was found in the file"):
        read_table("只有一行说明文字\n".encode(), filename="x.csv")


def test_it_reads_from_a_path(tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(xlsx(roster))
    assert read_table(path, filename=path.name).n_data_rows == 3


# --- a minimal .xls writer (xlwt is not installed) -----------------------------------------------


def _record(rtype: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HH", rtype, len(payload)) + payload


def _short_text(s: str) -> bytes:
    return struct.pack("<BB", len(s), 1) + s.encode("utf-16-le")


def _text(s: str) -> bytes:
    return struct.pack("<HB", len(s), 1) + s.encode("utf-16-le")


def biff8(sheets, *, encrypted: bool = False) -> bytes:
    """A BIFF8 workbook. ``sheets``: (name, {(row, col): str | number | ("date", serial)}, merges, hidden);
    merges are (first_row, last_row, first_col, last_col), 0-based and inclusive."""
    bof = lambda kind: _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))  # noqa: E731
    xf = lambda fmt: _record(0x00E0, struct.pack("<HHHBBBBIiH", 0, fmt, 0, 0x20, 0, 0, 0, 0, 0, 0))  # noqa: E731
    head = [bof(0x0005)]
    if encrypted:
        head.append(_record(0x002F, b"\x00" * 6))  # FILEPASS
    head.append(_record(0x0042, struct.pack("<H", 1200)))
    head += [_record(0x0031, struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + _short_text("Arial"))] * 5
    head += [xf(0)] * 17 + [xf(14)]  # xf 16: general, xf 17: a date

    def boundsheet(pos: int, name: str, hidden: bool) -> bytes:
        return _record(0x0085, struct.pack("<IBB", pos, 1 if hidden else 0, 0) + _short_text(name))

    bodies = []
    for _name, cells, merges, _hidden in sheets:
        body = [bof(0x0010), _record(0x0200, struct.pack("<IIHHH", 0, max(r for r, _ in cells) + 1, 0,
                                                          max(c for _, c in cells) + 1, 0))]
        for (r, c), v in sorted(cells.items()):
            if isinstance(v, str):
                body.append(_record(0x0204, struct.pack("<HHH", r, c, 16) + _text(v)))
            elif isinstance(v, tuple):
                body.append(_record(0x0203, struct.pack("<HHHd", r, c, 17, v[1])))
            else:
                body.append(_record(0x0203, struct.pack("<HHHd", r, c, 16, float(v))))
        if merges:
            body.append(_record(0x00E5, struct.pack("<H", len(merges)) + b"".join(struct.pack("<HHHH", *m) for m in merges)))
        body.append(_record(0x000A))
        bodies.append(b"".join(body))
    offset = sum(map(len, head)) + sum(len(boundsheet(0, n, h)) for n, _c, _m, h in sheets) + len(_record(0x000A))
    sheet_records = []
    for (name, _c, _m, hidden), body in zip(sheets, bodies, strict=True):
        sheet_records.append(boundsheet(offset, name, hidden))
        offset += len(body)
    return cfb({"Workbook": b"".join(head + sheet_records + [_record(0x000A)] + bodies)})


def cfb(streams: dict[str, bytes]) -> bytes:
    """A version-3 OLE compound file holding one stream, padded to 4096 bytes so no mini stream is needed."""
    ((name, data),) = streams.items()
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

    directory = (entry("Root Entry", 5, 1, end, 0) + entry(name, 2, free, 2, len(data))).ljust(512, b"\x00")
    return header + struct.pack("<128I", *fat) + directory + data
