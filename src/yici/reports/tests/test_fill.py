import datetime
import io

import openpyxl
import pytest

from yici.burden.models import BurdenCount
from yici.reports.fill import fill_line_text
from yici.reports.services import FillError, template_fill
from yici.reports.tests.builders import NOTE, house_template, template
from yici.reports.tests.conftest import AS_OF


def fill(world, data, *, where="all", area=None, as_of=AS_OF, **kwargs):
    result = template_fill(data=data, filename="重点人员.xlsx", area=area or world.village, where=where, as_of=as_of,
                           **kwargs)
    return result, openpyxl.load_workbook(io.BytesIO(result.workbook))


def rows_of(ws, first=5, last_col=11):
    out = []
    for row in ws.iter_rows(min_row=first, max_col=last_col, values_only=True):
        if not any(row[1:]) or str(row[0] or "").startswith("注"):
            break
        out.append(row)
    return out


def test_it_maps_the_columns_and_fills_one_row_per_record(world, people):
    result, wb = fill(world, template(prefilled=1))
    ws = wb["花名册"]
    mapped = {p.letter: p.element for p in result.columns}
    assert mapped == {"A": None, "B": "person.name", "C": "person.gender", "D": "person.id_number",
                      "E": "person.birth_date", "F": "person.age", "G": "person.enlist_date", "H": "person.phone",
                      "I": "person.disability_category", "J": None, "K": None}
    assert (result.entity, result.rows, result.columns_total, result.columns_mapped) == ("person", 4, 10, 8)
    assert result.cells_total == 32
    rows = rows_of(ws)
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert [r[1] for r in rows] == ["张大山", "李秀英", "张小明", "王芳"]
    head = rows[0]
    assert head[2] == "男"
    assert head[3] == people["head"].id_number
    assert head[4] == datetime.datetime(1944, 7, 1)
    assert head[5] == 80
    assert head[6] == "1962-03"  # 入伍年月: the month
    assert head[7] == "13812345678"
    assert head[8] == "肢体残疾"
    assert all(r[9] is None and r[10] is None for r in rows)  # 走访情况, 备注 stay blank
    filled = sum(1 for r in rows for v in r[1:9] if v not in (None, ""))
    assert result.cells_filled == filled == 32 - len(result.gaps)


def test_it_keeps_the_departments_layout(world, people):
    original = openpyxl.load_workbook(io.BytesIO(template(prefilled=1)))
    _result, wb = fill(world, template(prefilled=1))  # 4 records, 1 prepared row: everything below moves 3 down
    ws, before = wb["花名册"], original["花名册"]
    assert wb.sheetnames == original.sheetnames
    for r in (1, 3, 4):
        assert [c.value for c in ws[r]] == [c.value for c in before[r]]
    header_merges = {str(m) for m in ws.merged_cells.ranges if m.max_row <= 4}
    assert header_merges == {str(m) for m in before.merged_cells.ranges if m.max_row <= 4}
    # the notes row and the sign row, with their merge and height, now follow the data
    assert before.cell(7, 1).value == NOTE and ws.cell(10, 1).value == NOTE
    assert "A10:K10" in {str(m) for m in ws.merged_cells.ranges}
    assert ws.row_dimensions[10].height == 30
    assert [ws.cell(11, c).value for c in (1, 5, 9)] == ["填表人：", "审核人：", "负责人（签字）："]
    assert all(c.value is None for c in ws[9])  # the blank row between the prepared rows and the notes
    # new rows look like the first prepared row
    for r in (5, 8):
        assert ws.cell(r, 2).border.left.style == "thin"
        assert (ws.cell(r, 2).font.name, ws.cell(r, 2).font.sz) == ("宋体", 10)
        assert ws.row_dimensions[r].height == 20
    assert ws.cell(8, 4).number_format == "@"
    # drop-downs reach every data row; widths, print titles, frozen panes and the other sheets are kept
    sqrefs = {dv.formula1: str(dv.sqref) for dv in ws.data_validations.dataValidation}
    assert sqrefs["'字典'!$A$2:$A$3"] == "C5:C1003"
    assert ws.column_dimensions["D"].width == 22
    assert ws.print_title_rows == "$3:$4"
    assert ws.page_setup.orientation == "landscape"
    assert ws.freeze_panes == "A5"
    assert wb["字典"].sheet_state == "hidden"
    for name in ("字典", "填表说明"):
        assert [[c.value for c in r] for r in wb[name].iter_rows()] == [[c.value for c in r] for r in original[name].iter_rows()]
    # the 填报 line gets the area and the as-of date
    assert ws.cell(2, 1).value.startswith("填报单位（盖章）：樟树村\u3000")
    assert ws.cell(2, 1).value.endswith("填报日期：2025年6月30日")


def test_ids_and_long_numbers_are_text_cells(world, people, houses):
    _result, wb = fill(world, template())
    cell = wb["花名册"]["D5"]
    assert cell.data_type == "s" and cell.number_format == "@"
    _result, wb = fill(world, house_template())
    ws = wb.active
    assert ws["B3"].value == "3307261012010001" and ws["B3"].number_format == "@"
    assert ws["E3"].data_type == "s"


@pytest.mark.parametrize(("options", "on_sheet", "male", "female"), [
    (("男", "女"), True, "男", "女"),
    (("1", "2"), False, "1", "2"),
    ((1, 2), True, 1, 2),
    (("1-男", "2-女"), True, "1-男", "2-女"),
    (("男性", "女性"), False, "男性", "女性"),
])
def test_a_dropdown_dictates_the_spelling(world, people, options, on_sheet, male, female):
    _result, wb = fill(world, template(gender_dropdown=options, gender_on_sheet=on_sheet))
    genders = [r[2] for r in rows_of(wb["花名册"])]
    assert genders == [male, female, male, female]


def test_a_value_the_dropdown_does_not_offer_is_a_gap(world, people):
    result, wb = fill(world, template(gender_dropdown=("男",), gender_on_sheet=False))
    assert [r[2] for r in rows_of(wb["花名册"])] == ["男", None, "男", None]
    gaps = [g for g in result.gaps if g.element == "person.gender"]
    assert [(g.row, g.column, g.reason) for g in gaps] == [(6, "C", "not_in_options"), (8, "C", "not_in_options")]


def test_cells_without_a_golden_value_are_gaps(world, people):
    result, _wb = fill(world, template())
    phone_gaps = [g for g in result.gaps if g.element == "person.phone"]
    assert [(g.row, g.column, g.key) for g in phone_gaps] == [
        (6, "H", f"person:{people['wife'].pk}"), (8, "H", f"person:{people['young'].pk}")]
    assert phone_gaps[0].as_json() == {"row": 6, "key": f"person:{people['wife'].pk}", "column": "H",
                                       "element": "person.phone", "header": "联系电话", "reason": "missing"}


def test_age_is_computed_for_the_as_of_date(world, people):
    _result, wb = fill(world, template(), where="age>=80")
    assert [(r[1], r[5]) for r in rows_of(wb["花名册"])] == [("张大山", 80), ("李秀英", 80)]
    _result, wb = fill(world, template(), where="age>=80", as_of=datetime.date(2025, 6, 29))
    assert [(r[1], r[5]) for r in rows_of(wb["花名册"])] == [("张大山", 80)]


def test_a_filter_and_a_township_select_the_rows(world, people):
    result, wb = fill(world, template(), where="person.low_income==是")
    assert [r[1] for r in rows_of(wb["花名册"])] == ["张大山", "李秀英"]
    result, _wb = fill(world, template(), area=world.township)
    assert result.rows == 5  # the neighbour village too, never the other township


def test_fewer_records_than_prepared_rows_leave_the_footer_in_place(world, people):
    _result, wb = fill(world, template(prefilled=3), where="person.low_income==是")
    ws = wb["花名册"]
    assert ws.cell(9, 1).value == NOTE
    assert ws.cell(7, 1).value is None and ws.cell(7, 2).border.left.style == "thin"


def test_prepared_rows_numbered_in_advance_are_renumbered(world, people):
    wb = openpyxl.load_workbook(io.BytesIO(template(prefilled=3)))
    for r in (5, 6, 7):
        wb["花名册"].cell(r, 1, r - 4)
    buf = io.BytesIO()
    wb.save(buf)
    _result, filled = fill(world, buf.getvalue(), where="person.low_income==是")
    assert [filled["花名册"].cell(r, 1).value for r in (5, 6, 7)] == [1, 2, None]


def test_a_template_without_prepared_rows_gets_bordered_rows_and_its_notes_below(world, houses):
    result, wb = fill(world, house_template())
    ws = wb.active
    assert result.entity == "house" and result.rows == 2
    assert [c.value for c in ws[3]][:9] == [1, "3307261012010001", "樟树村1组1号", "孙房主", houses[0].owner.id_number,
                                         "砖混", 3, 120.5, "是"]
    assert [c.value for c in ws[4]][:9] == [2, "3307261012010002", "樟树村1组2号", "周业主", "33072619600517001X",
                                         "钢混", 2, None, "否"]
    assert ws["B3"].border.left.style == "thin" and not ws["B3"].font.b
    assert ws["A5"].value.startswith("注：") and "A5:J5" in {str(m) for m in ws.merged_cells.ranges}
    assert [str(dv.sqref) for dv in ws.data_validations.dataValidation] == ["I3:I502"]


def test_it_records_the_cells_it_saved_typing(world, people):
    result, _wb = fill(world, template(), actor=world.cadre)
    count = BurdenCount.objects.get(metric="fields_autofilled")
    assert (count.count, count.user, count.area_code, count.context) == (
        result.cells_filled, world.cadre, world.village.code, "测试村重点人员信息表")


def test_it_refuses_a_filter_naming_an_unknown_element(world, people):
    with pytest.raises(FillError, match="Unknown data element “person.shoe_size”"):
        fill(world, template(), where="person.shoe_size>40")
    assert not BurdenCount.objects.exists()


def test_it_refuses_a_template_of_no_registry_fields(world, catalog):
    wb = openpyxl.Workbook()
    wb.active.append(["序号", "活动名称", "签到", "备注"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(FillError, match="No column of the template could be matched"):
        fill(world, buf.getvalue())


def test_it_needs_the_catalog(world):
    with pytest.raises(FillError, match="catalog is empty"):
        fill(world, template())


@pytest.mark.parametrize(("text", "filled"), [
    ("填报单位：", "填报单位：梅岭镇"),
    ("填报日期：\u3000\u3000年\u3000\u3000月\u3000\u3000日", "填报日期：2025年6月30日"),
    ("填报单位（盖章）：前陈村村民委员会\u3000\u3000填报人：\u3000\u3000填报日期：\u3000年\u3000月\u3000日",
     "填报单位（盖章）：前陈村村民委员会\u3000\u3000填报人：\u3000\u3000填报日期：2025年6月30日"),
    ("填报单位：\u3000\u3000填表日期：\u3000\u3000", "填报单位：梅岭镇\u3000\u3000填表日期：2025年6月30日\u3000\u3000"),
    ("单位名称填报人：", "单位名称填报人："),
    ("填报人：张三", "填报人：张三"),
])
def test_the_fill_line_gets_the_unit_and_date_where_blank(text, filled):
    assert fill_line_text(text, area_name="梅岭镇", as_of=AS_OF) == filled


def test_a_population_of_nobody_keeps_the_template_as_it_was(world, people):
    result, wb = fill(world, template(prefilled=3), where="age>=120")
    ws = wb["花名册"]
    assert (result.rows, result.cells_total, result.cells_filled, result.gaps) == (0, 0, 0, [])
    assert ws.cell(9, 1).value == NOTE
    assert ws.cell(5, 2).value is None and ws.cell(5, 2).border.left.style == "thin"


def test_rows_a_template_already_holds_are_replaced(world, people):
    wb = openpyxl.load_workbook(io.BytesIO(template(prefilled=3)))
    ws = wb["花名册"]  # last year's three rows, one with a remark
    for r, name in ((5, "旧甲"), (6, "旧乙"), (7, "旧丙")):
        ws.cell(r, 1, r - 4)
        ws.cell(r, 2, name)
    ws.cell(6, 11, "已迁出")
    buf = io.BytesIO()
    wb.save(buf)
    _result, filled = fill(world, buf.getvalue(), where="person.low_income==是")
    ws = filled["花名册"]
    assert [[ws.cell(r, c).value for c in (1, 2, 11)] for r in (5, 6, 7)] == [
        [1, "张大山", None], [2, "李秀英", None], [None, None, None]]
    assert ws.cell(9, 1).value == NOTE
