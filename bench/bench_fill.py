"""Benchmark template filling: a 20-column template for a village of 3,000 persons.

    .venv/bin/python bench/bench_fill.py [--persons 3000] [--repeat 5]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_fill.py

Creates a throw-away test database (Django's test database for the configured backend), loads the
catalog, bulk-creates the village's golden persons, builds a department-style template (title,
填报 line, two-level merged header, 序号, drop-downs on a hidden 字典 sheet, 20 prepared rows, a
notes row) and times ``template_fill`` end to end: reading the template, mapping, selecting and
filtering the persons, writing the workbook. Prints the best and median seconds, and the best CPU
seconds (this process and its threads). Goal: ≤ 0.5 s.
"""

import argparse
import datetime
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

from django.db import connection  # noqa: E402
from person_template import HEADERS, person_template  # noqa: E402

VILLAGE = "330726101201"
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红"


def template() -> bytes:
    return person_template(title="樟树村人口信息采集表", dropdown_last_row=3024)


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
        times, cpu = [], []
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = template_fill(data=data, filename="bench.xlsx", area=village, as_of=as_of)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        print(result.line())
        print(f"fill {args.persons} persons x {len(HEADERS)} columns ({connection.vendor}): "
              f"best {min(times):.3f} s, median {statistics.median(times):.3f} s over {args.repeat} runs "
              f"(CPU best {min(cpu):.3f} s; the machine is shared: the CPU time is the fill's own)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
