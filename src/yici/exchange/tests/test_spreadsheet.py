"""The spreadsheet connector: deliveries staged per period, a workbook in the system's own template."""

import io

import openpyxl
import pytest
from django.urls import reverse

from yici.exchange.delivery import deliver_due
from yici.exchange.models import (
    Delivery,
    DeliveryStatus,
    FieldMapping,
    LineSystem,
    LineSystemEndpoint,
    SpreadsheetExport,
    SpreadsheetRow,
    Subscription,
)
from yici.exchange.spreadsheets import (
    SpreadsheetExportError,
    current_period,
    export_closed_periods,
    spreadsheet_export,
    template_upload,
)
from yici.exchange.tests.test_outbox import change, make_person


@pytest.fixture
def sheet_system(db, tmp_path, settings):
    settings.YICI_DROP_DIR = tmp_path / "drop"
    system = LineSystem.objects.create(code="wenlv", name="文旅")
    LineSystemEndpoint.objects.create(system=system, kind="spreadsheet", config={"period": "month"})
    Subscription.objects.create(system=system, entity="person")
    FieldMapping.objects.create(system=system, element_code="person.name", field_name="姓名")
    FieldMapping.objects.create(system=system, element_code="person.phone", field_name="联系电话")
    return system


def template_bytes() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["A1"] = "文化礼堂参与人员导入模板"
    sheet["A2"], sheet["B2"], sheet["C2"] = "联系电话", "备注", "姓名"
    sheet["A2"].font = openpyxl.styles.Font(bold=True)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_deliveries_are_staged_and_a_newer_version_replaces_the_older(sheet_system):
    person = make_person()
    change(person, "person.name")
    assert deliver_due().sent == 1
    person.name = "张三"
    person.save()
    change(person, "person.name")
    assert deliver_due().sent == 1
    row = SpreadsheetRow.objects.get()
    assert (row.version, row.data["姓名"], row.period) == (person.version, "张三", current_period(sheet_system))
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_the_workbook_follows_the_systems_template_and_lands_in_the_drop_folder(sheet_system, tmp_path):
    template_upload(system=sheet_system, data=template_bytes(), filename="导入模板.xlsx")
    for n in range(3):
        change(make_person(id_number=f"33072619600517{n:04d}", name=f"人{n}", phone=f"1381234567{n}"), "person.name")
    deliver_due()
    export = spreadsheet_export(system=sheet_system, period=current_period(sheet_system))
    assert export.rows == 3
    dropped = tmp_path / "drop" / "wenlv" / export.filename
    assert dropped.exists()
    sheet = openpyxl.load_workbook(dropped).active
    assert sheet["A1"].value == "文化礼堂参与人员导入模板" and sheet["A2"].font.bold
    rows = [(sheet.cell(r, 1).value, sheet.cell(r, 2).value, sheet.cell(r, 3).value) for r in range(3, 6)]
    assert sorted(rows) == [(f"1381234567{n}", None, f"人{n}") for n in range(3)]


def test_a_wrong_template_or_period_is_refused(sheet_system):
    with pytest.raises(SpreadsheetExportError, match="not an .xlsx"):
        template_upload(system=sheet_system, data=b"garbage", filename="x.xlsx")
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "无关"
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(SpreadsheetExportError, match="no header row"):
        template_upload(system=sheet_system, data=buffer.getvalue(), filename="x.xlsx")
    assert "template_sha256" not in LineSystemEndpoint.objects.get().config
    with pytest.raises(SpreadsheetExportError, match="is not a period"):
        spreadsheet_export(system=sheet_system, period="../../etc")


def test_closed_periods_are_exported_once(sheet_system):
    SpreadsheetRow.objects.create(system=sheet_system, period="2020-01", entity="person", golden_id=1, version=1,
                                  data={"姓名": "甲"}, staged_at="2020-01-05T00:00:00Z")
    assert export_closed_periods() == 1
    assert export_closed_periods() == 0
    assert SpreadsheetExport.objects.get().period == "2020-01"


def test_the_page_makes_and_serves_the_workbook(client, world, sheet_system):
    change(make_person(), "person.name")
    deliver_due()
    client.force_login(world.admin)
    client.post(reverse("exchange:system_sheet_export", args=["wenlv"]))
    export = SpreadsheetExport.objects.get()
    response = client.get(reverse("exchange:sheet_download", args=["wenlv", export.pk]))
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert sheet.cell(2, 1).value == "张三丰"
    client.force_login(world.cadre)
    assert client.get(reverse("exchange:sheet_download", args=["wenlv", export.pk])).status_code == 403
