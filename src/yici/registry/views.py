from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yici.registry import selectors, services


@login_required
def person_list(request):
    query = request.GET.get("q", "")
    page = Paginator(selectors.person_list(user=request.user, query=query), 50).get_page(request.GET.get("page"))
    return render(request, "registry/person_list.html", {"page": page, "query": query})


@login_required
def person_detail(request, pk: int):
    person = selectors.person_get(user=request.user, pk=pk)
    if person is None:
        # 404, not 403: a record outside the user's area must not even be confirmed to exist.
        raise Http404
    return render(request, "registry/person_detail.html", {"person": person, "members": selectors.household_members(person=person)})


@require_POST
@login_required
def person_reveal(request, pk: int, field: str):
    """Show one sensitive full value; the reason is required and audited."""
    person = selectors.person_get(user=request.user, pk=pk)
    if person is None:
        raise Http404
    reason = request.POST.get("reason", "").strip()
    if not reason:
        return HttpResponse(format_html('<span class="errorlist">{}</span>', _("Say why you need the full value.")), status=400)
    try:
        value = services.person_reveal(person=person, field=field, actor=request.user, reason=reason, request=request)
    except ValueError:
        raise Http404 from None
    return HttpResponse(format_html('<span class="revealed" data-testid="revealed-{}">{}</span>', field, value))
