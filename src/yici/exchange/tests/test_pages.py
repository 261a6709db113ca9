"""The import pages: upload → mapping preview with corrections → background import → batch result."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from yici.catalog.models import HeaderMapping
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange import uploads
from yici.exchange.models import ImportBatch, ImportStatus, LineSystem
from yici.exchange.tests.test_imports import PEOPLE, workbook_bytes
from yici.registry.models import Link, Person, SourceRecord
from yici.testing.fixtures import OTHER_VILLAGE, VILLAGE

IMPORTERS = ["admin", "department_staff"]
OTHERS = ["township_staff", "cadre", "burden_office", "auditor", "outsider"]


@pytest.fixture
def catalog(db):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def kept_files(media) -> list:
    folder = media / uploads.UPLOAD_DIR
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def upload(client, data=None, *, filename="people.xlsx", **fields):
    payload = {"file": SimpleUploadedFile(filename, workbook_bytes(PEOPLE) if data is None else data),
               "new_system": "minzheng_test", **fields}
    return client.post(reverse("exchange:import_new"), payload)


def preview_url(client, **kwargs) -> str:
    response = upload(client, **kwargs)
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def choices_of(response) -> dict[str, str]:
    """The mapping form's proposed values, as the browser would post them back."""
    form = response.context["form"]
    return {name: form[name].value() or "" for name in form.fields}


def confirm(client, url, django_capture_on_commit_callbacks, **changes):
    data = choices_of(client.get(url))
    data.update(changes)
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url, data)


@pytest.mark.parametrize("who", OTHERS)
def test_other_roles_are_refused_every_import_page(client, world, catalog, media, who):
    batch = ImportBatch.objects.create(system=LineSystem.objects.create(code="s", name="s"), filename="f.xlsx",
                                       sha256="a" * 64, entity="person", status=ImportStatus.DONE)
    client.force_login(getattr(world, who))
    for url in (reverse("exchange:import_list"), reverse("exchange:import_new"),
                reverse("exchange:import_detail", args=[batch.pk]), reverse("exchange:import_status", args=[batch.pk])):
        assert client.get(url).status_code == 403, url
    assert upload(client).status_code == 403
    assert kept_files(media) == []


def test_anonymous_users_are_sent_to_sign_in(client, catalog):
    response = client.get(reverse("exchange:import_list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize("who", IMPORTERS)
def test_importers_see_the_upload_form(client, world, catalog, who):
    LineSystem.objects.create(code="gongan_huji", name="公安户籍")
    client.force_login(getattr(world, who))
    body = client.get(reverse("exchange:import_new")).content.decode()
    assert 'data-testid="upload-form"' in body and "gongan_huji" in body and 'enctype="multipart/form-data"' in body


def test_the_whole_import_flow(client, world, catalog, media, django_capture_on_commit_callbacks):
    client.force_login(world.department_staff)
    url = preview_url(client, new_system_name="民政测试")
    assert not ImportBatch.objects.exists() and not SourceRecord.objects.exists()
    assert len(kept_files(media)) == 1  # kept between the steps under its sha256, not in the session

    # The preview: detected table, each column with header, masked samples and the proposed element.
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    plan = response.context["plan"]
    assert plan.entity == "person" and plan.table.header_rows == [1]
    rows = {col.letter: col for col, _field in response.context["rows"]}
    assert rows["E"].element == "person.id_number" and rows["E"].samples[0] == "330726********0013"
    assert rows["H"].element is None and rows["H"].header_path == "备注"
    assert "330726196005170013" not in body and "13812345678" not in body and "13900000001" not in body
    assert 'name="col_H"' in body and "person.employer" in body

    # Correct one column (备注 → 工作单位) and confirm: the import runs in the background.
    response = confirm(client, url, django_capture_on_commit_callbacks, col_H="person.employer")
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("exchange:import_detail", args=[batch.pk])
    assert (batch.status, batch.rows_total, batch.rows_invalid, batch.created_by) == (
        ImportStatus.DONE, 3, 1, world.department_staff)
    assert batch.system.name == "民政测试" and batch.system.department == world.department
    assert SourceRecord.objects.filter(batch=batch).count() == 3
    li = SourceRecord.objects.get(batch=batch, row_number=2)
    assert li.values["person.employer"] == "外出务工"
    assert next(c for c in batch.mapping if c["letter"] == "H")["element"] == "person.employer"
    # The correction is remembered for this system's next files.
    remembered = HeaderMapping.objects.get(header_key="备注")
    assert (remembered.context, remembered.element.code, remembered.confirmed_by) == (
        "minzheng_test", "person.employer", world.department_staff)
    # The rows were linked into golden records, and the kept file is gone.
    assert Link.objects.filter(record__batch=batch, active=True).count() == 3
    assert Person.objects.filter(area_code=VILLAGE).count() == 3
    assert kept_files(media) == []

    # The result: counts and the problem rows, sensitive originals masked.
    response = client.get(response["Location"])
    body = response.content.decode()
    assert 'data-testid="rows-total">3<' in body
    problems = response.context["problems"]
    assert [p.row_number for p in problems] == [3]
    by_column = {p.column: p for p in problems[0].problems}
    phone = by_column["F 联系电话"]
    assert (phone.level, phone.original) == ("error", "*****") and phone.message
    assert "330726197001020010" not in body
    assert "hx-trigger" not in body


def test_a_remembered_correction_is_proposed_next_time(client, world, catalog, django_capture_on_commit_callbacks):
    client.force_login(world.admin)
    confirm(client, preview_url(client), django_capture_on_commit_callbacks, col_H="person.employer")
    other = [row[:] for row in PEOPLE]
    other[1][1] = "张三"
    response = client.get(preview_url(client, data=workbook_bytes(other)))
    column = next(col for col, _f in response.context["rows"] if col.letter == "H")
    assert (column.element, column.method) == ("person.employer", "remembered")


@pytest.mark.parametrize(
    "data, filename",
    [(b"PK\x03\x04 this is not really a zip", "broken.xlsx"), ("说明：本表无表头\n\n".encode(), "notes.csv")],
)
def test_a_bad_file_shows_the_error_and_stores_nothing(client, world, catalog, media, data, filename):
    client.force_login(world.admin)
    response = upload(client, data=data, filename=filename)
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert 'class="errorlist' in response.content.decode()
    assert kept_files(media) == [] and not ImportBatch.objects.exists() and not LineSystem.objects.exists()


def test_a_file_over_the_size_limit_is_refused(client, world, catalog, media, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 100)
    client.force_login(world.admin)
    response = upload(client)
    assert response.status_code == 200 and response.context["form"].errors["file"]
    assert kept_files(media) == []


def test_the_system_and_the_area_are_checked(client, world, catalog, media):
    client.force_login(world.admin)
    response = upload(client, new_system="")
    assert response.context["form"].non_field_errors()
    response = upload(client, area_code="999999999999")
    assert response.context["form"].errors["area_code"]
    assert kept_files(media) == []


def test_choosing_an_existing_system_and_an_area(client, world, catalog, django_capture_on_commit_callbacks):
    system = LineSystem.objects.create(code="gongan_huji", name="公安户籍")
    client.force_login(world.admin)
    url = preview_url(client, new_system="", system="gongan_huji", area_code=OTHER_VILLAGE)
    confirm(client, url, django_capture_on_commit_callbacks)
    batch = ImportBatch.objects.get()
    assert (batch.system, batch.area_code, batch.status) == (system, OTHER_VILLAGE, ImportStatus.DONE)
    assert set(SourceRecord.objects.filter(batch=batch).values_list("area_code", flat=True)) == {OTHER_VILLAGE}


def test_one_element_cannot_be_chosen_for_two_columns(client, world, catalog, django_capture_on_commit_callbacks):
    client.force_login(world.admin)
    url = preview_url(client)
    response = confirm(client, url, django_capture_on_commit_callbacks, col_H="person.name")
    assert response.status_code == 200 and response.context["form"].errors["col_H"]
    assert not ImportBatch.objects.exists() and not HeaderMapping.objects.exists()


def test_the_preview_belongs_to_the_uploader(client, world, catalog):
    client.force_login(world.admin)
    url = preview_url(client)
    client.force_login(world.department_staff)
    assert client.get(url).status_code == 404
    assert client.get(url[:-5] + "xxxx/").status_code == 404


def test_the_same_file_is_imported_once(client, world, catalog, django_capture_on_commit_callbacks):
    data = workbook_bytes(PEOPLE)
    client.force_login(world.admin)
    confirm(client, preview_url(client, data=data), django_capture_on_commit_callbacks)
    first = ImportBatch.objects.get()
    response = confirm(client, preview_url(client, data=data, filename="renamed.xlsx"), django_capture_on_commit_callbacks)
    assert response["Location"] == reverse("exchange:import_detail", args=[first.pk])
    assert ImportBatch.objects.count() == 1 and SourceRecord.objects.count() == 3


def test_a_waiting_batch_is_polled_and_the_page_reloads_when_it_is_done(client, world, catalog):
    client.force_login(world.admin)
    url = preview_url(client)
    data = choices_of(client.get(url))
    client.post(url, data)  # the transaction never commits in this test: the task stays queued
    batch = ImportBatch.objects.get()
    assert batch.status == ImportStatus.PENDING and not SourceRecord.objects.exists()
    body = client.get(reverse("exchange:import_detail", args=[batch.pk])).content.decode()
    status_url = reverse("exchange:import_status", args=[batch.pk])
    assert f'hx-get="{status_url}"' in body and 'hx-trigger="every 2s"' in body
    # The worker runs it.
    from yici.exchange.tasks import import_batch

    import_batch.call(batch.pk, {}, world.admin.pk)
    response = client.get(status_url, headers={"HX-Request": "true"})
    assert response["HX-Refresh"] == "true" and "hx-trigger" not in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == ImportStatus.DONE and batch.rows_total == 3
    # A second run of the same task does nothing (the batch is claimed once).
    assert import_batch.call(batch.pk, {}, world.admin.pk)["status"] == "skipped"


def test_a_file_that_is_gone_fails_the_batch_with_a_reason(client, world, catalog, media):
    client.force_login(world.admin)
    url = preview_url(client)
    client.post(url, choices_of(client.get(url)))
    batch = ImportBatch.objects.get()
    uploads.upload_discard(batch.sha256)
    from django.utils import translation

    from yici.exchange.tasks import import_batch

    with translation.override("en"):  # the request above left its language active on this thread
        import_batch.call(batch.pk, {}, None)
    batch.refresh_from_db()
    assert batch.status == ImportStatus.FAILED and "upload it again" in batch.error
    assert not SourceRecord.objects.exists()


def test_the_import_list_is_newest_first_and_runs_a_fixed_number_of_queries(
    client, world, catalog, django_assert_max_num_queries
):
    system = LineSystem.objects.create(code="gongan_huji", name="公安户籍")
    for n in range(25):
        ImportBatch.objects.create(system=system, filename=f"f{n}.xlsx", sha256=f"{n:064d}", entity="person",
                                   status=ImportStatus.DONE, rows_total=n, created_by=world.admin)
    client.force_login(world.department_staff)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("exchange:import_list"))
    body = response.content.decode()
    names = re.findall(r">(f\d+\.xlsx)<", body)
    assert names[:2] == ["f24.xlsx", "f23.xlsx"] and len(names) == 25


def test_batches_of_another_area_are_hidden(client, world, catalog):
    from yici.accounts.roles import Role
    from yici.testing.factories import UserFactory

    system = LineSystem.objects.create(code="gongan_huji", name="公安户籍")
    elsewhere = ImportBatch.objects.create(system=system, filename="other.xlsx", sha256="b" * 64, entity="person",
                                           area_code=OTHER_VILLAGE, status=ImportStatus.DONE)
    township_importer = UserFactory(username="dan", role=Role.DEPARTMENT_STAFF, area=world.township,
                                    department=world.department)
    client.force_login(township_importer)
    assert "other.xlsx" not in client.get(reverse("exchange:import_list")).content.decode()
    assert client.get(reverse("exchange:import_detail", args=[elsewhere.pk])).status_code == 404


def test_uncertain_guesses_are_flagged_and_sensitive_samples_hidden(client, world, catalog):
    rows = [["姓名", "身份证号", "低保情况"], ["张三丰", "330726196005170013", "是"], ["李四", "33072619621103002X", "否"]]
    client.force_login(world.admin)
    response = client.get(preview_url(client, data=workbook_bytes(rows)))
    columns = {col.letter: col for col, _field in response.context["rows"]}
    assert columns["C"].element == "person.low_income" and columns["C"].low_confidence
    assert columns["C"].samples == ["****", "****"]  # 是否低保对象 is sensitive in the catalog
    body = response.content.decode()
    assert 'class="low-confidence" data-testid="column-C"' in body
    assert 'data-testid="low-confidence-notice"' in body


def test_importing_a_file_again_says_so(client, world, catalog, django_capture_on_commit_callbacks):
    data = workbook_bytes(PEOPLE)
    client.force_login(world.admin)
    confirm(client, preview_url(client, data=data), django_capture_on_commit_callbacks)
    url = preview_url(client, data=data)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, choices_of(client.get(url)), follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["info"]
    assert ImportBatch.objects.count() == 1


def test_a_large_upload_is_imported_by_the_task_worker_on_every_core(client, world, catalog, transactional_db,
                                                                      settings, monkeypatch, signal_handlers_restored,
                                                                      fail_instead_of_hanging, process_pools):
    """The worker handles SIGTERM to finish its task first; the import's forked processes must
    not inherit that, or the worker would wait for them for ever once the rows are done."""
    from django.core.management import call_command

    from yici.common import parallel
    from yici.exchange import imports

    if parallel.cores() < 2:
        pytest.skip("one core: the rows are normalised in the worker's own process")
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    monkeypatch.setattr(imports, "PARALLEL_FROM_ROWS", 50)
    monkeypatch.setattr(imports, "CHUNK_ROWS", 10)
    rows = [PEOPLE[0]] + [[n, f"张{n}", "男", f"1960年5月{n % 28 + 1}日", "", f"1380000{n:04d}", "樟树村", ""]
                          for n in range(1, 121)]
    client.force_login(world.admin)
    url = preview_url(client, data=workbook_bytes(rows))
    client.post(url, choices_of(client.get(url)))  # committed: the import task is queued
    batch = ImportBatch.objects.get()
    assert batch.status == ImportStatus.PENDING
    call_command("worker", batch=True, interval=0.1)
    batch.refresh_from_db()
    assert batch.status == ImportStatus.DONE and batch.rows_total == 120, batch.error
    assert SourceRecord.objects.filter(batch=batch).count() == 120
    assert process_pools  # the rows were normalised in worker processes
