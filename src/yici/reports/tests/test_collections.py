"""The report catalog, collections to villages and gap-only entry (issue "Fill once", items 5, 7, 8)."""

import hashlib
import io

import openpyxl
import pytest
from django.urls import reverse

from yici.burden.models import BurdenCount, BurdenMetric
from yici.registry.golden import provenance_of
from yici.registry.models import Link, LinkMethod, Person, SourceKind, SourceRecord
from yici.reports import selectors, services
from yici.reports.models import InstanceStatus, ReportInstance, ReportStatus
from yici.reports.tests.builders import template


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def draft(world, *, name="重点人员信息表", where="all", data=None, actor=None):
    return services.report_draft(
        data=data or template(prefilled=1), filename="重点人员.xlsx", department=world.department, name=name,
        legal_basis="《浙江省社会救助条例》第十条", population_filter=where, actor=actor or world.department_staff,
    )


def registered(world, **kwargs):
    report = draft(world, **kwargs)
    return services.report_register(report=report, actor=world.department_staff)


def sent(world, *, areas=None, **kwargs):
    report = registered(world, **kwargs)
    areas = areas or [world.village, world.neighbour_village, world.other_village]
    return services.collection_send(report=report, areas=areas, actor=world.department_staff)


def instance_of(collection, area) -> ReportInstance:
    return collection.instances.get(area=area)


def gap_id(instance, label, header) -> str:
    keys = {r["label"]: r["key"] for r in instance.rows}
    gap = next(g for g in instance.gaps if g["key"] == keys[label] and g["header"] == header)
    return services.cell_id(gap["key"], gap["column"])


# --- catalog ------------------------------------------------------------------------------------------

def test_it_registers_a_template_as_a_draft_then_in_the_catalog(world, people):
    report = draft(world)
    assert report.status == ReportStatus.DRAFT
    assert report.entity == "person"
    stored = services.template_path(report.template_sha256).read_bytes()
    # (Two saves of one workbook differ in their timestamps, so compare by content hash and sheets.)
    assert hashlib.sha256(stored).hexdigest() == report.template_sha256
    assert openpyxl.load_workbook(io.BytesIO(stored)).sheetnames == openpyxl.load_workbook(
        io.BytesIO(template(prefilled=1))).sheetnames
    assert {c["letter"]: c["element"] for c in report.columns}["H"] == "person.phone"
    report = services.report_register(report=report, actor=world.department_staff)
    assert report.status == ReportStatus.REGISTERED and report.registered_at is not None
    with pytest.raises(services.ReportError):
        services.report_register(report=report, actor=world.department_staff)


def test_it_refuses_a_filter_it_cannot_read(world, people):
    with pytest.raises(services.ReportError) as caught:
        draft(world, where="age>>80")
    assert caught.value.field == "population_filter"


def test_it_shows_which_reports_already_ask_and_what_the_registry_holds(world, people):
    earlier = registered(world, name="高龄补贴名册")
    report = draft(world, name="重点人员信息表")
    overlaps = {o.element: o for o in selectors.report_overlap(report=report, user=world.department_staff)}
    phone = overlaps["person.phone"]
    assert [r.pk for r in phone.reports] == [earlier.pk]
    # six people in the county, two with a phone
    assert (phone.held, phone.total, phone.share) == (2, 6, 33)
    assert overlaps["person.name"].share == 100
    # a draft is not "already asked"
    assert report.pk not in [r.pk for o in selectors.report_overlap(report=earlier, user=world.department_staff)
                             for r in o.reports]


def test_an_unregistered_report_cannot_be_sent(world, people):
    report = draft(world)
    with pytest.raises(services.ReportError, match="registered"):
        services.collection_send(report=report, areas=[world.village], actor=world.department_staff)
    assert not ReportInstance.objects.exists()


def test_it_sends_only_to_villages_of_the_senders_area(world, people):
    report = registered(world)
    with pytest.raises(services.ReportError):
        services.collection_send(report=report, areas=[world.township], actor=world.department_staff)
    with pytest.raises(services.ReportError):
        services.collection_send(report=report, areas=[world.other_village], actor=world.township_staff)


# --- collections ----------------------------------------------------------------------------------

def test_sending_creates_one_prefilled_instance_per_village(world, people):
    collection = sent(world)
    instances = {i.area.code: i for i in collection.instances.all()}
    assert len(instances) == 3
    mine = instances[world.village.code]
    assert mine.status == InstanceStatus.PREFILLED
    assert [r["label"] for r in mine.rows] == ["张大山", "李秀英", "张小明", "王芳"]
    ws = openpyxl.load_workbook(io.BytesIO(bytes(mine.workbook)))["花名册"]
    assert [ws.cell(r, 2).value for r in range(5, 9)] == ["张大山", "李秀英", "张小明", "王芳"]
    assert mine.cells_filled > 0
    reasons = {g["reason"] for g in mine.gaps}
    assert reasons <= {"missing", "not_in_options", "unmapped"} and "missing" in reasons
    # only cells Yici could not fill: 李秀英 has no phone, 张大山 has one
    headers_of = lambda label: {g["header"] for g in mine.gaps if g["key"] == next(  # noqa: E731
        r["key"] for r in mine.rows if r["label"] == label)}
    assert "联系电话" in headers_of("李秀英") and "联系电话" not in headers_of("张大山")
    assert "走访情况" in headers_of("张大山")  # a column without a registry field
    assert [r["label"] for r in instances[world.other_village.code].rows] == ["钱五"]


def test_reminders_are_recorded_and_not_sent_to_who_submitted(world, people):
    collection = sent(world)
    assert services.collection_remind(collection=collection, actor=world.department_staff) == 3
    mine = instance_of(collection, world.village)
    assert (mine.status, mine.reminder_count) == (InstanceStatus.REMINDED, 1)
    services.instance_save(instance=mine, entries={}, actor=world.cadre, submit=True)
    assert services.collection_remind(collection=collection, actor=world.department_staff) == 2
    mine.refresh_from_db()
    assert (mine.status, mine.reminder_count) == (InstanceStatus.SUBMITTED, 1)
    with pytest.raises(services.ReportError):
        services.instance_remind(instance=mine, actor=world.department_staff)


# --- gap-only entry -----------------------------------------------------------------------------------

def test_gap_entry_rejects_a_bad_value_with_its_reason_and_keeps_the_rest(world, people):
    collection = sent(world)
    mine = instance_of(collection, world.village)
    wife_phone, young_phone = gap_id(mine, "李秀英", "联系电话"), gap_id(mine, "王芳", "联系电话")
    visit = gap_id(mine, "李秀英", "走访情况")
    result = services.instance_save(instance=mine, entries={wife_phone: "12345", young_phone: "139 1234 5678",
                                                            visit: "已走访"}, actor=world.cadre, submit=True)
    assert list(result.errors) == [wife_phone] and result.errors[wife_phone]
    assert not result.submitted
    mine.refresh_from_db()
    assert mine.status == InstanceStatus.IN_PROGRESS
    young_key, young_letter = young_phone.split("|")
    assert mine.values[young_key][young_letter] == "13912345678"
    assert mine.unmapped_values[visit.split("|")[0]][visit.split("|")[1]] == "已走访"
    assert not SourceRecord.objects.filter(kind=SourceKind.REPORT).exists()  # nothing written before the submit


def test_submitting_writes_the_typed_values_to_the_registry_with_provenance(world, people):
    collection = sent(world)
    mine = instance_of(collection, world.village)
    wife_phone = gap_id(mine, "李秀英", "联系电话")
    result = services.instance_save(instance=mine, entries={wife_phone: "13600001111"}, actor=world.cadre,
                                    submit=True)
    assert result.submitted and not result.errors
    wife = Person.objects.get(pk=people["wife"].pk)
    assert wife.phone == "13600001111"
    assert wife.name == "李秀英" and wife.birth_date == people["wife"].birth_date  # nothing else lost
    record = SourceRecord.objects.get(kind=SourceKind.REPORT)
    assert record.values == {"person.phone": "13600001111"}
    assert (record.actor, record.context, record.area_code) == (world.cadre, "重点人员信息表", wife.area_code)
    link = Link.objects.get(record=record)
    assert (link.person_id, link.method, link.active) == (wife.pk, LinkMethod.DIRECT, True)
    assert provenance_of("person", wife)["person.phone"]["record"] == record.pk
    # the next template gets it without asking
    again = services.collection_send(report=collection.report, areas=[world.village], actor=world.department_staff)
    assert "联系电话" not in {g["header"] for g in instance_of(again, world.village).gaps
                             if g["key"] == f"person:{wife.pk}"}
    mine.refresh_from_db()
    assert mine.status == InstanceStatus.SUBMITTED and mine.submitted_by == world.cadre
    with pytest.raises(services.ReportError):
        services.instance_save(instance=mine, entries={}, actor=world.cadre)


def test_submitting_records_the_burden_per_user_and_report(world, people):
    collection = sent(world)
    mine = instance_of(collection, world.village)
    entries = {gap_id(mine, "李秀英", "联系电话"): "13600001111", gap_id(mine, "王芳", "走访情况"): "电话回访"}
    services.instance_save(instance=mine, entries=entries, actor=world.cadre, submit=True)
    counts = {c.metric: c.count for c in BurdenCount.objects.filter(user=world.cadre, context="重点人员信息表")}
    assert counts == {BurdenMetric.FIELDS_AUTOFILLED: mine.cells_filled, BurdenMetric.FIELDS_TYPED: 2}


def test_the_summary_holds_every_villages_rows_and_the_typed_values(world, people):
    collection = sent(world)
    mine = instance_of(collection, world.village)
    entries = {gap_id(mine, "王芳", "联系电话"): "13700002222", gap_id(mine, "王芳", "走访情况"): "已走访"}
    services.instance_save(instance=mine, entries=entries, actor=world.cadre)  # saved, not submitted
    out = services.collection_workbook(collection=collection, per_village=True, actor=world.department_staff)
    book = openpyxl.load_workbook(io.BytesIO(out.workbook))
    ws = book["花名册"]
    rows = {ws.cell(r, 2).value: r for r in range(5, 5 + out.rows)}
    assert set(rows) == {"张大山", "李秀英", "张小明", "王芳", "赵四", "钱五"}
    assert [ws.cell(r, 1).value for r in range(5, 11)] == [1, 2, 3, 4, 5, 6]
    assert str(ws.cell(rows["王芳"], 8).value) == "13700002222"
    assert ws.cell(rows["王芳"], 10).value == "已走访"
    assert "浦江县" in ws.cell(2, 1).value  # 填报单位: the villages' common area
    assert book.sheetnames[:1] == ["花名册"] and {"樟树村", "石门村", "前陈村"} <= set(book.sheetnames)
    assert book["石门村"].cell(5, 2).value == "赵四"


# --- pages and who may use them -----------------------------------------------------------------------

def test_a_department_registers_and_sends_through_the_pages(client, world, people):
    client.force_login(world.department_staff)
    upload = io.BytesIO(template(prefilled=1))
    upload.name = "重点人员.xlsx"
    response = client.post(reverse("reports:report_new"), {
        "file": upload, "name": "重点人员信息表", "legal_basis": "条例", "frequency": "monthly",
        "population_filter": "all", "deadline_days": 5,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    report = services.Report.objects.get()
    page = client.get(response["Location"])
    assert page.status_code == 200 and "overlap-H" in page.content.decode()
    client.post(reverse("reports:report_register", args=[report.pk]))
    response = client.post(reverse("reports:report_send", args=[report.pk]),
                           {"villages": [world.village.pk, world.neighbour_village.pk]})
    assert response.status_code == 302
    collection = report.collections.get()
    assert collection.instances.count() == 2
    page = client.get(reverse("reports:collection_detail", args=[collection.pk]))
    assert "樟树村" in page.content.decode()
    download = client.get(reverse("reports:collection_download", args=[collection.pk]))
    assert download["Content-Type"].startswith("application/vnd.openxmlformats")


def test_the_cadre_types_only_the_gaps_on_the_page(client, world, people):
    collection = sent(world)
    mine = instance_of(collection, world.village)
    client.force_login(world.cadre)
    listing = client.get(reverse("reports:my_instances")).content.decode()
    assert "重点人员信息表" in listing and f"instance-link-{mine.pk}" in listing
    assert f"instance-link-{instance_of(collection, world.other_village).pk}" not in listing
    url = reverse("reports:instance_detail", args=[mine.pk])
    page = client.get(url).content.decode()
    assert "李秀英" in page and "13812345678" not in page  # 张大山's phone was filled: not shown
    wife_phone = gap_id(mine, "李秀英", "联系电话")
    response = client.post(url, {"cell": [wife_phone], "value": ["bad"], "submit": "1"})
    assert response.status_code == 200 and f"error-{wife_phone}" in response.content.decode()
    response = client.post(url, {"cell": [wife_phone], "value": ["13600001111"], "submit": "1"})
    assert response.status_code == 302
    assert Person.objects.get(pk=people["wife"].pk).phone == "13600001111"


@pytest.mark.parametrize("who", ["cadre", "outsider", "burden_office", "auditor", "township_staff"])
def test_roles_without_reports_are_refused_the_catalog(client, world, people, who):
    report = registered(world)
    client.force_login(getattr(world, who))
    assert client.get(reverse("reports:report_list")).status_code == 403
    assert client.get(reverse("reports:report_detail", args=[report.pk])).status_code == 403
    assert client.post(reverse("reports:report_send", args=[report.pk]),
                       {"villages": [world.village.pk]}).status_code == 403


def test_another_departments_staff_cannot_see_or_send_the_report(client, world, people):
    from yici.testing.factories import DepartmentFactory, UserFactory

    collection = sent(world)
    other = UserFactory(username="ella", role="department_staff", area=world.county,
                        department=DepartmentFactory(code="zhujian", name="住建"))
    client.force_login(other)
    assert client.get(reverse("reports:report_detail", args=[collection.report.pk])).status_code == 404
    assert client.get(reverse("reports:collection_detail", args=[collection.pk])).status_code == 404
    assert client.get(reverse("reports:collection_download", args=[collection.pk])).status_code == 404


def test_the_outsider_and_the_department_are_refused_a_villages_instance(client, world, people):
    collection = sent(world, areas=[world.village])
    mine = instance_of(collection, world.village)
    url = reverse("reports:instance_detail", args=[mine.pk])
    client.force_login(world.outsider)
    assert client.get(url).status_code == 404
    assert client.post(url, {"cell": [], "value": [], "submit": "1"}).status_code == 404
    assert client.get(reverse("reports:instance_download", args=[mine.pk])).status_code == 404
    client.force_login(world.department_staff)
    assert client.get(url).status_code == 403
    assert client.get(reverse("reports:my_instances")).status_code == 403
    mine.refresh_from_db()
    assert mine.status == InstanceStatus.PREFILLED
