"""Catalog endpoints under /api/catalog/: the data elements and their code lists (any signed-in role)."""

from django.http import Http404
from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from yici.catalog import selectors

router = Router(tags=["catalog"])


class CodeValueOut(Schema):
    code: str
    label: str
    aliases: list[str]


class ElementOut(Schema):
    code: str
    name_zh: str
    name_en: str
    entity: str
    type: str
    sensitivity: str
    authoritative_system: str
    derived: str
    synonyms: list[str]
    description: str


class ElementDetailOut(ElementOut):
    code_list_standard: str
    code_list: list[CodeValueOut]

    @staticmethod
    def resolve_code_list(obj) -> list:
        return list(obj.code_values.all())


@router.get("/elements", response=list[ElementOut], summary="Data elements, optionally searched or of one entity")
@paginate(LimitOffsetPagination)
def elements(request, q: str = "", entity: str = ""):
    return selectors.element_list(query=q, entity=entity)


@router.get("/elements/{code}", response=ElementDetailOut, summary="One data element with its code list")
def element(request, code: str):
    found = selectors.element_get(code=code)
    if found is None:
        raise Http404
    return found
