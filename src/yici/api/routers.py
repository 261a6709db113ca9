from django.http import Http404
from ninja import Router
from ninja.pagination import LimitOffsetPagination, paginate

from yici.api.schemas import ElementValueOut, HouseholdOut, HouseOut, MeOut, PersonOut, PlaceOut
from yici.registry import selectors as registry

whoami_router = Router(tags=["accounts"])
registry_router = Router(tags=["registry"])


@whoami_router.get("", response=MeOut, summary="The signed-in user, their role and area")
def me(request):
    user = request.auth
    return {
        "username": user.username,
        "name": str(user),
        "role": user.role,
        "area": user.area,
        "department": user.department.code if user.department_id else None,
    }


@registry_router.get("/persons", response=list[PersonOut], summary="Persons in your area (sensitive values masked)")
@paginate(LimitOffsetPagination)
def persons(request, q: str = ""):
    return registry.person_list(user=request.auth, query=q)


@registry_router.get("/persons/{person_id}", response=PersonOut)
def person(request, person_id: int):
    p = registry.person_get(user=request.auth, pk=person_id)
    if p is None:
        raise Http404
    return p


@registry_router.get("/persons/{person_id}/elements", response=list[ElementValueOut],
                     summary="Every golden value of a person with its provenance (sensitive values masked)")
def person_elements(request, person_id: int):
    from yici.registry.selectors_pages import golden_elements

    p = registry.person_get(user=request.auth, pk=person_id)
    if p is None:
        raise Http404
    return [
        {"code": e.code, "label": e.label, "value": e.value, "sensitive": e.sensitive, "rule": e.rule,
         "system": e.system, "observed_at": e.observed_at,
         "candidates": [{"value": c.value, "system": c.system, "observed_at": c.observed_at} for c in e.candidates]}
        for e in golden_elements("person", p)
    ]


@registry_router.get("/households", response=list[HouseholdOut])
@paginate(LimitOffsetPagination)
def households(request):
    return registry.household_list(user=request.auth)


@registry_router.get("/houses", response=list[HouseOut])
@paginate(LimitOffsetPagination)
def houses(request):
    return registry.house_list(user=request.auth)


@registry_router.get("/places", response=list[PlaceOut])
@paginate(LimitOffsetPagination)
def places(request):
    return registry.place_list(user=request.auth)
