"""Report pages: the catalog and registration (departments), collections and their status, and
gap-only entry (village cadres). Each view checks the role, calls one service, renders."""

from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yici.reports import selectors, services
from yici.reports.forms import ReportForm, SendForm, UploadForm
from yici.reports.models import InstanceStatus, ReportStatus

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


@login_required
def report_list(request):
    reports = selectors.report_list(user=request.user)
    return render(request, "reports/report_list.html", {"reports": reports})


@login_required
def report_new(request):
    selectors.require_manager(request.user)
    posted = request.method == "POST"
    form = ReportForm(request.POST if posted else None, request.FILES if posted else None, user=request.user)
    if posted and form.is_valid():
        upload, data = form.cleaned_data["file"], form.cleaned_data
        try:
            report = services.report_draft(
                data=upload.read(), filename=upload.name, department=form.department_of(), name=data["name"],
                legal_basis=data["legal_basis"], frequency=data["frequency"],
                population_filter=data["population_filter"] or "all", deadline_days=data["deadline_days"],
                actor=request.user,
            )
        except services.ReportError as exc:
            form.add_error(exc.field or None, str(exc))
        else:
            return redirect("reports:report_detail", report.pk)
    return render(request, "reports/report_new.html", {"form": form})


@login_required
def report_detail(request, pk: int):
    report = selectors.report_for_user(user=request.user, pk=pk)
    overlaps = selectors.report_overlap(report=report, user=request.user) if report.status == ReportStatus.DRAFT else []
    unmapped = [c for c in report.columns if not c.get("element")]
    return render(request, "reports/report_detail.html", {
        "report": report, "overlaps": overlaps, "unmapped": unmapped,
        "send_form": SendForm(user=request.user) if report.status == ReportStatus.REGISTERED else None,
        "collections": selectors.collection_list(user=request.user, report=report),
    })


@login_required
@require_POST
def report_register(request, pk: int):
    report = selectors.report_for_user(user=request.user, pk=pk)
    try:
        services.report_register(report=report, actor=request.user)
    except services.ReportError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The report is registered in the catalog; it can now be sent."))
    return redirect("reports:report_detail", report.pk)


@login_required
@require_POST
def report_send(request, pk: int):
    report = selectors.report_for_user(user=request.user, pk=pk)
    form = SendForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            collection = services.collection_send(report=report, areas=list(form.cleaned_data["villages"]),
                                                  due_date=form.cleaned_data["due_date"], actor=request.user)
        except services.ReportError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Sent to %(n)d villages, each pre-filled from the registry.")
                             % {"n": collection.instances.count()})
            return redirect("reports:collection_detail", collection.pk)
    else:
        messages.error(request, _("Choose at least one village."))
    return redirect("reports:report_detail", report.pk)


@login_required
def collection_detail(request, pk: int):
    collection = selectors.collection_for_user(user=request.user, pk=pk)
    instances = list(collection.instances.select_related("area", "submitted_by").defer("workbook"))
    for instance in instances:
        instance.gap_count = len(instance.gaps)
    return render(request, "reports/collection_detail.html", {
        "collection": collection, "instances": instances,
        "submitted": sum(1 for i in instances if i.status == InstanceStatus.SUBMITTED),
    })


@login_required
@require_POST
def instance_remind(request, pk: int, instance: int):
    collection = selectors.collection_for_user(user=request.user, pk=pk)
    target = selectors.instance_in_collection(collection=collection, pk=instance)
    try:
        services.instance_remind(instance=target, actor=request.user)
    except services.ReportError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(village)s has been reminded.") % {"village": target.area.name})
    return redirect("reports:collection_detail", collection.pk)


@login_required
@require_POST
def collection_remind(request, pk: int):
    collection = selectors.collection_for_user(user=request.user, pk=pk)
    n = services.collection_remind(collection=collection, actor=request.user)
    messages.success(request, _("%(n)d villages reminded.") % {"n": n})
    return redirect("reports:collection_detail", collection.pk)


@login_required
def collection_download(request, pk: int):
    collection = selectors.collection_for_user(user=request.user, pk=pk)
    try:
        out = services.collection_workbook(collection=collection, per_village=request.GET.get("sheets") == "1",
                                           actor=request.user)
    except services.ReportError as exc:
        messages.error(request, str(exc))
        return redirect("reports:collection_detail", collection.pk)
    return _xlsx(out.workbook, out.filename)


@login_required
def my_instances(request):
    instances = selectors.instance_list(user=request.user)
    return render(request, "reports/my_instances.html", {"instances": instances})


def _groups(instance, posted: dict[str, str], errors: dict[str, str]) -> list[dict]:
    """The gap cells grouped by row, each with its current text and any rejection reason."""
    labels = {r["key"]: r["label"] for r in instance.rows}
    groups: dict[str, dict] = {}
    for gap in sorted(instance.gaps, key=lambda g: (g["row"], g["column"])):
        key, letter = gap["key"], gap["column"]
        cid = services.cell_id(key, letter)
        saved = (instance.values if gap["element"] else instance.unmapped_values).get(key, {}).get(letter, "")
        group = groups.setdefault(key, {"key": key, "label": labels.get(key, key), "row": gap["row"], "cells": []})
        group["cells"].append({
            "id": cid, "name": f"cell-{len(group['cells'])}-{gap['row']}-{letter}", "header": gap["header"],
            "value": posted.get(cid, saved), "error": errors.get(cid, ""), "optional": not gap["element"],
        })
    return list(groups.values())


@login_required
def instance_detail(request, pk: int):
    instance = selectors.instance_for_user(user=request.user, pk=pk)
    posted, errors = {}, {}
    if request.method == "POST":
        if instance.status == InstanceStatus.SUBMITTED:
            messages.error(request, _("This report has already been submitted."))
            return redirect("reports:instance_detail", instance.pk)
        ids = request.POST.getlist("cell")
        values = request.POST.getlist("value")
        posted = dict(zip(ids, values, strict=False))
        submit = "submit" in request.POST
        result = services.instance_save(instance=instance, entries=posted, actor=request.user, submit=submit)
        errors = result.errors
        if not errors:
            if result.submitted:
                messages.success(request, _("Submitted. Thank you: the values are in the registry for the next report."))
            else:
                messages.success(request, _("Saved."))
            return redirect("reports:instance_detail", instance.pk)
        messages.error(request, _("Some values could not be accepted; the others were kept."))
        instance.refresh_from_db()
    return _instance_page(request, instance, posted=posted, errors=errors)


MAX_MESSAGES = 30


def _instance_page(request, instance, *, posted=None, errors=None, upload_form=None):
    groups = _groups(instance, posted or {}, errors or {})
    corrections = [
        {"label": labels_of(instance).get(key, key), "header": headers_of(instance).get(letter, letter), **c}
        for key, cells in instance.corrections.items() for letter, c in cells.items()
    ]
    return render(request, "reports/instance_detail.html", {
        "instance": instance, "report": instance.collection.report, "groups": groups,
        "open": instance.status != InstanceStatus.SUBMITTED, "rows": len(instance.rows),
        "upload_form": upload_form or UploadForm(), "corrections": corrections,
    })


def labels_of(instance) -> dict[str, str]:
    return {r["key"]: r["label"] for r in instance.rows}


def headers_of(instance) -> dict[str, str]:
    return {c["letter"]: c["header"] for c in instance.collection.report.columns}


@login_required
@require_POST
def instance_upload(request, pk: int):
    instance = selectors.instance_for_user(user=request.user, pk=pk)
    if instance.status == InstanceStatus.SUBMITTED:
        messages.error(request, _("This report has already been submitted."))
        return redirect("reports:instance_detail", instance.pk)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _instance_page(request, instance, upload_form=form)
    upload = form.cleaned_data["file"]
    try:
        result = services.instance_upload(instance=instance, data=upload.read(), filename=upload.name,
                                          actor=request.user)
    except services.ReportError as exc:
        form.add_error("file", str(exc))
        return _instance_page(request, instance, upload_form=form)
    summary = _("Read %(file)s — rows matched: %(rows)d; values taken: %(taken)d; proposed corrections: "
                "%(corrections)d; rejected: %(rejected)d; rows not taken: %(unmatched)d.") % {
        "file": upload.name, "rows": result.rows, "taken": result.taken, "corrections": result.corrections,
        "rejected": len(result.rejected), "unmatched": len(result.unmatched)}
    if result.rejected or result.unmatched:
        messages.warning(request, summary + " " + _("The accepted values were kept; correct the others below."))
    else:
        messages.success(request, summary + " " + _("Check the values below, then submit."))
    problems = result.rejected + result.unmatched
    for line in problems[:MAX_MESSAGES]:
        messages.warning(request, line)
    if len(problems) > MAX_MESSAGES:
        messages.warning(request, _("… and %(n)d more.") % {"n": len(problems) - MAX_MESSAGES})
    if result.cleared:
        messages.info(request, _("%(n)d pre-filled cells were emptied in the workbook; a blank cell does not remove "
                                 "a registry value, so they were left as they are.") % {"n": result.cleared})
    return redirect("reports:instance_detail", instance.pk)


@login_required
def instance_download(request, pk: int):
    instance = selectors.instance_for_user(user=request.user, pk=pk)
    return _xlsx(bytes(instance.workbook), instance.filename)
