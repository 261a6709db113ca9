"""Line-system pages: the list with health, one system's settings, deliveries, dead letters and workbooks."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yici.exchange import selectors, services
from yici.exchange.forms import (
    EndpointForm,
    FieldMappingForm,
    LineSystemForm,
    SubscriptionForm,
    TemplateUploadForm,
)
from yici.exchange.models import LineSystem
from yici.exchange.models_outbox import Delivery, DeliveryStatus
from yici.exchange.services import SystemConfigError
from yici.exchange.spreadsheets import SpreadsheetExportError


def _system_or_404(request, code: str) -> LineSystem:
    system = selectors.line_systems_for(user=request.user).filter(code=code).first()
    if system is None:
        if request.user.role not in selectors.SYSTEM_VIEW_ROLES:
            raise PermissionDenied
        raise Http404
    return system


def _require_manager(request) -> None:
    if not selectors.can_manage_systems(request.user):
        raise PermissionDenied


def system_action(view):
    """A county admin's POST about one line system: checked, then ``view(request, system, ...)``; back to its page."""
    import functools

    @login_required
    @require_POST
    @functools.wraps(view)
    def wrapper(request, code: str, **kwargs):
        _require_manager(request)
        system = _system_or_404(request, code)
        try:
            view(request, system, **kwargs)
        except (SystemConfigError, SpreadsheetExportError) as exc:
            messages.error(request, str(exc))
        return redirect("exchange:system_detail", code)

    return wrapper


def _shared_counts(codes: list[str]) -> dict[str, int]:
    """Entries each system received instead of someone typing them in (the burden counter)."""
    from yici.burden.models import BurdenCount, BurdenMetric

    rows = (BurdenCount.objects.filter(metric=BurdenMetric.ENTRIES_SHARED, context__in=codes)
            .values("context").annotate(n=Sum("count")))
    return {row["context"]: row["n"] for row in rows}


@login_required
def system_list(request):
    if request.user.role not in selectors.SYSTEM_VIEW_ROLES:
        raise PermissionDenied
    health = selectors.system_health(selectors.line_systems_for(user=request.user))
    shared = _shared_counts([h.system.code for h in health])
    rows = [(h, shared.get(h.system.code, 0)) for h in health]
    form = LineSystemForm() if selectors.can_manage_systems(request.user) else None
    return render(request, "exchange/system_list.html", {"rows": rows, "form": form})


@login_required
@require_POST
def system_new(request):
    _require_manager(request)
    form = LineSystemForm(request.POST)
    if form.is_valid():
        from yici.accounts.models import Department

        data = form.cleaned_data
        if LineSystem.objects.filter(code=data["code"]).exists():
            messages.error(request, _("A line system with this code exists already."))
            return redirect("exchange:system_list")
        system = LineSystem.objects.create(
            code=data["code"], name=data["name"],
            department=Department.objects.filter(code=data["department"]).first() if data["department"] else None,
            contact_name=data["contact_name"], contact_phone=data["contact_phone"], contact_email=data["contact_email"],
        )
        from yici.audit.models import AuditAction
        from yici.audit.services import audit_event

        audit_event(actor=request.user, action=AuditAction.CREATE, obj=system, after={"code": system.code})
        return redirect("exchange:system_detail", system.code)
    for errors in form.errors.values():
        messages.error(request, "; ".join(errors))
    return redirect("exchange:system_list")


def _endpoint_initial(system) -> dict:
    endpoint = getattr(system, "endpoint", None)
    if endpoint is None:
        return {"kind": "http-json", "timeout_seconds": 10.0, "max_attempts": 8, "batch_size": 1, "active": True}
    return {"kind": endpoint.kind, "url": endpoint.url, "timeout_seconds": endpoint.timeout_seconds,
            "max_attempts": endpoint.max_attempts, "batch_size": endpoint.config.get("batch_size", 1),
            "period": endpoint.config.get("period", "month"), "drop_dir": endpoint.config.get("drop_dir", ""),
            "active": endpoint.active}


@login_required
def system_detail(request, code: str):
    system = _system_or_404(request, code)
    manage = selectors.can_manage_systems(request.user)
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    page = Paginator(selectors.system_deliveries(system=system, status=status), 25).get_page(request.GET.get("page"))
    endpoint = getattr(system, "endpoint", None)
    context = {
        "system": system, "manage": manage, "health": selectors.system_health([system])[0],
        "endpoint": endpoint, "has_secret": bool(endpoint and endpoint.secret_encrypted),
        "mappings": system.field_mappings.order_by("element_code", "id"),
        "subscriptions": system.subscriptions.order_by("entity"),
        "page": page, "status": status, "statuses": DeliveryStatus.choices,
        "inbound": system.inbound_changes.all()[:10], "reads": system.pull_reads.all()[:10],
        "exports": system.spreadsheet_exports.all()[:12],
        "shared": _shared_counts([system.code]).get(system.code, 0),
    }
    if manage:
        context.update(endpoint_form=EndpointForm(initial=_endpoint_initial(system)), mapping_form=FieldMappingForm(),
                       subscription_form=SubscriptionForm(), template_form=TemplateUploadForm())
    return render(request, "exchange/system_detail.html", context)


@system_action
def system_endpoint(request, system):
    form = EndpointForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{form.fields[field].label if field in form.fields else ''}: {'; '.join(errors)}")
        return
    data = form.cleaned_data
    config = {"batch_size": data["batch_size"]}
    if data["kind"] == "spreadsheet":
        config.update(period=data["period"] or "month", drop_dir=data["drop_dir"].strip())
    services.endpoint_save(system=system, kind=data["kind"], url=data["url"], secret=data["secret"] or None,
                           timeout_seconds=data["timeout_seconds"], max_attempts=data["max_attempts"],
                           active=data["active"], config=config, actor=request.user)
    messages.success(request, _("Connector settings saved."))


@system_action
def system_mapping(request, system):
    form = FieldMappingForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a catalog element and give the system's field name."))
        return
    services.field_mapping_save(system=system, actor=request.user, **form.cleaned_data)


@system_action
def system_mapping_delete(request, system):
    services.field_mapping_delete(system=system, field_name=request.POST.get("field_name", ""), actor=request.user)


@system_action
def system_subscription(request, system):
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what the system subscribes to."))
        return
    services.subscription_save(system=system, entity=form.cleaned_data["entity"], elements=form.element_list(),
                               area_prefix=form.cleaned_data["area_prefix"], active=form.cleaned_data["active"],
                               actor=request.user)


@system_action
def delivery_replay(request, system, pk: int):
    delivery = Delivery.objects.filter(system=system, pk=pk).first()
    if delivery is None:
        raise Http404
    if services.delivery_replay(delivery=delivery, actor=request.user):
        messages.success(request, _("The delivery will be sent again."))
    else:
        messages.info(request, _("Only dead or refused deliveries can be sent again."))


@system_action
def system_replay(request, system):
    count = services.system_replay_dead(system=system, include_refused=bool(request.POST.get("include_refused")),
                                        actor=request.user)
    messages.success(request, _("%(count)s deliveries will be sent again.") % {"count": count})


@system_action
def system_breaker_reset(request, system):
    services.breaker_reset(system=system, actor=request.user)
    messages.success(request, _("Sending resumes now."))


@system_action
def system_sheet_template(request, system):
    from yici.exchange.spreadsheets import template_upload

    form = TemplateUploadForm(request.POST, request.FILES)
    if not form.is_valid() or getattr(system, "endpoint", None) is None:
        messages.error(request, _("Choose an .xlsx file (and save the connector settings first)."))
        return
    upload = form.cleaned_data["file"]
    template_upload(system=system, data=upload.read(), filename=upload.name, actor=request.user)
    messages.success(request, _("Import template saved."))


@system_action
def system_sheet_export(request, system):
    from yici.exchange.spreadsheets import current_period, spreadsheet_export

    export = spreadsheet_export(system=system, period=request.POST.get("period") or current_period(system),
                                actor=request.user)
    messages.success(request, _("Workbook made: %(file)s, %(rows)s rows.") % {"file": export.filename,
                                                                             "rows": export.rows})


@login_required
def sheet_download(request, code: str, pk: int):
    from yici.common.files import content_path
    from yici.exchange.spreadsheets import FOLDER

    system = _system_or_404(request, code)
    export = system.spreadsheet_exports.filter(pk=pk).first()
    if export is None:
        raise Http404
    path = content_path(FOLDER, export.sha256)
    if not path.exists():
        raise Http404
    return FileResponse(path.open("rb"), as_attachment=True, filename=export.filename)
