import io
import json
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.imports import ImportError_, import_dry_run, import_prepare, import_run
from yici.exchange.models import ImportBatch
from yici.registry.models import SourceRecord
from yici.testing.fixtures import VILLAGE


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


def workbook_bytes(rows, *, title=None, sheet="人员") -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    if title:
        ws.append([title])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[0]))
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


PEOPLE = [
    ["序号", "姓名", "性别", "出生日期", "身份证号", "联系电话", "所在村", "备注"],
    [1, "张三丰", "1", "1960年5月17日", "330726196005170013", "+86 138-1234-5678", "樟树村", ""],
    [2, "李 四", "女", "19621103", "33072619621103002x", "13900000001", "樟树村", "外出务工"],
    [3, "王五", "男", "1970.1.2", "330726197001020010", "12345", "樟树村", ""],
]


def test_it_imports_a_file_with_a_title_row_and_maps_headers(world, catalog):
    data = workbook_bytes(PEOPLE, title="2025年樟树村人员花名册")
    plan = import_prepare(data=data, filename="people.xlsx", system_code="minzheng_test")
    assert plan.entity == "person"
    mapped = {c.header: c.element for c in plan.columns}
    assert mapped["身份证号"] == "person.id_number" and mapped["备注"] is None and mapped["序号"] is None
    summary = import_run(plan)
    assert summary.rows_total == 3
    records = {r.row_number: r for r in SourceRecord.objects.filter(batch=summary.batch)}
    zhang = records[1]
    assert zhang.values["person.birth_date"] == "1960-05-17"
    assert zhang.values["person.phone"] == "13812345678"
    assert zhang.values["person.gender"] == "男"
    assert zhang.area_code == VILLAGE
    assert records[2].values["person.name"] == "李四"
    assert records[2].values["person.id_number"] == "33072619621103002X"
    assert records[2].raw["备注"] == "外出务工"
    # An invalid phone is kept aside with the reason; the row and the rest of the file still import.
    wang = records[3]
    assert wang.status == "invalid" and "person.phone" not in wang.values
    assert wang.raw["person.phone"] == "12345" and wang.issues["person.phone"][0]["level"] == "error"


def test_importing_the_same_file_twice_creates_nothing(world, catalog):
    data = workbook_bytes(PEOPLE)
    import_run(import_prepare(data=data, filename="people.xlsx", system_code="minzheng_test"))
    again = import_run(import_prepare(data=data, filename="renamed.xlsx", system_code="minzheng_test"))
    assert again.already_imported
    assert ImportBatch.objects.count() == 1 and SourceRecord.objects.count() == 3


def test_dry_run_reports_every_row_and_stores_nothing(world, catalog):
    summary = import_dry_run(import_prepare(data=workbook_bytes(PEOPLE), filename="p.xlsx", system_code="x"))
    assert [o.status for o in summary.outcomes] == ["ok", "ok", "invalid"]
    assert not SourceRecord.objects.exists() and not ImportBatch.objects.exists()


def test_a_house_row_also_records_its_owner(world, catalog):
    rows = [["房屋编号", "产权人姓名", "产权人身份证号", "结构类型", "层数", "所属村"],
            ["3307261012010001", "张三丰", "330726196005170013", "砖混", "3层", "樟树村"]]
    summary = import_run(import_prepare(data=workbook_bytes(rows), filename="h.xlsx", system_code="zhujian_test"))
    house = SourceRecord.objects.get(batch=summary.batch, entity="house")
    owner = SourceRecord.objects.get(batch=summary.batch, entity="person")
    assert house.values["house.floors"] == "3" and owner.parent == house
    assert owner.values == {"person.name": "张三丰", "person.id_number": "330726196005170013", "person.village": "樟树村"}


def test_a_first_import_builds_the_record_indexes_after_its_rows_and_keeps_them(world, catalog, monkeypatch):
    import contextlib

    from django.db import connection

    from yici.common import db as common_db

    def indexes():
        with connection.cursor() as cursor:
            return sorted(common_db._secondary_indexes(cursor, SourceRecord._meta.db_table))

    deferred = []
    built_after = common_db.indexes_built_after

    @contextlib.contextmanager
    def spy(model, adding, **kwargs):
        with built_after(model, adding, **kwargs) as dropped:
            deferred.append((model, adding, dropped))
            yield dropped

    monkeypatch.setattr("yici.exchange.imports.indexes_built_after", spy)
    sqlite = connection.vendor == "sqlite"
    before = indexes() if sqlite else None
    rows = [["房屋编号", "产权人姓名", "产权人身份证号", "所属村"],
            *[[f"330726101201{i:04d}", f"张{i}", "", "樟树村"] for i in range(1, 6)]]
    summary = import_run(import_prepare(data=workbook_bytes(rows), filename="h.xlsx", system_code="zhujian_test"))
    assert deferred == [(SourceRecord, 5, sqlite)]  # the table was empty: dropped (SQLite only)
    if sqlite:
        assert indexes() == before and before
    owners = SourceRecord.objects.filter(batch=summary.batch, entity="person")
    assert owners.count() == 5 and all(o.parent.row_number == o.row_number for o in owners)


def test_a_mapping_override_wins(world, catalog, tmp_path):
    plan = import_prepare(data=workbook_bytes(PEOPLE), filename="p.xlsx", system_code="x",
                          overrides={"备注": "person.employer", "H": "person.employer"})
    assert next(c for c in plan.columns if c.header == "备注").element == "person.employer"
    with pytest.raises(ImportError_, match="unknown element"):
        import_prepare(data=workbook_bytes(PEOPLE), filename="p.xlsx", system_code="x", overrides={"备注": "person.nope"})


@pytest.mark.parametrize(
    "data, filename, message",
    [
        (b"", "empty.xlsx", "empty"),
        (b"PK\x03\x04 this is not really a zip", "broken.xlsx", "damaged|not a valid|cannot be read|corrupt"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "locked.xlsx", "password|encrypt|protected|damaged|not a valid"),
        ("说明：本表无表头\n\n".encode(), "notes.csv", "header"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(world, catalog, data, filename, message):
    with pytest.raises(ImportError_, match=message):
        import_prepare(data=data, filename=filename, system_code="x")
    assert not ImportBatch.objects.exists()


def test_a_missing_sheet_is_named(world, catalog):
    with pytest.raises(ImportError_, match="人员"):
        import_prepare(data=workbook_bytes(PEOPLE), filename="p.xlsx", system_code="x", sheet="Sheet9")


def test_gbk_csv(world, catalog):
    text = "姓名,性别,身份证号,所在村\r\n张三丰,男,330726196005170013,樟树村\r\n"
    plan = import_prepare(data=text.encode("gbk"), filename="卫健.csv", system_code="weijian_test")
    summary = import_run(plan)
    assert SourceRecord.objects.get(batch=summary.batch).values["person.name"] == "张三丰"


def test_the_command_imports_and_refuses_bad_input(world, catalog, tmp_path):
    path = tmp_path / "people.xlsx"
    path.write_bytes(workbook_bytes(PEOPLE))
    out = io.StringIO()
    call_command("import", str(path), system="minzheng_test", no_reconcile=True, quiet=True, stdout=out)
    assert "3 rows" in out.getvalue()
    assert "row 3" in out.getvalue()  # the invalid row is reported
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import", str(tmp_path / "nope.xlsx"), system="x")
    bad_mapping = tmp_path / "m.json"
    bad_mapping.write_text(json.dumps(["not", "an", "object"]))
    with pytest.raises(CommandError, match="mapping"):
        call_command("import", str(path), system="x", mapping=str(bad_mapping))
    with pytest.raises(CommandError, match="no area"):
        call_command("import", str(path), system="x", area="999999999999")
    assert ImportBatch.objects.count() == 1


def test_the_console_script_prints_one_line_for_a_corrupt_workbook(tmp_path):
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04garbage")
    env = {"PATH": "/usr/bin:/bin", "YICI_VAR_DIR": str(tmp_path / "var")}
    yici = str(Path(sys.executable).parent / "yici")
    subprocess.run([yici, "migrate", "-v0"], env=env, check=True, timeout=120)
    subprocess.run([yici, "load-catalog"], env=env, check=True, timeout=120, capture_output=True)
    proc = subprocess.run([yici, "import", str(broken), "--system", "x"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "nothing was imported" in proc.stderr


def test_a_worker_process_that_dies_is_one_line_and_stores_nothing(world, catalog, tmp_path, monkeypatch):
    from yici.common import parallel
    from yici.exchange import imports

    def killed(*_args, **_kwargs):
        raise parallel.WorkerLost("a worker process ended before finishing its work")
        yield  # a generator, as map_chunks is

    monkeypatch.setattr(imports.parallel, "map_chunks", killed)
    path = tmp_path / "people.xlsx"
    path.write_bytes(workbook_bytes(PEOPLE))
    with pytest.raises(CommandError, match="people.xlsx: a worker process ended .*; nothing was imported"):
        call_command("import", str(path), system="minzheng_test", no_reconcile=True, quiet=True, stdout=io.StringIO())
    assert not SourceRecord.objects.exists() and not ImportBatch.objects.exists()


def test_a_large_file_normalised_on_every_core_stores_what_one_core_stores(world, catalog, monkeypatch,
                                                                           process_pools):
    """Rows normalised in worker processes (a large file) give the records and outcomes that
    normalising them here gives, row for row."""
    from yici.common import parallel
    from yici.exchange import imports

    if parallel.cores() < 2:
        pytest.skip("one core: the rows are normalised in this process either way")
    rows = [PEOPLE[0]] + [[n, f"张{n}", "男" if n % 2 else "2", f"1960年5月{n % 28 + 1}日", "", f"1380000{n:04d}",
                           "樟树村", "x" * (n % 3)] for n in range(1, 301)]
    rows[150][5] = "12345"  # one invalid phone, kept aside
    data = workbook_bytes(rows)

    def stored(system):
        plan = import_prepare(data=data, filename="many.xlsx", system_code=system)
        summary = import_run(plan)
        dry = import_dry_run(plan)
        records = [(r.row_number, r.status, r.area_code, r.values, r.raw, r.issues)
                   for r in SourceRecord.objects.filter(batch=summary.batch).order_by("row_number")]
        return records, [(o.row_number, o.status, o.values) for o in dry.outcomes], dict(summary.counts)

    serial = stored("serial_test")
    monkeypatch.setattr(imports, "PARALLEL_FROM_ROWS", 50)
    monkeypatch.setattr(imports, "CHUNK_ROWS", 40)
    on_every_core = stored("parallel_test")
    assert len(process_pools) == 2  # the run and the dry run each used worker processes
    assert on_every_core == serial
    assert len(serial[0]) == 300 and serial[2]["invalid"] == 1
