from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from yici.catalog import selectors
from yici.catalog.models import Entity


@login_required
def element_list(request):
    query = request.GET.get("q", "").strip()
    entity = request.GET.get("entity", "")
    if entity not in Entity.values:
        entity = ""
    elements = selectors.element_list(query=query, entity=entity)
    page = Paginator(elements, 100).get_page(request.GET.get("page"))
    return render(
        request, "catalog/element_list.html",
        {"page": page, "query": query, "entity": entity, "entities": Entity.choices},
    )


@login_required
def element_detail(request, code: str):
    element = selectors.element_get(code=code)
    if element is None:
        raise Http404
    return render(request, "catalog/element_detail.html", {"element": element})
