import io

import openpyxl
import pytest

from yici.reports.layout import TemplateError, template_read
from yici.reports.services import template_fill
from yici.reports.tests.builders import biff8, dv_records, formula_record, protect_record
from yici.reports.tests.conftest import AS_OF
from yici.reports.xls import xls_to_xlsx


def sheets(extra=()):
    cells = {(0, 0): "测试村人员表", (1, 0): "序号", (1, 1): "姓名", (1, 2): "身份证号", (1, 3): "备注"}
    for r in (2, 3):
        cells.update({(r, c): None for c in range(4)})  # two bordered, empty rows
    cells[(5, 0)] = "注：请核对身份证号。"
    return [{"name": "表1", "cells": cells, "merges": [(0, 0, 0, 3), (5, 5, 0, 3)], "widths": {2: 22},
             "extra": list(extra)},
            {"name": "字典", "cells": {(0, 0): "男", (1, 0): "女"}, "hidden": True}]


def test_an_xls_template_is_converted_with_its_layout():
    book = openpyxl.load_workbook(io.BytesIO(xls_to_xlsx(biff8(sheets()), filename="t.xls")))
    ws = book["表1"]
    assert book.sheetnames == ["表1", "字典"]
    assert book["字典"].sheet_state == "hidden"
    assert {str(m) for m in ws.merged_cells.ranges} == {"A1:D1", "A6:D6"}
    assert ws.column_dimensions["C"].width == 22
    assert [c.value for c in ws[2]] == ["序号", "姓名", "身份证号", "备注"]
    assert ws["B3"].border.left.style == "thin"


def test_an_xls_template_is_filled_as_xlsx(world, people):
    layout = template_read(biff8(sheets()), filename="t.xls")
    assert (layout.converted_from, layout.first_data_row, layout.prefilled_rows, layout.footer_rows) == ("xls", 3, 2, [6])
    result = template_fill(data=biff8(sheets()), filename="人员表.xls", area=world.village, as_of=AS_OF)
    assert result.filename == "人员表.xlsx"
    ws = openpyxl.load_workbook(io.BytesIO(result.workbook))["表1"]
    assert [ws.cell(r, 2).value for r in range(3, 7)] == ["张大山", "李秀英", "张小明", "王芳"]
    assert ws["C3"].value == people["head"].id_number and ws["C3"].number_format == "@"
    assert ws["A8"].value == "注：请核对身份证号。"


@pytest.mark.parametrize(("extra", "message"), [
    ([protect_record()], "is protected"),
    (dv_records(), "drop-down lists or conditional formats"),
    ([formula_record(2, 1)], "Cell B3 of sheet “表1” holds a formula"),
])
def test_an_xls_that_would_lose_layout_is_refused(extra, message):
    with pytest.raises(TemplateError, match=message):
        xls_to_xlsx(biff8(sheets(extra)), filename="t.xls")


def test_a_damaged_xls_is_refused():
    with pytest.raises(TemplateError, match="damaged"):
        template_read(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 2000, filename="t.xls")
