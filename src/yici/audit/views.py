import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.audit import selectors, services
from yici.audit.forms import AuditEventFilterForm


def _require_audit_role(request) -> None:
    if not selectors.can_read_audit_log(request.user):
        raise PermissionDenied


@login_required
def event_list(request):
    _require_audit_role(request)
    form = AuditEventFilterForm(request.GET)
    events = selectors.audit_event_list(user=request.user, **form.filters())
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "audit/event_list.html", {"form": form, "page": page})


@login_required
def event_detail(request, pk: int):
    _require_audit_role(request)
    event = selectors.audit_event_get(user=request.user, pk=pk)
    if event is None:
        # 404, not 403: an event outside the reader's area must not even be confirmed to exist.
        raise Http404
    return render(request, "audit/event_detail.html", {"event": event, "changes": selectors.audit_event_changes(event)})


class _Echo:
    """A file-like object whose ``write`` returns the line, so ``csv.writer`` can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A leading =, +, - or @ would make a spreadsheet run the cell as a formula.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_lines(events):
    writer = csv.writer(_Echo())
    # The byte order mark lets Excel open the UTF-8 file with its Chinese intact.
    yield "\ufeff" + writer.writerow([
        _("Time"), _("Actor"), _("Actor name"), _("Action"), _("Object type"), _("Object id"), _("Object"),
        _("Field"), _("Reason"), _("Area code"), _("Area"), _("Address"),
    ])
    for e in events.iterator(chunk_size=1000):
        yield writer.writerow([_cell(v) for v in (
            timezone.localtime(e.at).isoformat(timespec="seconds"), e.actor_name,
            e.actor.display_name if e.actor else "", e.get_action_display(), e.object_type, e.object_id,
            e.object_repr, e.field, e.reason, e.area_code, e.area_name, e.ip_address,
        )])


@login_required
def event_export(request):
    """The filtered list as CSV, streamed; the export itself is an audit event."""
    _require_audit_role(request)
    filters = AuditEventFilterForm(request.GET).filters()
    events = selectors.audit_event_list(user=request.user, **filters)
    export = services.audit_log_export(actor=request.user, filters=filters, rows=events.count(), request=request)
    # Stop at the export's own row, so the file is what was counted and does not include itself.
    response = StreamingHttpResponse(_csv_lines(events.filter(pk__lt=export.pk)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.localtime():%Y%m%d-%H%M%S}.csv"'
    return response
