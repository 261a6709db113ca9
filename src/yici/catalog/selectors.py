"""Catalog reads. The catalog describes data, it holds none, so every signed-in role may read it."""

from django.db.models import QuerySet

from yici.catalog.models import DataElement, Entity


def element_list(*, query: str = "", entity: str = "") -> QuerySet[DataElement]:
    """Elements in catalog order, optionally of one entity and matching ``query``.

    The query is matched (case-insensitively) against the code, the Chinese and English names and
    the synonyms, all of which live in ``search_text``.
    """
    elements = DataElement.objects.all()
    if entity in Entity.values:
        elements = elements.filter(entity=entity)
    query = query.strip()
    if query:
        elements = elements.filter(search_text__icontains=query)
    return elements


def element_get(*, code: str) -> DataElement | None:
    """One element with its code list, or ``None``."""
    return DataElement.objects.prefetch_related("code_values").filter(code=code).first()


def element_by_code_map() -> dict[str, DataElement]:
    """Every element by its code, code lists prefetched (for mapping, fill and export)."""
    return {e.code: e for e in DataElement.objects.prefetch_related("code_values")}
