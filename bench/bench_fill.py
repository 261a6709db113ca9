"""Benchmark template filling: a 20-column template for a village of 3,000 persons.

    .venv/bin/python bench/bench_fill.py [--persons 3000] [--repeat 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_fill.py

Creates a throw-away test database (Django's test database for the configured backend), loads the
catalog, bulk-creates the village's golden persons, builds a department-style template (title,
填报 line, two-level merged header, 序号, drop-downs on a hidden 字典 sheet, 20 prepared rows, a
notes row) and times ``template_fill`` end to end: reading the template, mapping, selecting and
filtering the persons, writing the workbook. Prints the best and median seconds. Goal: ≤ 0.5 s.
"""

import argparse
import datetime
import io
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yici.settings_test")

import django  # noqa: E402

django.setup()

import openpyxl  # noqa: E402
from django.db import connection  # noqa: E402
from openpyxl.styles import Border, Side  # noqa: E402
from openpyxl.worksheet.datavalidation import DataValidation  # noqa: E402

VILLAGE = "330726101201"
HEADERS = [  # (group, leaf); 20 columns
    ("序号", None), ("基本信息", "姓名"), ("基本信息", "性别"), ("基本信息", "民族"), ("基本信息", "出生日期"),
    ("基本信息", "年龄"), ("基本信息", "公民身份号码"), ("联系电话", None), ("户籍情况", "户号"), ("户籍情况", "与户主关系"),
    ("户籍情况", "户籍地址"), ("现居住地址", None), ("政治面貌", None), ("文化程度", None), ("婚姻状况", None),
    ("所属村民小组", None), ("是否低保", None), ("残疾类别", None), ("走访情况", None), ("备注", None),
]
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红"


def template() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "人口信息"
    n = len(HEADERS)
    ws.cell(1, 1, "樟树村人口信息采集表")
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
    for r in range(5, 25):
        for c in range(1, n + 1):
            ws.cell(r, c).border = box
        ws.cell(r, 7).number_format = "@"
    ws.cell(26, 1, "注：1.本表以户为单位填写；2.身份证号码须填写18位。")
    ws.merge_cells(start_row=26, start_column=1, end_row=26, end_column=n)
    book = wb.create_sheet("字典")
    for i, (code, label) in enumerate((("1", "男"), ("2", "女")), start=2):
        book.cell(i, 1, code)
        book.cell(i, 2, label)
    book.sheet_state = "hidden"
    dv = DataValidation(type="list", formula1="'字典'!$A$2:$A$3")
    dv.add("C5:C3024")
    ws.add_data_validation(dv)
    dv = DataValidation(type="list", formula1='"是,否"')
    dv.add("Q5:Q3024")
    ws.add_data_validation(dv)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def populate(n: int) -> None:
    from yici.accounts.models import Area, AreaLevel
    from yici.registry.golden import name_initials
    from yici.registry.idnumbers import make_id_number
    from yici.registry.models import Person

    county = Area.objects.create(code="330726000000", name="浦江县", level=AreaLevel.COUNTY)
    township = Area.objects.create(code="330726101000", name="岩头镇", level=AreaLevel.TOWNSHIP, parent=county)
    Area.objects.create(code=VILLAGE, name="樟树村", level=AreaLevel.VILLAGE, parent=township)
    rng = random.Random(1)
    people = []
    for i in range(n):
        born = datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.randrange(365 * 90))
        male = rng.random() < 0.5
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        group = rng.randrange(1, 10)
        address = f"浙江省金华市浦江县岩头镇樟树村{group}组{rng.randrange(1, 200)}号"
        attributes = {
            "person.ethnicity": "汉族", "person.household_no": f"1012010{i // 4:04d}",
            "person.registered_address": address, "person.current_address": address,
            "person.political_status": rng.choice(("群众", "中共党员", "共青团员")),
            "person.education": rng.choice(("小学", "初中", "高中", "大学本科")),
            "person.marital_status": rng.choice(("已婚", "未婚", "丧偶")), "person.village": "樟树村",
            "person.grid": f"{group}组", "person.low_income": rng.choice(("是", "否", "否", "否")),
        }
        if rng.random() < 0.05:
            attributes["person.disability_category"] = rng.choice(("视力残疾", "肢体残疾", "智力残疾"))
        people.append(Person(
            name=name, name_initials=name_initials(name), gender="男" if male else "女", birth_date=born,
            id_number=make_id_number(region="330726", birth_date=born, sequence=i % 999, male=male),
            phone=f"138{rng.randrange(10**8):08d}" if rng.random() < 0.9 else "", area_code=f"{VILLAGE}{group:02d}",
            relation_to_head="户主" if i % 4 == 0 else rng.choice(("配偶", "子", "女")), address=address,
            attributes=attributes,
        ))
    Person.objects.bulk_create(people, batch_size=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if connection.vendor != "sqlite":  # a database of its own, never the test suite's
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "yici_bench_fill"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from yici.accounts.models import Area
        from yici.catalog.services import BUILTIN_CATALOG, catalog_load
        from yici.reports.services import template_fill

        catalog_load(data=BUILTIN_CATALOG.read_bytes())
        populate(args.persons)
        village = Area.objects.get(code=VILLAGE)
        data = template()
        as_of = datetime.date(2025, 6, 30)
        template_fill(data=data, filename="bench.xlsx", area=village, as_of=as_of)  # warm caches (pinyin, catalog)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = template_fill(data=data, filename="bench.xlsx", area=village, as_of=as_of)
            times.append(time.perf_counter() - started)
        print(result.line())
        print(f"fill {args.persons} persons x {len(HEADERS)} columns ({connection.vendor}): "
              f"best {min(times):.3f} s, median {statistics.median(times):.3f} s over {args.repeat} runs")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
