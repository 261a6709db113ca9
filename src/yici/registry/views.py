from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yici.registry import selectors, selectors_pages, services
from yici.registry.masking import SENSITIVE_FIELDS
from yici.registry.sensitive import golden_value_reveal


@login_required
def person_list(request):
    query = request.GET.get("q", "")
    page = Paginator(selectors.person_list(user=request.user, query=query), 50).get_page(request.GET.get("page"))
    return render(request, "registry/person_list.html", {"page": page, "query": query})


@login_required
def person_detail(request, pk: int):
    data = selectors_pages.person_page(user=request.user, pk=pk)
    if data is None:
        successor = selectors_pages.person_successor(user=request.user, pk=pk)
        if successor is not None:
            # A record merged into another keeps resolving: old links and bookmarks still work.
            return redirect("registry:person_detail", successor.pk)
        # 404, not 403: a record outside the user's area must not even be confirmed to exist.
        raise Http404
    return render(request, "registry/person_detail.html", {"person": data.person, "data": data,
                                                           **_trail("person", data.person.pk, request.user)})


def _reason_missing() -> HttpResponse:
    return HttpResponse(format_html('<span class="errorlist">{}</span>', _("Say why you need the full value.")), status=400)


def _revealed(field: str, value: str) -> HttpResponse:
    return HttpResponse(format_html('<span class="revealed" data-testid="revealed-{}">{}</span>', field, value))


@require_POST
@login_required
def person_reveal(request, pk: int, field: str):
    """Show one sensitive full value (ID number, phone, or a sensitive catalog element); audited."""
    person = selectors.person_get(user=request.user, pk=pk)
    if person is None:
        raise Http404
    reason = request.POST.get("reason", "").strip()
    if not reason:
        return _reason_missing()
    try:
        if field in SENSITIVE_FIELDS:
            value = services.person_reveal(person=person, field=field, actor=request.user, reason=reason, request=request)
        else:
            value = golden_value_reveal(obj=person, entity="person", element_code=field, actor=request.user,
                                        reason=reason, request=request)
    except ValueError:
        raise Http404 from None
    return _revealed(field, value)


# --- houses --------------------------------------------------------------------------------------

@login_required
def house_list(request):
    query = request.GET.get("q", "")
    houses = selectors_pages.house_search(user=request.user, query=query)
    page = Paginator(houses, 50).get_page(request.GET.get("page"))
    return render(request, "registry/house_list.html", {"page": page, "query": query})


@login_required
def house_detail(request, pk: int):
    data = selectors_pages.house_page(user=request.user, pk=pk)
    if data is None:
        successor = selectors_pages.house_successor(user=request.user, pk=pk)
        if successor is not None:
            return redirect("registry:house_detail", successor.pk)
        raise Http404
    return render(request, "registry/house_detail.html", {"house": data.house, "data": data,
                                                          **_trail("house", data.house.pk, request.user)})


def _trail(entity: str, pk: int, user) -> dict:
    """Where the record went (line systems, versions, times), and whether this user may correct it."""
    from yici.accounts.roles import REGISTRY_WRITE_ROLES
    from yici.exchange.selectors import fact_reads, fact_trail

    return {"trail": fact_trail(entity=entity, golden_id=pk), "reads": fact_reads(entity=entity, golden_id=pk),
            "can_edit": user.role in REGISTRY_WRITE_ROLES}


@require_POST
@login_required
def house_reveal(request, pk: int, field: str):
    house = selectors_pages.house_get(user=request.user, pk=pk)
    if house is None:
        raise Http404
    reason = request.POST.get("reason", "").strip()
    if not reason:
        return _reason_missing()
    try:
        value = golden_value_reveal(obj=house, entity="house", element_code=field, actor=request.user,
                                    reason=reason, request=request)
    except ValueError:
        raise Http404 from None
    return _revealed(field, value)


# --- review queue --------------------------------------------------------------------------------

def _require_reviewer(request) -> None:
    if not selectors_pages.can_review(request.user):
        raise PermissionDenied


@login_required
def review_list(request):
    _require_reviewer(request)
    page = Paginator(selectors_pages.review_open_list(user=request.user), 50).get_page(request.GET.get("page"))
    rows = [(pair, selectors_pages.record_summary(pair.left), selectors_pages.record_summary(pair.right)) for pair in page]
    decided = [
        (pair, selectors_pages.record_summary(pair.left), selectors_pages.record_summary(pair.right))
        for pair in selectors_pages.review_decided_list(user=request.user)
    ]
    return render(request, "registry/review_list.html", {"page": page, "rows": rows, "decided": decided})


def _pair_or_404(request, pk: int):
    _require_reviewer(request)
    pair = selectors_pages.review_get(user=request.user, pk=pk)
    if pair is None:
        raise Http404
    return pair


@login_required
def review_detail(request, pk: int):
    pair = _pair_or_404(request, pk)
    return render(request, "registry/review_detail.html",
                  {"data": selectors_pages.review_page(user=request.user, pair=pair), "pair": pair})


@require_POST
@login_required
def review_decide(request, pk: int):
    pair = _pair_or_404(request, pk)
    decision = request.POST.get("decision")
    if decision not in ("same", "apart"):
        return HttpResponseBadRequest(_("Choose merge or keep apart."))
    try:
        services.review_decide(pair=pair, same=decision == "same", actor=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("registry:review_detail", pair.pk)
    messages.success(request, _("Merged.") if decision == "same" else _("Kept apart."))
    following = selectors_pages.review_next(user=request.user, after=pair)
    if following is not None:
        return redirect("registry:review_detail", following.pk)
    return redirect("registry:review_list")


@require_POST
@login_required
def review_undo(request, pk: int):
    pair = _pair_or_404(request, pk)
    try:
        services.review_undo(pair=pair, actor=request.user)
    except services.ReviewError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The decision was undone; the pair is waiting for review again."))
    return redirect("registry:review_detail", pair.pk)
