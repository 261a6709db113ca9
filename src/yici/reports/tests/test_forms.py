from django.core.files.uploadedfile import SimpleUploadedFile

from yici.reports import forms


def test_workbooks_larger_than_the_limit_are_refused_by_both_upload_forms(monkeypatch, world):
    monkeypatch.setattr(forms, "MAX_TEMPLATE_BYTES", 10)
    big = SimpleUploadedFile("t.xlsx", b"x" * 11)
    upload = forms.UploadForm(data={}, files={"file": big})
    assert not upload.is_valid() and "larger than" in upload.errors["file"][0]
    report = forms.ReportForm(data={}, files={"file": SimpleUploadedFile("t.xlsx", b"x" * 11)}, user=world.admin)
    assert not report.is_valid() and "larger than" in report.errors["file"][0]
    small = forms.UploadForm(data={}, files={"file": SimpleUploadedFile("t.xlsx", b"x" * 10)})
    assert small.is_valid()
