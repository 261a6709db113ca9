"""Import pages: the batch list, the upload, the mapping preview and a batch's result."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from yici.catalog.models import Entity
from yici.exchange import selectors, uploads
from yici.exchange.forms import ImportUploadForm, MappingForm
from yici.exchange.imports import ImportError_
from yici.exchange.models import ImportStatus

RUNNING = (ImportStatus.PENDING, ImportStatus.RUNNING)


def _require_importer(request) -> None:
    if not selectors.can_import(request.user):
        raise PermissionDenied


@login_required
def import_list(request):
    _require_importer(request)
    page = Paginator(selectors.import_batch_list(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "exchange/import_list.html", {"page": page})


@login_required
def import_new(request):
    _require_importer(request)
    posted = request.method == "POST"
    form = ImportUploadForm(request.POST if posted else None, request.FILES if posted else None, user=request.user)
    if posted and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            prepared, _plan = uploads.upload_prepare(
                data=upload.read(), filename=upload.name, system_code=form.system_code,
                system_name=form.cleaned_data["new_system_name"], entity=form.cleaned_data["entity"],
                sheet=form.cleaned_data["sheet"].strip(), area_code=form.cleaned_data["area_code"], actor=request.user,
            )
        except ImportError_ as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("exchange:import_preview", prepared.token())
    return render(request, "exchange/import_new.html", {"form": form, "max_bytes": uploads.MAX_UPLOAD_BYTES})


@login_required
def import_preview(request, token: str):
    _require_importer(request)
    upload = uploads.Upload.from_token(token, user=request.user)
    if upload is None:
        raise Http404
    try:
        plan = upload.plan()
    except ImportError_ as exc:
        messages.error(request, str(exc))
        return redirect("exchange:import_new")
    form = MappingForm(request.POST if request.method == "POST" else None, columns=plan.columns, elements=selectors.element_choices())
    if request.method == "POST" and form.is_valid():
        try:
            batch, already = uploads.import_confirm(upload=upload, plan=plan, choices=form.choices(), actor=request.user)
        except ImportError_ as exc:
            form.add_error(None, str(exc))
        else:
            if already:
                messages.info(request, _("This file was already imported; nothing new was stored."))
            return redirect("exchange:import_detail", batch.pk)
    previews = {p.letter: p for p in selectors.plan_preview(plan)}
    rows = [(previews[column.letter], field) for column, field in form.rows()]
    return render(request, "exchange/import_preview.html", {
        "upload": upload, "plan": plan, "form": form, "rows": rows, "entity_label": _entity_label(plan.entity),
    })


def _entity_label(entity: str) -> str:
    return str(dict(Entity.choices).get(entity, entity))


def _batch_or_404(request, pk: int):
    _require_importer(request)
    batch = selectors.import_batch_get(user=request.user, pk=pk)
    if batch is None:
        raise Http404
    return batch


@login_required
def import_detail(request, pk: int):
    batch = _batch_or_404(request, pk)
    page = None
    if batch.status == ImportStatus.DONE:
        page = Paginator(selectors.import_problem_records(user=request.user, batch=batch), 50).get_page(
            request.GET.get("page")
        )
    problems = selectors.problem_rows(batch=batch, records=page) if page is not None else []
    return render(request, "exchange/import_detail.html",
                  {"batch": batch, "page": page, "problems": problems, "running": batch.status in RUNNING,
                   "entity_label": _entity_label(batch.entity)})


@login_required
def import_status(request, pk: int):
    """The status box, polled by htmx while the batch runs; once it has finished the page reloads."""
    batch = _batch_or_404(request, pk)
    running = batch.status in RUNNING
    response = render(request, "exchange/_batch_status.html", {"batch": batch, "running": running})
    if not running and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"  # the whole page: counts and problem rows appear
    return response
