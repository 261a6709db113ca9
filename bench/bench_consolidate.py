"""Benchmark the county-wide fill and the consolidated workbook (汇总) of a collection to every village.

    .venv/bin/python bench/bench_consolidate.py [--persons 1000000] [--villages 300]
    .venv/bin/python bench/bench_consolidate.py --persons 100000 --stages fill,send,consolidate
    .venv/bin/python bench/bench_consolidate.py --database-url postgres://postgres@127.0.0.1:5432/postgres

Goal (issue "Fill once"): a county of 300 villages (≈ 1 M persons) consolidated in ≤ 30 s.

Creates a fresh database (SQLite in a temp folder, migrated; or, with ``--database-url``, a
throw-away PostgreSQL database ``yici_bench_consolidate``), loads the catalog, creates the area tree
(county 330726000000 → 10 townships → the villages), loads the golden households and persons with
``fast_insert`` (≈ 4 persons a household, realistic names, ID numbers, phones and attributes),
builds a 20-column person template (title, 填报 line, two-level header, 序号, drop-downs, notes
row) and times the stages:

    fill         ``template_fill`` of the template on the county (filter ``all``; gaps counted, not listed)
    send         register the report and ``collection_send`` it to every village (one pre-filled
                 instance each)
    consolidate  ``collection_workbook`` of that collection (the 汇总 the department downloads); with
                 ``--db`` and without ``send``, of the collection an earlier run sent
    filtered     the same three steps for a report with the filter ``age>=80``

and prints per stage the seconds, the rows, the workbook size and the process's peak RSS so far
(``ru_maxrss`` only grows: a stage's figure is the peak up to its end; a helper process's memory
is not in it), and the CPU seconds of this process and its helper processes (the machine is
shared: when others run, the wall time grows and the CPU time says what the stage itself cost).
"""

import argparse
import datetime
import gc
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from person_template import person_template  # noqa: E402  (beside this file)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yici.settings_test")

STAGES = ("fill", "send", "consolidate", "filtered")
COUNTY = "330726000000"
TOWNSHIPS = 10
SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段漕钱汤尹黎易常武乔贺赖龚文"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰凤云珍莲梅琴萍春燕飞鹏辉斌宇浩凯健俊峰亮林海波宁欣"
TOWN_NAMES = ("浦阳街道", "仙华街道", "黄宅镇", "岩头镇", "郑宅镇", "檀溪镇", "杭坪镇", "白马镇", "郑家坞镇", "虞宅乡")
VILLAGE_WORDS = "樟树上塘下湾前山后溪石门新田大园东岭西坑南庄北岸马岙花桥竹林松坞"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds() -> float:
    """CPU time of this process and of its finished helper processes (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def template() -> bytes:
    return person_template(title="浦江县人口信息汇总表", formal=True)


def make_areas(villages: int) -> list:
    from yici.accounts.models import Area, AreaLevel

    county = Area.objects.create(code=COUNTY, name="浦江县", level=AreaLevel.COUNTY)
    towns = [Area.objects.create(code=f"330726{101 + t:03d}000", name=TOWN_NAMES[t], level=AreaLevel.TOWNSHIP,
                                 parent=county) for t in range(TOWNSHIPS)]
    rng = random.Random(7)
    out, names = [], set()
    for v in range(villages):
        town = towns[v % TOWNSHIPS]
        while True:
            name = "".join(rng.sample(VILLAGE_WORDS, 2)) + "村"
            if name not in names:
                names.add(name)
                break
        area = Area(code=f"{town.code[:9]}{201 + v // TOWNSHIPS:03d}", name=name, level=AreaLevel.VILLAGE,
                    parent=town)
        area.prefix = Area.prefix_for(area.code, area.level)
        out.append(area)
    Area.objects.bulk_create(out)
    return list(Area.objects.filter(level=AreaLevel.VILLAGE).order_by("code"))


PERSON_FIELDS = ["name", "name_initials", "id_number", "gender", "birth_date", "phone", "household_id",
                 "relation_to_head", "address", "area_code", "attributes", "provenance", "created_at", "updated_at",
                 "version"]
HOUSEHOLD_FIELDS = ["id", "household_no", "head_name", "address", "phone", "area_code", "attributes", "provenance",
                    "created_at", "updated_at", "version"]


def populate(persons: int, villages: list) -> tuple[int, int]:
    """Golden households and persons, ≈ 4 a household, spread evenly over ``villages``."""
    from django.db import transaction
    from django.utils import timezone

    from yici.common.db import fast_insert, reserve_ids
    from yici.registry.golden import name_initials
    from yici.registry.idnumbers import make_id_number
    from yici.registry.models import Household, Person

    rng = random.Random(1)
    now = timezone.now()
    total_households = 0
    per_village = [persons // len(villages) + (1 if v < persons % len(villages) else 0) for v in range(len(villages))]
    day0 = datetime.date(1924, 1, 1)  # ages 0–101, fewest at the ends
    with transaction.atomic():
        for village, count in zip(villages, per_village, strict=True):
            sizes = []
            left = count
            while left > 0:
                size = min(left, rng.choice((1, 2, 3, 3, 4, 4, 4, 5, 5, 6)))
                sizes.append(size)
                left -= size
            ids = reserve_ids(Household, len(sizes))
            households, people = [], []
            seq = 0
            for k, (hid, size) in enumerate(zip(ids, sizes, strict=True)):
                group = rng.randrange(1, 13)
                no = f"{village.code[6:12]}{k + 1:05d}"
                address = f"浙江省金华市浦江县{village.parent.name}{village.name}{group}组{rng.randrange(1, 300)}号"
                surname = rng.choice(SURNAMES)
                head_phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
                head_name = ""
                for m in range(size):
                    born = day0 + datetime.timedelta(days=int(rng.triangular(0, 365 * 100, 365 * 50)))
                    male = rng.random() < 0.5
                    own = surname if m != 1 else rng.choice(SURNAMES)
                    name = own + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
                    relation = "户主" if m == 0 else "配偶" if m == 1 else rng.choice(("子", "女", "孙子", "孙女", "父亲"))
                    head_name = head_name or name
                    seq += 1
                    attributes = {
                        "person.ethnicity": "汉族" if rng.random() < 0.97 else rng.choice(("畲族", "回族", "苗族")),
                        "person.household_no": no, "person.registered_address": address,
                        "person.current_address": address,
                        "person.political_status": rng.choice(("群众", "群众", "群众", "中共党员", "共青团员")),
                        "person.education": rng.choice(("小学", "初中", "高中", "大学本科", "大学专科")),
                        "person.marital_status": rng.choice(("已婚", "未婚", "丧偶", "离婚")),
                        "person.village": village.name, "person.grid": f"{group}组",
                        "person.low_income": "是" if rng.random() < 0.06 else "否",
                    }
                    if rng.random() < 0.05:
                        attributes["person.disability_category"] = rng.choice(("视力残疾", "肢体残疾", "智力残疾"))
                    people.append({
                        "name": name, "name_initials": name_initials(name), "gender": "男" if male else "女",
                        "birth_date": born,
                        "id_number": make_id_number(region="330726", birth_date=born, sequence=seq % 999, male=male),
                        "phone": (head_phone if m == 0 else f"1{rng.choice('3578')}{rng.randrange(10**9):09d}")
                        if rng.random() < 0.9 else "",
                        "household_id": hid, "relation_to_head": relation, "address": address,
                        "area_code": f"{village.code}{group:02d}", "attributes": attributes, "provenance": {},
                        "created_at": now, "updated_at": now, "version": 1,
                    })
                households.append({
                    "id": hid, "household_no": no, "head_name": head_name, "address": address, "phone": head_phone,
                    "area_code": village.code, "attributes": {}, "provenance": {}, "created_at": now,
                    "updated_at": now, "version": 1,
                })
            fast_insert(Household, households, HOUSEHOLD_FIELDS)
            fast_insert(Person, people, PERSON_FIELDS)
            total_households += len(households)
    return persons, total_households


class Timer:
    def __init__(self):
        self.lines: list[str] = []

    def run(self, label: str, fn):
        gc.collect()
        started, cpu = time.perf_counter(), cpu_seconds()
        result = fn()
        seconds = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
        rows = getattr(result, "rows", None)
        if isinstance(rows, list):
            rows = len(rows)
        book = getattr(result, "workbook", None)
        size = f", {len(book) / 1e6:.1f} MB" if isinstance(book, bytes | memoryview) else ""
        line = f"{label:<34} {seconds:8.2f} s (CPU {cpu:6.1f} s)  rows {rows if rows is not None else '-':>9}" \
               f"{size}, peak RSS {rss_mb():,.0f} MB"
        print(line, flush=True)
        self.lines.append(line)
        return result


def collection_stages(timer: Timer, *, label: str, where: str, data: bytes, villages: list, actor, department,
                      as_of: datetime.date, stages: set[str]):
    from yici.reports import services

    def register():
        report = services.report_draft(data=data, filename="人口信息汇总表.xlsx", department=department,
                                       name=f"人口信息表 {where}", legal_basis="《浙江省社会救助条例》第十条",
                                       population_filter=where, actor=actor)
        return services.report_register(report=report, actor=actor)

    from yici.reports.models import Collection

    earlier = Collection.objects.filter(report__department=department, report__population_filter=where).first()
    if "consolidate" in stages and "send" not in stages and earlier is not None:
        collection = earlier  # --db: the collection an earlier run sent
        print(f"{label}: the collection sent by an earlier run ({collection.instances.count()} villages)")
    else:
        report = timer.run(f"{label}: report_draft+register", register)
        if not stages & {"send", "consolidate", "filtered"}:
            return
        collection = timer.run(f"{label}: collection_send x{len(villages)}", lambda: services.collection_send(
            report=report, areas=villages, actor=actor, as_of=as_of))
    if stages & {"consolidate", "filtered"}:
        timer.run(f"{label}: collection_workbook (汇总)", lambda: services.collection_workbook(
            collection=collection, as_of=as_of, actor=actor))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--villages", type=int, default=300)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; default a SQLite file in a temp folder")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (SQLite database, workbooks)")
    parser.add_argument("--db", default="", help="a SQLite file to build once and reuse on later runs (generating "
                        "a 1 M-person county takes minutes); the timed stages' reports are removed after each run")
    args = parser.parse_args()
    stages = {s.strip() for s in args.stages.split(",") if s.strip()}
    if stages - set(STAGES):
        parser.error(f"unknown stage(s): {', '.join(sorted(stages - set(STAGES)))}")
    if not 1 <= args.villages <= TOWNSHIPS * 99:
        parser.error("--villages must be between 1 and 990")

    tmp = Path(tempfile.mkdtemp(prefix="yici-bench-consolidate-"))
    sqlite = not args.database_url
    reuse = Path(args.db).resolve() if args.db and sqlite else None
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{reuse or tmp / 'bench.sqlite3'}"

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    # With --db the templates outlive the run, beside the database (a later run sums up their collection).
    settings.MEDIA_ROOT = reuse.with_name(reuse.stem + "-media") if reuse is not None else tmp / "media"
    old_name = None
    if sqlite:
        if reuse is not None:
            reuse.parent.mkdir(parents=True, exist_ok=True)
        call_command("migrate", verbosity=0, interactive=False)
    else:  # a database of its own, never the configured one nor the test suite's
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "yici_bench_consolidate"
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from yici.accounts.models import Area, Department, User
        from yici.accounts.roles import Role
        from yici.catalog.services import BUILTIN_CATALOG, catalog_load
        from yici.registry.models import Household, Person
        from yici.reports.services import template_fill

        print(f"database: {connection.vendor} ({os.environ['DATABASE_URL'] if sqlite else 'yici_bench_consolidate'})")
        started = time.perf_counter()
        if reuse is not None and Area.objects.filter(code=COUNTY).exists():
            from yici.accounts.models import AreaLevel
            from yici.reports.models import Collection, Report

            if "send" in stages or "consolidate" not in stages:  # else the last run's collection is summed up
                Collection.objects.filter(report__department__code="minzheng").delete()  # the last run's
                Report.objects.filter(department__code="minzheng").delete()
            villages = list(Area.objects.filter(level=AreaLevel.VILLAGE).order_by("code"))
            persons, households = Person.objects.count(), Household.objects.count()
            print(f"reusing {reuse}: {persons:,} persons, {households:,} households in {len(villages)} villages")
        else:
            catalog_load(data=BUILTIN_CATALOG.read_bytes())
            villages = make_areas(args.villages)
            persons, households = populate(args.persons, villages)
            print(f"loaded {persons:,} persons, {households:,} households in {len(villages)} villages: "
                  f"{time.perf_counter() - started:.1f} s, peak RSS {rss_mb():,.0f} MB", flush=True)
        county = Area.objects.get(code=COUNTY)
        department, _ = Department.objects.get_or_create(code="minzheng", defaults={"name": "民政局"})
        actor, _ = User.objects.get_or_create(username="bench", defaults={
            "role": Role.DEPARTMENT_STAFF, "area": county, "department": department})
        data = template()
        as_of = datetime.date(2025, 6, 30)
        timer = Timer()
        if "fill" in stages:
            result = timer.run("fill county, all (template_fill)", lambda: template_fill(
                data=data, filename="人口信息汇总表.xlsx", area=county, as_of=as_of, collect_gaps=False))
            print(f"  {result.line()}; {result.gap_count:,} gaps (counted, not listed)")
            if args.keep:
                (tmp / "fill-all.xlsx").write_bytes(result.workbook)
            del result
        if stages & {"send", "consolidate"}:
            collection_stages(timer, label="all", where="all", data=data, villages=villages, actor=actor,
                              department=department, as_of=as_of, stages=stages - {"filtered"})
        if "filtered" in stages:
            result = timer.run("fill county, age>=80 (template_fill)", lambda: template_fill(
                data=data, filename="人口信息汇总表.xlsx", area=county, where="age>=80", as_of=as_of))
            del result
            collection_stages(timer, label="age>=80", where="age>=80", data=data, villages=villages, actor=actor,
                              department=department, as_of=as_of, stages={"filtered"})
        print(f"\n{persons:,} persons, {len(villages)} villages, {connection.vendor}, {os.cpu_count()} CPUs:")
        for line in timer.lines:
            print("  " + line)
    finally:
        if old_name is not None:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            connection.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
