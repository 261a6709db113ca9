"""The cadre uploads the filled workbook back (issue "Fill once", item 5)."""

import io

import openpyxl
import pytest
from django.urls import reverse

from yici.audit.models import AuditEvent
from yici.burden.models import BurdenCount, BurdenMetric
from yici.registry.golden import provenance_of
from yici.registry.models import Link, Person, SourceKind, SourceRecord
from yici.reports import services
from yici.reports.models import InstanceStatus
from yici.reports.tests.builders import template
from yici.reports.tests.test_collections import instance_of, sent

SHEET = "花名册"
NAME, ID, PHONE, VISIT = 2, 4, 8, 10  # columns B, D, H, J


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def rows_by_name(ws) -> dict[str, int]:
    return {ws.cell(r, NAME).value: r for r in range(5, ws.max_row + 1) if ws.cell(r, NAME).value}


def filled_in_excel(instance, edit) -> bytes:
    """The instance's download, changed by ``edit(ws)`` and saved as Excel would."""
    book = openpyxl.load_workbook(io.BytesIO(bytes(instance.workbook)))
    edit(book[SHEET])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def reverse_rows(ws, rows: dict[str, int]) -> None:
    """Sort the data rows the other way round (as a cadre sorting by a column would)."""
    values = {r: [ws.cell(r, c).value for c in range(1, 12)] for r in rows.values()}
    order = sorted(rows.values())
    for target, source in zip(order, reversed(order), strict=True):
        for c, value in enumerate(values[source], start=1):
            ws.cell(target, c).value = value


def test_uploaded_gap_values_are_taken_and_changes_become_proposed_corrections(world, people):
    mine = instance_of(sent(world), world.village)

    def edit(ws):
        rows = rows_by_name(ws)
        ws.cell(rows["李秀英"], PHONE).value = "136 0000 1111"  # a gap
        ws.cell(rows["李秀英"], VISIT).value = "已走访"  # a column without a registry field
        ws.cell(rows["王芳"], PHONE).value = "12345"  # a gap, wrong
        ws.cell(rows["张大山"], PHONE).value = "13999998888"  # pre-filled, changed
        ws.cell(rows["张小明"], PHONE).value = None  # pre-filled, emptied
        reverse_rows(ws, rows)  # and sorted: rows are matched by ID, not by place

    result = services.instance_upload(instance=mine, data=filled_in_excel(mine, edit), filename="回传.xlsx",
                                      actor=world.cadre)
    assert (result.rows, result.taken, result.corrections, result.cleared) == (4, 2, 1, 1)
    assert len(result.rejected) == 1 and "联系电话" in result.rejected[0]
    assert result.rejected[0].startswith("Row 5")  # 王芳 was row 8, sorted to the top
    assert result.unmatched == [] and not result.submitted
    mine.refresh_from_db()
    keys = {r["label"]: r["key"] for r in mine.rows}
    assert mine.values == {keys["李秀英"]: {"H": "13600001111"}}
    assert mine.unmapped_values == {keys["李秀英"]: {"J": "已走访"}}
    assert mine.corrections == {keys["张大山"]: {"H": {"value": "13999998888", "was": "13812345678",
                                                        "element": "person.phone"}}}
    assert (mine.status, mine.upload_filename) == (InstanceStatus.IN_PROGRESS, "回传.xlsx")
    assert not SourceRecord.objects.filter(kind=SourceKind.REPORT).exists()  # not before the submit
    assert AuditEvent.objects.filter(object_id=str(mine.pk), after__uploaded="回传.xlsx").exists()

    # Submitted: the gap value and the correction go to the registry as this report's records.
    saved = services.instance_save(instance=mine, entries={}, actor=world.cadre, submit=True)
    assert saved.submitted
    wife, head = Person.objects.get(pk=people["wife"].pk), Person.objects.get(pk=people["head"].pk)
    assert wife.phone == "13600001111"
    correction = SourceRecord.objects.get(kind=SourceKind.REPORT, values={"person.phone": "13999998888"})
    assert (correction.actor, correction.context) == (world.cadre, "重点人员信息表")
    assert Link.objects.get(record=correction).person_id == head.pk
    # survivorship decided: the newest report record wins over the fixture's value
    assert head.phone == "13999998888" and provenance_of("person", head)["person.phone"]["record"] == correction.pk
    assert Person.objects.get(pk=people["son"].pk).phone  # an emptied cell removed nothing
    counts = {c.metric: c.count for c in BurdenCount.objects.filter(user=world.cadre, context="重点人员信息表")}
    assert counts == {BurdenMetric.FIELDS_AUTOFILLED: mine.cells_filled, BurdenMetric.FIELDS_TYPED: 3}


def test_rows_yici_did_not_write_are_reported_not_guessed(world, people):
    mine = instance_of(sent(world), world.village)

    def edit(ws):
        rows = rows_by_name(ws)
        # 王芳's ID cleared and her row moved down one: matched by the 序号 Yici wrote, her name agreeing.
        wang = [ws.cell(rows["王芳"], c).value for c in range(1, 12)]
        ws.insert_rows(rows["王芳"])
        for c, value in enumerate(wang, start=1):
            ws.cell(rows["王芳"] + 1, c).value = value
        ws.cell(rows["王芳"] + 1, ID).value = None
        ws.cell(rows["王芳"] + 1, PHONE).value = "13700002222"
        # a person Yici did not write, with the 序号 of 张大山: not his row, since the name differs
        ws.cell(rows["王芳"], 1).value = 1
        ws.cell(rows["王芳"], NAME).value = "新来的"
        ws.cell(rows["王芳"], PHONE).value = "13500000000"
        # 张小明 twice: the second is reported
        ws.cell(20, 1).value = 3
        ws.cell(20, NAME).value = "张小明"
        ws.cell(20, ID).value = ws.cell(rows["张小明"], ID).value
        ws.cell(20, VISIT).value = "重复"

    result = services.instance_upload(instance=mine, data=filled_in_excel(mine, edit), filename="x.xlsx",
                                      actor=world.cadre)
    assert result.rows == 4 and result.taken == 1
    assert len(result.unmatched) == 2
    assert "新来的" in result.unmatched[0] and "not a row Yici wrote" in result.unmatched[0]
    assert "Row 20" in result.unmatched[1] and "repeats" in result.unmatched[1]
    mine.refresh_from_db()
    wang = next(r["key"] for r in mine.rows if r["label"] == "王芳")
    assert mine.values == {wang: {"H": "13700002222"}}
    assert mine.unmapped_values == {}


def another_template() -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(template(prefilled=1)))
    book[SHEET].cell(4, 4).value = "护照号"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def broken() -> bytes:
    return template(prefilled=1)[:3000]


@pytest.mark.parametrize(("data", "says"), [
    (b"name,phone\n", "not an Excel workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "password"),
    ("broken", "cannot be read"),
    ("another", "not this report's workbook"),
])
def test_a_wrong_file_is_refused_with_one_message_and_nothing_stored(world, people, data, says):
    mine = instance_of(sent(world), world.village)
    data = broken() if data == "broken" else another_template() if data == "another" else data
    with pytest.raises(services.ReportError) as caught:
        services.instance_upload(instance=mine, data=data, filename="x.xlsx", actor=world.cadre)
    assert says in str(caught.value) and "\n" not in str(caught.value)
    mine.refresh_from_db()
    assert (mine.status, mine.values, mine.unmapped_values, mine.corrections, mine.uploaded_at) == (
        InstanceStatus.PREFILLED, {}, {}, {}, None)


def test_a_submitted_instance_takes_no_upload(world, people):
    mine = instance_of(sent(world), world.village)
    services.instance_save(instance=mine, entries={}, actor=world.cadre, submit=True)
    with pytest.raises(services.ReportError):
        services.instance_upload(instance=mine, data=bytes(mine.workbook), filename="x.xlsx", actor=world.cadre)


def test_the_unchanged_download_uploaded_back_changes_nothing(world, people):
    mine = instance_of(sent(world), world.village)
    result = services.instance_upload(instance=mine, data=bytes(mine.workbook), filename="x.xlsx", actor=world.cadre,
                                      submit=True)
    assert (result.rows, result.taken, result.corrections, result.unchanged, result.rejected, result.unmatched) == (
        4, 0, 0, 4, [], [])
    assert result.submitted
    assert not SourceRecord.objects.filter(kind=SourceKind.REPORT).exists()


# --- the page ---------------------------------------------------------------------------------------------

def upload_file(data: bytes, name: str = "回传.xlsx"):
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def test_the_cadre_uploads_the_workbook_on_the_page(client, world, people, settings):
    mine = instance_of(sent(world), world.village)
    client.force_login(world.cadre)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the page's messages in English
    url = reverse("reports:instance_detail", args=[mine.pk])
    assert 'data-testid="upload-form"' in client.get(url).content.decode()

    def edit(ws):
        rows = rows_by_name(ws)
        ws.cell(rows["李秀英"], PHONE).value = "13600001111"
        ws.cell(rows["王芳"], PHONE).value = "bad"
        ws.cell(rows["张大山"], PHONE).value = "13999998888"

    response = client.post(reverse("reports:instance_upload", args=[mine.pk]),
                           {"file": upload_file(filled_in_excel(mine, edit))}, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == url
    assert "rows matched: 4; values taken: 1; proposed corrections: 1; rejected: 1; rows not taken: 0" in page
    assert "Row 8, 联系电话" in page  # the reason, with its row and column
    assert 'data-testid="corrections"' in page and "13999998888" in page
    mine.refresh_from_db()
    assert mine.values and mine.status == InstanceStatus.IN_PROGRESS

    response = client.post(reverse("reports:instance_upload", args=[mine.pk]),
                           {"file": upload_file(b"not a workbook", "x.xlsx")})
    assert response.status_code == 200 and "not an Excel workbook" in response.content.decode()


def test_the_outsider_and_the_department_cannot_upload(client, world, people):
    mine = instance_of(sent(world), world.village)
    url = reverse("reports:instance_upload", args=[mine.pk])
    client.force_login(world.outsider)
    assert client.post(url, {"file": upload_file(bytes(mine.workbook))}).status_code == 404
    client.force_login(world.department_staff)
    assert client.post(url, {"file": upload_file(bytes(mine.workbook))}).status_code == 403
    mine.refresh_from_db()
    assert (mine.status, mine.uploaded_at) == (InstanceStatus.PREFILLED, None)
