"""Who the rows of a report are: golden records of one entity in an area, filtered by an expression.

The filter grammar is ``all``, or clauses joined by `` and ``; a clause is ``CODE OP VALUE`` with
CODE a catalog element code (``person.low_income``), an element's Chinese name, or ``age``
(person.age); OP one of ``== != >= <= > <``; VALUE a literal, ``''`` meaning empty. Examples:
``age>=80``, ``person.low_income==是``, ``person.disability_category!=''``,
``person.village==上塘村 and person.low_income==是``.

Each row's values are the golden values of its record (``registry.golden.element_values``) plus
those of the records it points at (a person's household, a house's owner and household, a
household's head), the village and group its area code names where no source said, and the
derived elements computed for the as-of date: ``person.age`` (whole years), ``person.elderly``
(是 from 80), ``house.is_dangerous`` (是 for C级/D级). Equality on a record's own elements and age
bounds are also given to the database, so a county-wide ``age>=80`` reads only the old; every
clause is still checked on every row.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

from django.db.models import Q
from django.utils.translation import gettext as _

from yici.accounts.models import Area, AreaLevel
from yici.accounts.selectors import area_subtree_q
from yici.registry.golden import CORE_FIELDS, element_values
from yici.registry.models import House, Household, Person, Place

ENTITY_MODELS = {"person": Person, "household": Household, "house": House, "place": Place}
# The entities whose elements a row of each entity can show: its own and those of the records it points at.
REACHABLE = {
    "person": ("person", "household"),
    "household": ("household", "person"),
    "house": ("house", "person", "household"),
    "place": ("place",),
}
DERIVED = ("person.age", "person.elderly", "house.is_dangerous")
ELDERLY_AGE = 80
DANGEROUS_LEVELS = frozenset({"C级", "D级"})
OPS = ("==", "!=", ">=", "<=", ">", "<")
_CLAUSE = re.compile(r"^\s*([^\s=!<>]+)\s*(==|!=|>=|<=|>|<)\s*(.*?)\s*$")
_AND = re.compile(r"\s+and\s+|\s*&&\s*|\s+且\s+", re.IGNORECASE)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
# The relation label of a household's head; it comes first among the household's members.
HEAD_RELATION = "户主"


class FilterError(Exception):
    """The filter cannot be understood; the message is one line."""


@dataclass(frozen=True)
class Clause:
    code: str
    op: str
    value: str  # registry spelling (a code-list label for code elements); "" = empty

    def __str__(self) -> str:
        return f"{self.code}{self.op}{self.value or chr(39) * 2}"

    def matches(self, values: dict[str, str]) -> bool:
        actual = values.get(self.code, "")
        if self.op == "==":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        if actual == "":
            return False
        if _NUMBER.match(actual) and _NUMBER.match(self.value):
            a, b = float(actual), float(self.value)
        else:  # ISO dates and plain text compare as text
            a, b = actual, self.value
        return {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[self.op]


@dataclass
class Row:
    entity: str
    pk: int
    values: dict[str, str]
    sort_key: tuple = ()
    area_code: str = ""

    @property
    def key(self) -> str:
        return f"{self.entity}:{self.pk}"


def parse_where(where: str | None, *, elements) -> list[Clause]:
    """Clauses of a filter expression; ``elements`` is a ``catalog.mapping.ElementIndex``."""
    text = (where or "").strip()
    if text in ("", "all", "*", "全部"):
        return []
    clauses = []
    for part in _AND.split(text):
        match = _CLAUSE.match(part)
        if not match:
            raise FilterError(
                _("Cannot read the filter clause “%(clause)s”: write CODE OP VALUE with OP one of %(ops)s, "
                  "e.g. age>=80 or person.low_income==是.") % {"clause": part.strip(), "ops": " ".join(OPS)}
            )
        name, op, raw = match.groups()
        element = _element(name, elements)
        value = _literal(raw)
        clauses.append(Clause(element.code, op, _registry_value(element, op, value)))
    return clauses


def _element(name: str, elements):
    code = "person.age" if name.lower() in ("age", "年龄") else name
    element = elements.by_code.get(code)
    if element is None:
        by_name = [e for e in elements.elements if e.name == name]
        if len(by_name) == 1:
            element = by_name[0]
    if element is None:
        raise FilterError(_("Unknown data element “%(name)s” in the filter; use a catalog code such as "
                            "person.low_income, or age.") % {"name": name})
    return element


def _literal(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def _registry_value(element, op: str, value: str) -> str:
    """The value as the registry spells it: a code-list label for a code or its alias; checked."""
    if op in ("==", "!=") and element.values and value:
        for code, label, aliases in element.values:
            if value in (label, code, *aliases):
                return label
        labels = "、".join(label for _code, label, _aliases in element.values[:12])
        raise FilterError(_("“%(value)s” is not a value of %(code)s; its values are %(labels)s.")
                          % {"value": value, "code": element.code, "labels": labels})
    if op not in ("==", "!="):
        if value == "":
            raise FilterError(_("%(op)s needs a value to compare with in the clause on %(code)s.")
                              % {"op": op, "code": element.code})
        if element.type in ("int", "decimal") and not _NUMBER.match(value):
            raise FilterError(_("%(code)s is a number; “%(value)s” is not.") % {"code": element.code, "value": value})
        if element.type in ("date", "datetime") and not _DATE.match(value):
            raise FilterError(_("%(code)s is a date; write it as YYYY-MM-DD, not “%(value)s”.")
                              % {"code": element.code, "value": value})
    return value


def check_reachable(clauses: list[Clause], entity: str) -> None:
    for clause in clauses:
        if clause.code.split(".", 1)[0] not in REACHABLE[entity]:
            raise FilterError(_("The filter names %(code)s, but the template's rows are %(entity)s records.")
                              % {"code": clause.code, "entity": entity})


# --- derived elements ----------------------------------------------------------------------------


def age_on(birth: str, as_of: date) -> int | None:
    try:
        born = date.fromisoformat(birth[:10])
    except (TypeError, ValueError):
        return None
    return as_of.year - born.year - ((as_of.month, as_of.day) < (born.month, born.day))


def add_derived(values: dict[str, str], as_of: date) -> None:
    """Compute the derived elements from the golden values (derived values are never stored)."""
    for code in DERIVED:
        values.pop(code, None)
    if "person.birth_date" in values:
        age = age_on(values["person.birth_date"], as_of)
        if age is not None and age >= 0:
            values["person.age"] = str(age)
            values["person.elderly"] = "是" if age >= ELDERLY_AGE else "否"
    level = values.get("house.safety_level", "")
    if level:
        values["house.is_dangerous"] = "是" if level in DANGEROUS_LEVELS else "否"


# --- rows ----------------------------------------------------------------------------------------


def population(*, entity: str, area: Area, clauses: list[Clause], as_of: date) -> list[Row]:
    """The filtered golden records of ``entity`` in ``area``'s subtree, in a stable report order."""
    model = ENTITY_MODELS[entity]
    # Provenance (every source's claim per element) is the largest column and not needed here.
    qs = model.objects.filter(area_subtree_q("area_code", area.prefix), merged_into_id__isnull=True).defer("provenance")
    qs = qs.filter(_prefilter(entity, clauses, as_of))
    rows = []
    if entity == "person":
        for person, household in _plain(qs, "person", household="household"):
            values = element_values("person", person)
            if household is not None:
                _fill_missing(values, element_values("household", household))
                values.setdefault("person.household_no", household.household_no)
                if household.head_name:
                    values.setdefault("person.household_head_name", household.head_name)
            rows.append(_row("person", person, values, as_of, _person_order(person, values)))
    elif entity == "house":
        for house in qs.select_related("owner", "household").defer("owner__provenance", "household__provenance"):
            values = element_values("house", house)
            owner = house.owner
            if owner is not None:
                for code, value in (("house.owner_name", owner.name), ("house.owner_id_number", owner.id_number),
                                    ("house.owner_phone", owner.phone)):
                    if value and not values.get(code):
                        values[code] = value
                _fill_missing(values, element_values("person", owner))
            if house.household is not None:
                _fill_missing(values, element_values("household", house.household))
            rows.append(_row("house", house, values, as_of, (house.code, house.pk)))
    elif entity == "household":
        households = list(qs)
        heads, sizes = _heads(qs)
        for household in households:
            values = element_values("household", household)
            if sizes.get(household.pk):
                values.setdefault("household.member_count", str(sizes[household.pk]))
            head = heads.get(household.pk)
            if head is not None:
                head_values = element_values("person", head)
                _fill_missing(values, head_values)
                if head.id_number:
                    values.setdefault("household.head_id_number", head.id_number)
            rows.append(_row("household", household, values, as_of, (household.household_no, household.pk)))
    else:
        for place in qs:
            rows.append(_row("place", place, element_values("place", place), as_of, (place.code, place.pk)))
    _area_names(rows)
    if clauses:
        rows = [r for r in rows if all(c.matches(r.values) for c in clauses)]
    rows.sort(key=lambda r: r.sort_key)
    return rows


def _plain(qs, entity: str, **related: str):
    """Records as plain objects with the golden fields ``element_values`` reads (model instances
    cost more than the rest of a fill), each with its related record (or None) per ``related``."""
    own = ["id", "area_code", "attributes", *CORE_FIELDS[entity].values()]
    fields = list(own)
    for name, related_entity in related.items():
        fields += [f"{name}_id"] + [f"{name}__{f}" for f in ("attributes", *CORE_FIELDS[related_entity].values())]
    for row in qs.order_by().values(*fields).iterator(chunk_size=2000):
        record = SimpleNamespace(pk=row["id"], **{f: row[f] for f in own})
        others = []
        for name, related_entity in related.items():
            if row[f"{name}_id"] is None:
                others.append(None)
                continue
            prefix = f"{name}__"
            others.append(SimpleNamespace(pk=row[f"{name}_id"], **{
                f: row[prefix + f] for f in ("attributes", *CORE_FIELDS[related_entity].values())}))
        yield record, *others


# Elements a row may get from elsewhere than its own record (its household, owner, head or area):
# the database cannot select on them, only the clauses checked on each row can.
_BORROWED = frozenset({
    "person.village", "person.grid", "person.household_no", "person.household_head_name", "house.village",
    "house.owner_name", "house.owner_id_number", "house.owner_phone", "household.member_count",
    "household.head_id_number", *DERIVED,
})


def _prefilter(entity: str, clauses: list[Clause], as_of: date) -> Q:
    """A database condition that keeps at least every record the clauses select (they are checked
    again on each row): equality on the record's own elements, and ages as birth-date bounds."""
    condition = Q()
    core = CORE_FIELDS[entity]
    for clause in clauses:
        if clause.code == "person.age" and entity == "person":
            condition &= _age_bounds(clause, as_of)
            continue
        if clause.op != "==" or clause.value == "" or clause.code in _BORROWED:
            continue
        if clause.code.split(".", 1)[0] != entity:
            continue
        field = core.get(clause.code)
        if field is None:
            condition &= Q(**{f"attributes__{clause.code}": clause.value})
        elif field == "birth_date":
            condition &= Q(birth_date=date.fromisoformat(clause.value)) if _DATE.match(clause.value) and len(
                clause.value) == 10 else Q()
        elif field != "floors":
            condition &= Q(**{field: clause.value})
    return condition


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _age_bounds(clause: Clause, as_of: date) -> Q:
    """Birth dates that can have the clause's age on ``as_of`` (a day of slack either side)."""
    if not re.fullmatch(r"\d{1,3}", clause.value):
        return Q()
    n = int(clause.value)
    at_least = {">=": n, ">": n + 1, "==": n}.get(clause.op)
    at_most = {"<=": n, "<": n - 1, "==": n}.get(clause.op)
    condition = Q(birth_date__isnull=False)
    if at_least is not None:
        condition &= Q(birth_date__lte=_years_before(as_of, at_least) + timedelta(days=1))
    if at_most is not None:
        condition &= Q(birth_date__gte=_years_before(as_of, at_most + 1) - timedelta(days=1))
    return condition


def _row(entity: str, obj, values: dict[str, str], as_of: date, order: tuple) -> Row:
    add_derived(values, as_of)
    return Row(entity, obj.pk, values, order, obj.area_code)


def _area_names(rows: list[Row]) -> None:
    """The village (所属村) and villager group (组别) a record's area code names, where no source said."""
    wanted = {"person": ("person.village", "person.grid"), "house": ("house.village", None)}
    codes: set[str] = set()
    for row in rows:
        village, group = wanted.get(row.entity, (None, None))
        if village and not row.values.get(village) and len(row.area_code) >= 12:
            codes.add(row.area_code[:12])
        if group and not row.values.get(group) and len(row.area_code) > 12:
            codes.add(row.area_code)
    if not codes:
        return
    names = {code: (name, level) for code, name, level in
             Area.objects.filter(code__in=codes).values_list("code", "name", "level")}
    for row in rows:
        village, group = wanted.get(row.entity, (None, None))
        if village and not row.values.get(village):
            found = names.get(row.area_code[:12])
            if found and found[1] == AreaLevel.VILLAGE:
                row.values[village] = found[0]
        if group and not row.values.get(group):
            found = names.get(row.area_code)
            if found and found[1] == AreaLevel.GROUP:
                row.values[group] = found[0]


def _fill_missing(values: dict[str, str], more: dict[str, str]) -> None:
    for code, value in more.items():
        if value and not values.get(code):
            values[code] = value


def _person_order(person: Person, values: dict[str, str]) -> tuple:
    """Household by household, the head first, then by age (as most department rosters are kept)."""
    household = values.get("person.household_no", "")
    return (person.area_code[:12], household or "\uffff", values.get("person.relation_to_head") != HEAD_RELATION,
            values.get("person.birth_date", ""), person.pk)


def _heads(households) -> tuple[dict[int, Person], dict[int, int]]:
    """Each household's head (户主 first, else its first member) and its number of members."""
    members: dict[int, list[Person]] = defaultdict(list)
    members_qs = Person.objects.filter(household__in=households.values("pk"), merged_into_id__isnull=True)
    for person in members_qs.defer("provenance"):
        members[person.household_id].append(person)
    heads = {}
    for household_id, people in members.items():
        people.sort(key=lambda p: (p.relation_to_head != HEAD_RELATION, p.pk))
        heads[household_id] = people[0]
    return heads, {household_id: len(people) for household_id, people in members.items()}
