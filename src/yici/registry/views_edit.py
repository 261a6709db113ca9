"""Correcting a golden record by hand (once, for every system that subscribes to it)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from yici.accounts.roles import REGISTRY_WRITE_ROLES
from yici.registry import selectors, selectors_pages
from yici.registry.services import RecordEditError, editable_elements, golden_record_edit


def _edit(request, *, entity: str, obj, detail_url: str):
    if request.user.role not in REGISTRY_WRITE_ROLES:
        raise PermissionDenied
    fields = editable_elements(entity=entity, obj=obj)
    errors: dict[str, str] = {}
    if request.method == "POST":
        typed = {f.code: request.POST.get(f.code, "") for f in fields}
        try:
            changed = golden_record_edit(entity=entity, obj=obj, typed=typed, actor=request.user)
        except RecordEditError as exc:
            errors = exc.errors
            messages.error(request, str(exc))
        else:
            if changed:
                messages.success(request, _("Saved. Every system that subscribes to these values will receive them."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect(detail_url, obj.pk)
        for f in fields:
            f.typed = request.POST.get(f.code, "")
    return render(request, "registry/record_edit.html",
                  {"obj": obj, "entity": entity, "fields": fields, "errors": errors, "detail_url": detail_url})


@login_required
def person_edit(request, pk: int):
    person = selectors.person_get(user=request.user, pk=pk)
    if person is None:
        raise Http404
    return _edit(request, entity="person", obj=person, detail_url="registry:person_detail")


@login_required
def house_edit(request, pk: int):
    house = selectors_pages.house_get(user=request.user, pk=pk)
    if house is None:
        raise Http404
    return _edit(request, entity="house", obj=house, detail_url="registry:house_detail")
