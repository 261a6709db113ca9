"""Fill once, end to end: a department registers a template and sends it to three villages; a
village cadre on a phone types only the gaps, another fills the workbook in Excel and uploads it
back; the department downloads the summary."""

import datetime
import io

import openpyxl
import pytest

from tests.browser.conftest import sign_in
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.registry.models import Person
from yici.reports.models import ReportInstance
from yici.reports.tests.builders import template
from yici.reports.tests.conftest import person
from yici.testing.fixtures import NEIGHBOUR_VILLAGE, OTHER_VILLAGE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def villagers(world):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    return {
        "head": person("张大山", datetime.date(1944, 7, 1), seq=11, phone="13812345678", village="樟树村"),
        "wife": person("李秀英", datetime.date(1945, 6, 30), seq=12, gender="女", village="樟树村"),
        "neighbour": person("赵四", datetime.date(1940, 1, 1), seq=15, area=NEIGHBOUR_VILLAGE, village="石门村"),
        "outsider": person("钱五", datetime.date(1939, 1, 1), seq=16, area=OTHER_VILLAGE, village="前陈村"),
    }


def test_a_department_sends_a_template_and_a_cadre_types_only_the_gaps(live_server, world, villagers, browser,
                                                                      phone, artifacts, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    base = live_server.url
    desk_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    desk = desk_context.new_page()
    desk.set_default_timeout(15_000)
    try:
        # The department registers its template: the duplicate-ask table comes before the confirmation.
        sign_in(desk, base, "dora")
        desk.goto(f"{base}/reports/new/")
        desk.set_input_files("#id_file", files=[{
            "name": "重点人员.xlsx", "buffer": template(prefilled=1),
            "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }])
        desk.fill("#id_name", "重点人员信息表")
        desk.fill("#id_legal_basis", "《浙江省社会救助条例》")
        desk.fill("#id_population_filter", "all")
        desk.click("[data-testid=report-submit]")
        desk.wait_for_selector("[data-testid=overlap]")
        assert "person.phone" in desk.inner_text("[data-testid=overlap-H]")
        desk.click("[data-testid=report-register]")
        desk.wait_for_selector("[data-testid=send-form]")

        # … and sends it to three villages.
        for name in ("樟树村", "石门村", "前陈村"):
            desk.check(f"[data-testid=send-form] label:has-text('{name}') input")
        desk.click("[data-testid=send-submit]")
        desk.wait_for_selector("[data-testid=instance-status]")
        assert ReportInstance.objects.count() == 3
        desk.screenshot(path=str(artifacts / "collection-department.png"), full_page=True)
        collection_url = desk.url

        # The village cadre, on a phone, opens the pre-filled report and types only the gaps.
        mine = ReportInstance.objects.get(area=world.village)
        sign_in(phone, base, "bob")
        phone.goto(f"{base}/reports/mine/")
        phone.click(f"[data-testid=instance-link-{mine.pk}]")
        phone.wait_for_selector("[data-testid=gap-form]")
        body = phone.inner_text("[data-testid=gap-form]")
        assert "李秀英" in body and "13812345678" not in body  # a filled cell is not asked again
        wife = villagers["wife"]
        key = f"person:{wife.pk}"
        phone_gap = next(g for g in mine.gaps if g["key"] == key and g["element"] == "person.phone")
        field = phone.locator(f'[data-testid="gap-{key}|{phone_gap["column"]}"]')
        field.fill("136 0000 1111")
        assert field.bounding_box()["height"] >= 44
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        phone.screenshot(path=str(artifacts / "collection-gaps-360.png"), full_page=True)
        phone.click("[data-testid=gap-submit]")
        phone.wait_for_selector("[data-testid=instance-status][data-status=submitted]")
        assert Person.objects.get(pk=wife.pk).phone == "13600001111"

        # Another village's cadre filled the downloaded workbook in Excel and uploads it back.
        theirs = ReportInstance.objects.get(area__code=OTHER_VILLAGE)
        book = openpyxl.load_workbook(io.BytesIO(bytes(theirs.workbook)))
        sheet = book["花名册"]
        qian = next(r for r in range(5, 10) if sheet.cell(r, 2).value == "钱五")
        sheet.cell(qian, 8).value = "13500002222"
        sheet.cell(qian, 10).value = "电话回访"
        filled = io.BytesIO()
        book.save(filled)
        phone.context.clear_cookies()
        sign_in(phone, base, "charlie")
        phone.goto(f"{base}/reports/mine/{theirs.pk}/")
        phone.click("[data-testid=upload-form] >> xpath=ancestor::details/summary")
        phone.set_input_files("[data-testid=upload-file]", files=[{
            "name": "前陈村-已填.xlsx", "buffer": filled.getvalue(),
            "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }])
        assert phone.locator("[data-testid=upload-submit]").bounding_box()["height"] >= 44
        phone.click("[data-testid=upload-submit]")
        phone.wait_for_selector("[data-testid=upload-last]", state="attached")
        qian_key = f"person:{villagers['outsider'].pk}"
        assert phone.input_value(f'[data-testid="gap-{qian_key}|H"]') == "13500002222"  # taken, checked
        assert phone.input_value(f'[data-testid="gap-{qian_key}|J"]') == "电话回访"
        assert phone.evaluate("document.documentElement.scrollWidth") <= 360
        phone.screenshot(path=str(artifacts / "collection-upload-360.png"), full_page=True)
        phone.click("[data-testid=gap-submit]")
        phone.wait_for_selector("[data-testid=instance-status][data-status=submitted]")
        assert Person.objects.get(pk=villagers["outsider"].pk).phone == "13500002222"

        # The department downloads the summary: every village's rows and the typed value.
        desk.goto(collection_url)
        with desk.expect_download() as caught:
            desk.click("[data-testid=download-consolidated]")
        data = open(caught.value.path(), "rb").read()
        ws = openpyxl.load_workbook(io.BytesIO(data))["花名册"]
        rows = {ws.cell(r, 2).value: r for r in range(5, 9)}
        assert set(rows) == {"张大山", "李秀英", "赵四", "钱五"}
        assert str(ws.cell(rows["李秀英"], 8).value) == "13600001111"
        assert str(ws.cell(rows["钱五"], 8).value) == "13500002222"
        assert ws.cell(rows["钱五"], 10).value == "电话回访"
    finally:
        desk_context.close()
