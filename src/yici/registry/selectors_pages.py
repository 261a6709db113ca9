"""Reads for the registry pages: person and house pages, house search, and the review queue.

Every function takes the requesting user and scopes through ``selectors._personal`` (review pairs
through the same area rule), so no page can forget it. Sensitive values leave here masked, also
the candidates other sources offered; the full value is only ever read through an audited reveal.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from yici.accounts.models import User
from yici.accounts.roles import ADMIN_ROLES, REGISTRY_WRITE_ROLES
from yici.catalog.models import DataElement
from yici.catalog.selectors import element_by_code_map
from yici.exchange.models import LineSystem
from yici.registry import golden
from yici.registry.masking import SENSITIVE_FIELDS
from yici.registry.models import (
    House,
    Link,
    Person,
    ReviewPair,
    ReviewStatus,
    SourceKind,
    SourceRecord,
)
from yici.registry.selectors import _personal
from yici.registry.sensitive import element_is_sensitive, mask_element_value

# How survivorship chose a value (golden.choose), in words.
RULES = {
    "authoritative": _("authoritative source"),
    "corrected": _("corrected by hand after the authoritative source"),
    "most_recent": _("most recent"),
    "most_frequent": _("most frequent"),
    "agreed": _("all sources agree"),
    "only": _("only source"),
}

# Roles that decide review pairs (they may change registry records).
REVIEW_ROLES = REGISTRY_WRITE_ROLES
HISTORY_LIMIT = 200


# --- shared pieces --------------------------------------------------------------------------------

def element_label(code: str, element: DataElement | None) -> str:
    if element is None:
        return code
    if (get_language() or "").startswith("zh"):
        return element.name_zh
    return element.name_en or element.name_zh


def _catalog_order(code: str, elements: dict[str, DataElement]) -> tuple:
    element = elements.get(code)
    return (0, element.order, code) if element is not None else (1, 0, code)


def _parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def _system_names() -> dict[str, str]:
    names = dict(LineSystem.objects.values_list("code", "name"))
    names.update({str(value): str(label) for value, label in SourceKind.choices})
    return names


@dataclass
class RecordRef:
    """Where a value came from: the system, file and row of one source record."""

    record: int
    system: str
    file: str = ""
    row: int | None = None


def _record_refs(ids: set[int]) -> dict[int, tuple[str, int | None]]:
    rows = SourceRecord.objects.filter(pk__in=ids).values_list("id", "batch__filename", "row_number")
    return {rid: (filename or "", row) for rid, filename, row in rows}


@dataclass
class CandidateView:
    value: str  # masked when sensitive
    system: str  # display name
    observed_at: datetime.datetime | None
    ref: RecordRef
    chosen: bool


@dataclass
class ElementView:
    """One golden value with its provenance, ready to show."""

    code: str
    label: str
    value: str  # masked when sensitive
    sensitive: bool
    reveal_field: str  # what the reveal URL takes ('' when the value cannot be revealed)
    rule: str = ""
    rule_label: str = ""
    system: str = ""
    observed_at: datetime.datetime | None = None
    ref: RecordRef | None = None
    candidates: list[CandidateView] = field(default_factory=list)

    @property
    def reveal_id(self) -> str:
        """An HTML id without dots (a dot would read as a class in the htmx target selector)."""
        return "reveal-" + self.reveal_field.replace(".", "-")

    @property
    def others(self) -> list[CandidateView]:
        return [c for c in self.candidates if not c.chosen]


def golden_elements(entity: str, obj) -> list[ElementView]:
    """Every element value ``obj`` holds, in catalog order, each with where it came from (masked)."""
    elements = element_by_code_map()
    systems = _system_names()
    values = golden.element_values(entity, obj)
    provenance = golden.provenance_of(entity, obj)
    record_ids = set()
    for code in values:
        prov = provenance.get(code) or {}
        record_ids.update(c.get("record") for c in [prov, *prov.get("candidates", [])])
    refs = _record_refs(record_ids - {None})
    out = []
    for code in sorted(values, key=lambda c: _catalog_order(c, elements)):
        element = elements.get(code)
        sensitive = element_is_sensitive(code, element)
        core = golden.CORE_FIELDS[entity].get(code)
        if not sensitive:
            reveal = ""
        elif entity == "person" and core in SENSITIVE_FIELDS:
            reveal = core  # the person's own columns keep their established reveal
        else:
            reveal = code if element is not None else ""
        view = ElementView(
            code=code, label=element_label(code, element), value=mask_element_value(code, element, values[code]),
            sensitive=sensitive, reveal_field=reveal,
        )
        prov = provenance.get(code)
        if prov:
            view.rule = prov.get("rule", "")
            view.rule_label = str(RULES.get(view.rule, view.rule))
            view.system = systems.get(prov.get("system", ""), prov.get("system", ""))
            view.observed_at = _parse_time(prov.get("observed_at"))
            view.ref = _ref(prov.get("record"), view.system, refs)
            for c in prov.get("candidates", []):
                system = systems.get(c.get("system", ""), c.get("system", ""))
                view.candidates.append(CandidateView(
                    value=mask_element_value(code, element, c.get("value")), system=system,
                    observed_at=_parse_time(c.get("observed_at")), ref=_ref(c.get("record"), system, refs),
                    chosen=c.get("record") == prov.get("record"),
                ))
        out.append(view)
    return out


def _ref(record_id, system: str, refs: dict) -> RecordRef | None:
    if not record_id:
        return None
    filename, row = refs.get(record_id, ("", None))
    return RecordRef(record=record_id, system=system, file=filename, row=row)


@dataclass
class HistoryRow:
    link: Link
    system: str
    file: str
    row: int | None
    facet: str  # '' for the record's own entity, else e.g. 'owner' for a house row's owner
    via: int | None  # the golden record the link points to, when it is one merged into this one


def _history(entity: str, obj) -> list[HistoryRow]:
    """Source records linked to ``obj`` now and before, newest first (also those of records merged into it)."""
    fk = entity
    links = (
        Link.objects.filter(Q(**{f"{fk}_id": obj.pk}) | Q(**{f"{fk}__merged_into_id": obj.pk}))
        .select_related("record__system", "record__batch", "created_by")
        .order_by("-created_at", "-id")[:HISTORY_LIMIT]
    )
    rows = []
    for link in links:
        record = link.record
        system = record.system.name if record.system_id else record.get_kind_display()
        gid = getattr(link, f"{fk}_id")
        rows.append(HistoryRow(
            link=link, system=system, file=record.batch.filename if record.batch_id else record.context,
            row=record.row_number, facet="owner" if record.parent_id else "", via=gid if gid != obj.pk else None,
        ))
    return rows


def _successor(model, user: User, pk: int):
    """A merged-away record's current golden record, if the user may see it (old IDs keep resolving)."""
    seen = set()
    current = model.objects.filter(pk=pk).values_list("merged_into_id", flat=True).first()
    while current and current not in seen:
        seen.add(current)
        nxt = model.objects.filter(pk=current).values_list("merged_into_id", flat=True).first()
        if nxt is None:
            break
        current = nxt
    if not current:
        return None
    return _personal(model.objects.all(), user).filter(pk=current).first()


# --- persons -------------------------------------------------------------------------------------

@dataclass
class PersonPage:
    person: Person
    elements: list[ElementView]
    members: list[Person]
    houses_owned: list[House]
    household_houses: list[House]
    history: list[HistoryRow]


def person_page(*, user: User, pk: int) -> PersonPage | None:
    person = _personal(Person.objects.select_related("household"), user).filter(pk=pk).first()
    if person is None:
        return None
    members = []
    household_houses = []
    if person.household_id:
        members = list(
            _personal(Person.objects.all(), user).filter(household_id=person.household_id).exclude(pk=person.pk)
            .order_by("id")
        )
        household_houses = list(_personal(House.objects.all(), user).filter(household_id=person.household_id))
    return PersonPage(
        person=person,
        elements=golden_elements("person", person),
        members=members,
        houses_owned=list(_personal(House.objects.all(), user).filter(owner_id=person.pk)),
        household_houses=household_houses,
        history=_history("person", person),
    )


def person_successor(*, user: User, pk: int) -> Person | None:
    return _successor(Person, user, pk)


# --- houses --------------------------------------------------------------------------------------

def house_search(*, user: User, query: str = "") -> QuerySet[House]:
    """Houses in the user's subtree, searched by code, address, or the owner's name or pinyin initials."""
    qs = _personal(House.objects.select_related("owner"), user)
    query = query.strip()
    if query:
        if query.isascii() and query.isalpha():
            qs = qs.filter(Q(owner__name_initials__startswith=query.lower()) | Q(code__istartswith=query))
        else:
            qs = qs.filter(Q(code__icontains=query) | Q(address__contains=query) | Q(owner__name__contains=query))
    return qs


def house_get(*, user: User, pk: int) -> House | None:
    return _personal(House.objects.select_related("owner", "household"), user).filter(pk=pk).first()


@dataclass
class HousePage:
    house: House
    elements: list[ElementView]
    owner: Person | None  # None also when the owner lies outside the user's area
    history: list[HistoryRow]


def house_page(*, user: User, pk: int) -> HousePage | None:
    house = house_get(user=user, pk=pk)
    if house is None:
        return None
    owner = None
    if house.owner_id:
        owner = _personal(Person.objects.all(), user).filter(pk=house.owner_id).first() or person_successor(
            user=user, pk=house.owner_id
        )
    return HousePage(house=house, elements=golden_elements("house", house), owner=owner,
                     history=_history("house", house))


def house_successor(*, user: User, pk: int) -> House | None:
    return _successor(House, user, pk)


# --- review queue --------------------------------------------------------------------------------

def can_review(user: User) -> bool:
    return user.is_authenticated and user.role in REVIEW_ROLES


def _review_scope(queryset: QuerySet, user: User) -> QuerySet:
    """Pairs whose area lies in the user's subtree; county admins also see pairs without an area."""
    prefix = user.area_prefix if can_review(user) else None
    if prefix is None:
        return queryset.none()
    where = Q(area_code__startswith=prefix)
    if user.role in ADMIN_ROLES:
        where |= Q(area_code="")
    return queryset.filter(where)


_PAIR_RELATED = ("left__system", "left__batch", "right__system", "right__batch")


def review_open_list(*, user: User) -> QuerySet[ReviewPair]:
    """Open pairs in the user's area, the most likely matches first."""
    return (
        _review_scope(ReviewPair.objects.filter(status=ReviewStatus.OPEN), user)
        .select_related(*_PAIR_RELATED).order_by("-probability", "id")
    )


def review_decided_list(*, user: User, limit: int = 20) -> list[ReviewPair]:
    """The most recent decisions in the user's area (each can be undone)."""
    return list(
        _review_scope(ReviewPair.objects.exclude(status=ReviewStatus.OPEN), user)
        .select_related(*_PAIR_RELATED, "decided_by").order_by("-decided_at", "-id")[:limit]
    )


def review_get(*, user: User, pk: int) -> ReviewPair | None:
    return _review_scope(ReviewPair.objects.select_related(*_PAIR_RELATED, "decided_by"), user).filter(pk=pk).first()


def review_next(*, user: User, after: ReviewPair | None = None) -> ReviewPair | None:
    """The next open pair to look at (the most likely match other than ``after``)."""
    qs = review_open_list(user=user)
    if after is not None:
        qs = qs.exclude(pk=after.pk)
    return qs.first()


@dataclass
class PairSide:
    record: SourceRecord
    system: str
    file: str
    row: int | None
    golden: object | None  # the golden record it belongs to now, if the user may see it
    golden_id: int | None


@dataclass
class PairRow:
    code: str
    label: str
    left: str  # masked when sensitive
    right: str
    left_invalid: bool
    right_invalid: bool
    differs: bool  # both sides have a value and they are not the same
    one_sided: bool

    @property
    def differs_hidden(self) -> bool:
        """The values differ only in masked characters (two IDs with swapped middle digits)."""
        return self.differs and self.left == self.right


@dataclass
class PairPage:
    pair: ReviewPair
    left: PairSide
    right: PairSide
    rows: list[PairRow]

    @property
    def same_golden(self) -> bool:
        return self.left.golden_id is not None and self.left.golden_id == self.right.golden_id


def record_summary(record: SourceRecord) -> dict[str, str]:
    """Name and masked ID of a source record, for a list row."""
    values = record.values or {}
    name = values.get("person.name") or values.get("house.owner_name") or values.get("house.code") or ""
    id_number = values.get("person.id_number") or values.get("house.owner_id_number") or ""
    return {"name": name, "id_number": mask_element_value("person.id_number", None, id_number)}


def _side(record: SourceRecord, entity: str, user: User) -> PairSide:
    from yici.registry.reconcile import ENTITY_MODELS

    fk = f"{entity}_id"
    link = Link.objects.filter(record_id=record.pk, active=True).values_list(fk, flat=True).first()
    golden_obj = None
    if link:
        golden_obj = _personal(ENTITY_MODELS[entity].objects.all(), user).filter(pk=link).first()
    return PairSide(
        record=record, system=record.system.name if record.system_id else record.get_kind_display(),
        file=record.batch.filename if record.batch_id else record.context, row=record.row_number,
        golden=golden_obj, golden_id=link,
    )


def review_page(*, user: User, pair: ReviewPair) -> PairPage:
    """The two records of a pair side by side: values per element, differences marked, sensitive masked."""
    elements = element_by_code_map()
    left, right = pair.left, pair.right
    codes = set(left.values) | set(right.values)
    # Values that failed validation are only in ``raw`` (by element code); show them too, marked.
    codes |= {k for k in (*left.raw, *right.raw) if k in elements}
    rows = []
    for code in sorted(codes, key=lambda c: _catalog_order(c, elements)):
        element = elements.get(code)
        lv, rv = left.values.get(code, ""), right.values.get(code, "")
        l_invalid = not lv and bool(left.raw.get(code))
        r_invalid = not rv and bool(right.raw.get(code))
        l_show = lv or left.raw.get(code, "")
        r_show = rv or right.raw.get(code, "")
        rows.append(PairRow(
            code=code, label=element_label(code, element),
            left=mask_element_value(code, element, l_show), right=mask_element_value(code, element, r_show),
            left_invalid=l_invalid, right_invalid=r_invalid,
            differs=bool(l_show) and bool(r_show) and l_show != r_show,
            one_sided=bool(l_show) != bool(r_show),
        ))
    return PairPage(pair=pair, left=_side(left, pair.entity, user), right=_side(right, pair.entity, user), rows=rows)
