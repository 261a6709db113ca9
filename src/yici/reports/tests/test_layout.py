import io

import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from yici.reports.layout import TemplateError, template_read
from yici.reports.tests.builders import template


def test_it_finds_the_rows_columns_and_dropdowns_of_a_template():
    layout = template(prefilled=3)
    found = template_read(layout, filename="重点人员.xlsx")
    assert found.sheet_name == "花名册"
    assert found.sheet_names == ["花名册", "字典", "填表说明"]
    assert (found.title_rows, found.fill_line_rows, found.header_rows) == ([1], [2], [3, 4])
    assert (found.first_data_row, found.prefilled_rows, found.footer_rows) == (5, 3, [9, 10])
    assert found.seq_column == 0
    assert found.title == "测试村重点人员信息表"
    by_letter = {c.letter: c for c in found.columns}
    assert by_letter["B"].header_path == ("基本信息", "姓名")
    assert by_letter["A"].is_seq
    assert by_letter["C"].dropdown.options == ("男", "女")
    assert by_letter["C"].dropdown.source == "sheet"
    assert by_letter["I"].dropdown.source == "inline"
    assert "肢体残疾" in by_letter["I"].dropdown.options
    assert by_letter["D"].number_format == "@"
    assert by_letter["E"].number_format == "yyyy-mm-dd"
    assert by_letter["B"].dropdown is None
    assert [c.letter for c in found.data_columns] == list("BCDEFGHIJK")


def test_a_template_without_prepared_rows_has_general_formats():
    found = template_read(template(prefilled=0), filename="t.xlsx")
    assert (found.first_data_row, found.prefilled_rows, found.footer_rows) == (5, 0, [6, 7])
    assert {c.number_format for c in found.columns} == {"General"}


def test_numeric_codes_on_a_dictionary_sheet_are_options():
    found = template_read(template(gender_dropdown=(1, 2)), filename="t.xlsx")
    assert found.columns[2].dropdown.texts == ("1", "2")


def test_a_dropdown_may_name_a_defined_range():
    wb = openpyxl.load_workbook(io.BytesIO(template(gender_dropdown=None)))
    wb["填表说明"]["C1"], wb["填表说明"]["C2"] = "男", "女"
    wb.defined_names["性别"] = DefinedName("性别", attr_text="'填表说明'!$C$1:$C$2")
    dv = DataValidation(type="list", formula1="性别")
    dv.add("C5:C100")
    wb["花名册"].add_data_validation(dv)
    buf = io.BytesIO()
    wb.save(buf)
    found = template_read(buf.getvalue(), filename="t.xlsx")
    assert found.columns[2].dropdown.options == ("男", "女")


def test_it_refuses_a_protected_sheet():
    with pytest.raises(TemplateError, match="Sheet “花名册” is protected"):
        template_read(template(protect=True), filename="t.xlsx")


def test_it_refuses_formulas_in_the_data_rows():
    with pytest.raises(TemplateError, match="Cell F5 below the header holds a formula"):
        template_read(template(formula=True), filename="t.xlsx")


@pytest.mark.parametrize(("data", "message"), [
    (b"", "The file is empty"),
    ("序号,姓名\n1,张三\n".encode(), "must be an Excel workbook"),
    (b"PK\x03\x04 broken zip", "damaged or is not an Excel workbook"),
])
def test_it_refuses_what_is_not_a_template(data, message):
    with pytest.raises(TemplateError, match=message):
        template_read(data, filename="t.xlsx")


def test_it_refuses_a_workbook_without_a_header():
    wb = openpyxl.Workbook()
    wb.active.append(["只有一行说明文字"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(TemplateError, match="No table header"):
        template_read(buf.getvalue(), filename="t.xlsx")
