"""The 20-column person template the fill benchmarks use: title, 填报 line, two-level merged header,
序号, 20 prepared rows, two dropdowns (one on a hidden 字典 sheet) and a notes row."""

import io

import openpyxl
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.datavalidation import DataValidation

HEADERS = [  # (group, leaf); 20 columns
    ("序号", None), ("基本信息", "姓名"), ("基本信息", "性别"), ("基本信息", "民族"), ("基本信息", "出生日期"),
    ("基本信息", "年龄"), ("基本信息", "公民身份号码"), ("联系电话", None), ("户籍情况", "户号"), ("户籍情况", "与户主关系"),
    ("户籍情况", "户籍地址"), ("现居住地址", None), ("政治面貌", None), ("文化程度", None), ("婚姻状况", None),
    ("所属村民小组", None), ("是否低保", None), ("残疾类别", None), ("走访情况", None), ("备注", None),
]


def person_template(*, title: str, dropdown_last_row: int = 24, formal: bool = False) -> bytes:
    """``formal`` adds a bold centred title and a 填表人/审核人 sign row, as county-level forms have."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "人口信息"
    n = len(HEADERS)
    ws.cell(1, 1, title)
    if formal:
        ws.cell(1, 1).font = Font(size=16, bold=True)
        ws.cell(1, 1).alignment = Alignment(horizontal="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    ws.cell(2, 1, "填报单位：\u3000\u3000\u3000\u3000填报日期：\u3000\u3000年\u3000\u3000月\u3000\u3000日")
    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    groups: dict[str, list[int]] = {}
    for c, (group, leaf) in enumerate(HEADERS, start=1):
        for r in (3, 4):
            ws.cell(r, c).border = box
        if leaf is None:
            ws.cell(3, c, group)
            ws.merge_cells(start_row=3, start_column=c, end_row=4, end_column=c)
        else:
            groups.setdefault(group, []).append(c)
            ws.cell(4, c, leaf)
    for group, cols in groups.items():
        ws.cell(3, cols[0], group)
        ws.merge_cells(start_row=3, start_column=cols[0], end_row=3, end_column=cols[-1])
    for r in range(5, 25):  # 20 prepared rows
        for c in range(1, n + 1):
            ws.cell(r, c).border = box
        ws.cell(r, 7).number_format = "@"
    ws.cell(26, 1, "注：1.本表以户为单位填写；2.身份证号码须填写18位。")
    ws.merge_cells(start_row=26, start_column=1, end_row=26, end_column=n)
    if formal:
        ws.cell(27, 1, "填表人：\u3000\u3000\u3000\u3000审核人：")
    book = wb.create_sheet("字典")
    for i, (code, label) in enumerate((("1", "男"), ("2", "女")), start=2):
        book.cell(i, 1, code)
        book.cell(i, 2, label)
    book.sheet_state = "hidden"
    dv = DataValidation(type="list", formula1="'字典'!$A$2:$A$3")
    dv.add(f"C5:C{dropdown_last_row}")
    ws.add_data_validation(dv)
    dv = DataValidation(type="list", formula1='"是,否"')
    dv.add(f"Q5:Q{dropdown_last_row}")
    ws.add_data_validation(dv)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
