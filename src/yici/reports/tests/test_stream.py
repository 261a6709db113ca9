"""Streaming the rows into the sheet: compressed pieces joined into one part, and a fill split over
two workers giving the same workbook as one (issue "Fill once", the county benchmark)."""

import io
import random
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import openpyxl
import pytest
from django.db import connection

from yici.reports import parallel, services
from yici.reports.tests.builders import template
from yici.reports.tests.conftest import AS_OF
from yici.reports.xlsxzip import build_zip, crc32_combine, deflate_piece, join_pieces


def test_crc32_combine_is_zlibs():
    rng = random.Random(3)
    for _ in range(50):
        a = rng.randbytes(rng.randrange(0, 3000))
        b = rng.randbytes(rng.randrange(0, 3000))
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_pieces_compressed_apart_make_one_stream_and_one_valid_part():
    texts = ["<worksheet><sheetData>", "".join(f'<row r="{i}"><c r="A{i}"><v>{i}</v></c></row>' for i in range(5000)),
             "", "</sheetData></worksheet>"]
    pieces = [deflate_piece(t) for t in texts[:-1]] + [deflate_piece(texts[-1], final=True)]
    joined = join_pieces(pieces)
    assert zlib.decompress(joined.data, -15) == "".join(texts).encode()
    assert (joined.crc, joined.size) == (zlib.crc32("".join(texts).encode()), len("".join(texts).encode()))
    skeleton = io.BytesIO()
    with zipfile.ZipFile(skeleton, "w") as z:
        z.writestr("a.xml", "<a/>")
        z.writestr("xl/worksheets/sheet1.xml", "<old/>")
    package = zipfile.ZipFile(io.BytesIO(build_zip(skeleton.getvalue(), {"xl/worksheets/sheet1.xml": joined})))
    assert package.testzip() is None  # every CRC checks out
    assert package.read("xl/worksheets/sheet1.xml") == "".join(texts).encode()
    assert package.read("a.xml") == b"<a/>"


def cells(data: bytes) -> dict:
    book = openpyxl.load_workbook(io.BytesIO(data))
    out = {}
    for ws in book.worksheets:
        out[ws.title] = {
            "values": [[c.value for c in row] for row in ws.iter_rows()],
            "formats": [[c.number_format for c in row] for row in ws.iter_rows()],
            "merges": sorted(str(m) for m in ws.merged_cells.ranges),
            "validations": sorted(str(dv.sqref) for dv in ws.data_validations.dataValidation),
            "heights": {r: d.height for r, d in ws.row_dimensions.items() if d.height},
            "print_area": ws.print_area,
        }
    return out


@pytest.mark.django_db(transaction=True)
def test_a_fill_split_over_two_workers_is_the_fill_of_one(world, people, settings, monkeypatch, tmp_path, caplog):
    settings.MEDIA_ROOT = tmp_path / "media"
    data = template(prefilled=1)
    settings.REPORTS_PARALLEL_MIN_ROWS = None
    alone = services.template_fill(data=data, filename="x.xlsx", area=world.county, as_of=AS_OF)

    calls = []
    if connection.vendor == "sqlite":  # a spawned process cannot see an in-memory database: a thread can
        monkeypatch.setattr(parallel, "helper_executor", lambda: ThreadPoolExecutor(max_workers=1))
    real = parallel._fill_split

    def spy(*args, **kwargs):
        calls.append(kwargs["split"][2])
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "_fill_split", spy)
    settings.REPORTS_PARALLEL_MIN_ROWS = 1
    split = services.template_fill(data=data, filename="x.xlsx", area=world.county, as_of=AS_OF)
    assert calls == [4]  # 樟树村's four rows here, the other villages' after them in the helper (PostgreSQL:
    # a spawned process; SQLite's in-memory test database: a thread) …
    assert "abandoned" not in caplog.text  # … which did its part: no fall-back to one process
    assert cells(split.workbook) == cells(alone.workbook)
    assert (split.rows, split.cells_filled, split.gap_count) == (alone.rows, alone.cells_filled, alone.gap_count) == (
        6, alone.cells_filled, len(alone.gaps))
    assert [g.as_json() for g in split.gaps] == [g.as_json() for g in alone.gaps]

    # the 汇总 with one sheet per village, typed values laid over
    report = services.report_register(report=services.report_draft(
        data=data, filename="x.xlsx", department=world.department, name="重点人员信息表", legal_basis="条例",
        actor=world.department_staff), actor=world.department_staff)
    collection = services.collection_send(report=report, actor=world.department_staff, as_of=AS_OF,
                                          areas=[world.village, world.neighbour_village, world.other_village])
    other = collection.instances.get(area=world.other_village)
    qian = other.rows[0]["key"]
    services.instance_save(instance=other, entries={services.cell_id(qian, "H"): "13500002222",
                                                    services.cell_id(qian, "J"): "已走访"}, actor=world.outsider)
    calls.clear()
    together = services.collection_workbook(collection=collection, per_village=True, as_of=AS_OF)
    assert calls == [4] and "abandoned" not in caplog.text
    settings.REPORTS_PARALLEL_MIN_ROWS = None
    one = services.collection_workbook(collection=collection, per_village=True, as_of=AS_OF)
    assert cells(together.workbook) == cells(one.workbook)
    book = openpyxl.load_workbook(io.BytesIO(together.workbook))
    assert book.sheetnames[0] == "花名册" and book.sheetnames[-3:] == ["樟树村", "石门村", "前陈村"]
    assert [book["前陈村"].cell(5, c).value for c in (1, 2, 8, 10)] == [1, "钱五", "13500002222", "已走访"]
    assert book["前陈村"].cell(6, 1).value is None  # the prepared row's 序号 is not left behind
