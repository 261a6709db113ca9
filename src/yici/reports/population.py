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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from json import loads

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _

from yici.accounts.models import Area, AreaLevel
from yici.accounts.selectors import area_subtree_q
from yici.registry.golden import (
    CORE_FIELDS,
    DERIVED,  # computed elements (age …), never typed; used here and by callers
    element_values,
)
from yici.registry.models import House, Household, Person, Place

ENTITY_MODELS = {"person": Person, "household": Household, "house": House, "place": Place}
# The entities whose elements a row of each entity can show: its own and those of the records it points at.
REACHABLE = {
    "person": ("person", "household"),
    "household": ("household", "person"),
    "house": ("house", "person", "household"),
    "place": ("place",),
}
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


@dataclass(slots=True)
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


def add_derived(values: dict[str, str], as_of: date, ages: dict | None = None) -> None:
    """Compute the derived elements from the golden values (derived values are never stored);
    ``ages`` caches them by date of birth."""
    for code in DERIVED:
        values.pop(code, None)
    if "person.birth_date" in values:
        birth = values["person.birth_date"]
        found = ages.get(birth, False) if ages is not None else False
        if found is False:
            age = age_on(birth, as_of)
            found = (str(age), "是" if age >= ELDERLY_AGE else "否") if age is not None and age >= 0 else None
            if ages is not None:
                ages[birth] = found
        if found is not None:
            values["person.age"], values["person.elderly"] = found
    level = values.get("house.safety_level", "")
    if level:
        values["house.is_dangerous"] = "是" if level in DANGEROUS_LEVELS else "否"


# --- rows ----------------------------------------------------------------------------------------


def population(*, entity: str, area: Area, clauses: list[Clause], as_of: date) -> list[Row]:
    """The filtered golden records of ``entity`` in ``area``'s subtree, in a stable report order."""
    return [row for batch in population_batches(entity=entity, area=area, clauses=clauses, as_of=as_of)
            for row in batch]


def population_batches(*, entity: str, area: Area, clauses: list[Clause], as_of: date,
                       villages: set[str] | None = None) -> Iterator[list[Row]]:
    """The population of ``population`` in batches, one village (the first 12 digits of the area
    code) at a time, in report order: a county's million persons are read in one query and never
    all held at once. ``villages`` (12-digit codes) keeps only the rows of those villages — one
    query for a collection to many villages instead of one per village."""
    model = ENTITY_MODELS[entity]
    # Provenance (every source's claim per element) is the largest column and not needed here.
    qs = model.objects.filter(area_subtree_q("area_code", area.prefix), merged_into_id__isnull=True).defer("provenance")
    qs = qs.filter(_prefilter(entity, clauses, as_of))
    if villages:  # only the stretch of area codes the villages span (half a county, say)
        qs = qs.filter(area_code__gte=min(villages), area_code__lt=max(villages) + ":")
    names = _AreaNames(area)
    if entity != "person":
        rows = _other_rows(entity, qs, as_of)
        if villages is not None:
            rows = [r for r in rows if r.area_code[:12] in villages]
        names.fill(rows)
        if clauses:
            rows = [r for r in rows if all(c.matches(r.values) for c in clauses)]
        rows.sort(key=lambda r: r.sort_key)
        # The order starts with the record's code or number, not its village: one batch.
        if rows:
            yield rows
        return
    # Persons come ordered by area code, so a village's rows arrive together; each village is
    # sorted on its own (the report order starts with the village), which is the order of the whole.
    batch: list[Row] = []
    current = None
    for row in _person_rows(qs, as_of, villages):
        village = row.area_code[:12]
        if village != current:
            if batch:
                yield _finish(batch, names, clauses)
            batch, current = [], village
        batch.append(row)
    if batch:
        finished = _finish(batch, names, clauses)
        if finished:
            yield finished


def _finish(batch: list[Row], names: "_AreaNames", clauses: list[Clause]) -> list[Row]:
    names.fill(batch)
    if clauses:
        batch = [r for r in batch if all(c.matches(r.values) for c in clauses)]
    batch.sort(key=lambda r: r.sort_key)
    return batch


def _person_rows(qs, as_of: date, villages: set[str] | None) -> Iterator[Row]:
    """Each person's row values: its golden values, those of its household where it has none, the
    household's number and head, and the derived elements (``element_values`` and ``add_derived``,
    done inline: at a million rows every call counts)."""
    core = list(CORE_FIELDS["person"].items())
    household_core = list(CORE_FIELDS["household"].items())
    fields = ["id", "area_code", "attributes", *(f for _c, f in core), "household_id", "household__attributes",
              *(f"household__{f}" for _c, f in household_core)]
    n_core = len(core)
    first_household = 3 + n_core + 2
    ages: dict[str, tuple[str, str] | None] = {}  # date of birth → (age, elderly): a county has few distinct dates
    for record in _raw_rows(qs.order_by("area_code").values_list(*fields)):
        area_code = record[1]
        if villages is not None and area_code[:12] not in villages:
            continue
        attributes = record[2]
        values = (loads(attributes) if isinstance(attributes, str) else dict(attributes)) if attributes else {}
        for i in range(n_core):
            value = record[3 + i]
            if value is None or value == "":
                continue
            values[core[i][0]] = value if value.__class__ is str else value.isoformat() if isinstance(
                value, date) else str(value)
        if record[3 + n_core] is not None:  # the household's values where the person has none
            attributes = record[4 + n_core]
            household = ((loads(attributes) if isinstance(attributes, str) else dict(attributes))
                         if attributes and attributes != "{}" else {})
            for i, (code, _field) in enumerate(household_core):
                value = record[first_household + i]
                if value is not None and value != "":
                    household[code] = str(value)
            for code, value in household.items():
                if value and not values.get(code):
                    values[code] = value
            values.setdefault("person.household_no", record[first_household] or "")
            head_name = record[first_household + 1]
            if head_name:
                values.setdefault("person.household_head_name", head_name)
        add_derived(values, as_of, ages)
        order = (area_code[:12], values.get("person.household_no", "") or "\uffff",
                 values.get("person.relation_to_head") != HEAD_RELATION, values.get("person.birth_date", ""), record[0])
        yield Row("person", record[0], values, order, area_code)


def _raw_rows(qs, chunk: int = 5000) -> Iterator[tuple]:
    """The query's rows as the database driver gives them, without Django's per-value converters
    (they cost more than the rest of a row): JSON arrives as text (decoded by the caller), dates
    as ISO text on SQLite and as dates on PostgreSQL. A server-side cursor where the database has one."""
    sql, params = qs.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            records = cursor.fetchmany(chunk)
            if not records:
                return
            yield from records


def _other_rows(entity: str, qs, as_of: date) -> list[Row]:
    rows = []
    if entity == "house":
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
    return rows


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


class _AreaNames:
    """The village (所属村) and villager group (组别) a record's area code names, where no source
    said: the names under the area are read once, others as rows need them."""

    WANTED = {"person": ("person.village", "person.grid"), "house": ("house.village", None)}

    def __init__(self, area: Area):
        self.names: dict[str, tuple[str, int] | None] = {
            code: (name, level) for code, name, level in
            Area.objects.filter(area_subtree_q("code", area.prefix)).values_list("code", "name", "level")}

    def _get(self, code: str) -> tuple[str, int] | None:
        if code not in self.names:
            found = Area.objects.filter(code=code).values_list("name", "level").first()
            self.names[code] = tuple(found) if found else None
        return self.names[code]

    def fill(self, rows: list[Row]) -> None:
        for row in rows:
            village, group = self.WANTED.get(row.entity, (None, None))
            if village and not row.values.get(village) and len(row.area_code) >= 12:
                found = self._get(row.area_code[:12])
                if found and found[1] == AreaLevel.VILLAGE:
                    row.values[village] = found[0]
            if group and not row.values.get(group) and len(row.area_code) > 12:
                found = self._get(row.area_code)
                if found and found[1] == AreaLevel.GROUP:
                    row.values[group] = found[0]


def _fill_missing(values: dict[str, str], more: dict[str, str]) -> None:
    for code, value in more.items():
        if value and not values.get(code):
            values[code] = value


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
