"""Registry reads, scoped to the requesting user's area subtree (``golden_current`` excepted: it
serves services that act for a system, not a person)."""

from django.db.models import Q, QuerySet

from yici.accounts.models import User
from yici.accounts.roles import PERSONAL_DATA_ROLES
from yici.accounts.selectors import scope_by_area
from yici.registry.models import House, Household, Person, Place


def _personal(queryset: QuerySet, user: User) -> QuerySet:
    """Scope to the user's area, for roles that may see personal data; hide merged-away records."""
    if not user.is_authenticated or user.role not in PERSONAL_DATA_ROLES:
        return queryset.none()
    return scope_by_area(queryset.filter(merged_into_id__isnull=True), user=user)


def person_list(*, user: User, query: str = "") -> QuerySet[Person]:
    """Persons in the user's subtree, optionally searched by name, pinyin initials, ID or phone."""
    qs = _personal(Person.objects.select_related("household"), user)
    query = query.strip()
    if query:
        if query.isascii() and query.isalpha():
            qs = qs.filter(name_initials__startswith=query.lower())
        elif any(ch.isdigit() for ch in query):
            qs = qs.filter(Q(id_number__contains=query.upper()) | Q(phone__contains=query))
        else:
            qs = qs.filter(name__contains=query)
    return qs


def person_get(*, user: User, pk: int) -> Person | None:
    return _personal(Person.objects.select_related("household"), user).filter(pk=pk).first()


def household_list(*, user: User) -> QuerySet[Household]:
    return _personal(Household.objects.all(), user)


def house_list(*, user: User) -> QuerySet[House]:
    return _personal(House.objects.select_related("owner"), user)


def place_list(*, user: User) -> QuerySet[Place]:
    return _personal(Place.objects.all(), user)


def household_members(*, person: Person) -> QuerySet[Person]:
    """The other members of the person's household (the caller has already scoped ``person``)."""
    if person.household_id is None:
        return Person.objects.none()
    return Person.objects.filter(household_id=person.household_id).exclude(pk=person.pk).order_by("id")


def golden_current(entity: str, pk: int):
    """The golden record ``pk`` or, if it has been merged since, the one it lives on in (not scoped:
    for services that already know the caller may write it). ``None`` if there is none."""
    from yici.registry.reconcile import ENTITY_MODELS

    model = ENTITY_MODELS[entity]
    obj, seen = model.objects.filter(pk=pk).first(), set()
    while obj is not None and obj.merged_into_id is not None and obj.pk not in seen:
        seen.add(obj.pk)
        obj = model.objects.filter(pk=obj.merged_into_id).first()
    return obj
