"""Golden values: what Yici believes, derived from what the sources said.

Survivorship per element: the authoritative source's value (the catalog names a department per
element) — unless a person corrected it on Yici after that source last said it (a cadre who has
just seen the house knows better than last year's export; the correction is then sent to that
department's system like any change) — else the most recent observation, else the most frequent
value. Every candidate stays
visible in the entity's ``provenance``, so each value can be explained ("公安 said X on 3 May; 民政
said Y; 公安 is authoritative"). Nothing here writes to the database; callers save.
"""

import datetime
import functools
from collections import Counter
from typing import NamedTuple

from pypinyin import Style, lazy_pinyin

# Element codes held in indexed columns of the golden entity; all others live in ``attributes``.
CORE_FIELDS: dict[str, dict[str, str]] = {
    "person": {
        "person.name": "name",
        "person.id_number": "id_number",
        "person.gender": "gender",
        "person.birth_date": "birth_date",
        "person.phone": "phone",
        "person.relation_to_head": "relation_to_head",
    },
    "household": {
        "household.household_no": "household_no",
        "household.head_name": "head_name",
        "household.address": "address",
        "household.phone": "phone",
    },
    "house": {
        "house.code": "code",
        "house.address": "address",
        "house.structure": "structure",
        "house.floors": "floors",
    },
    "place": {
        "place.code": "code",
        "place.name": "name",
        "place.type": "place_type",
        "place.address": "address",
        "place.manager_name": "manager_name",
        "place.manager_phone": "manager_phone",
    },
}
_DATE_FIELDS = {"birth_date"}
_INT_FIELDS = {"floors"}


# Computed from other values (age from the birth date …): never stated by a source, never typed.
DERIVED = ("person.age", "person.elderly", "house.is_dangerous")

# ``Candidate.system`` of a value a person typed on a record's own page (source kind "user").
CORRECTED_BY_HAND = "user"


class Candidate(NamedTuple):
    """One source's claim for one element of one entity.

    (A named tuple: a county's first run makes millions, at a third of a frozen dataclass's cost.)
    """

    value: str
    record_id: int
    system: str  # line-system code, or the kind ('user', 'report') when no system
    department: str  # department code of the system ('' when none)
    observed_at: str  # ISO timestamp; ISO strings sort chronologically


class Choice(NamedTuple):
    value: str
    winner: Candidate
    rule: str  # 'authoritative' | 'corrected' | 'most_recent' | 'most_frequent' | 'only'


def choose(candidates: list[Candidate], authoritative_department: str = "") -> Choice:
    """Pick the surviving value among non-empty candidates (the list must not be empty)."""
    if len(candidates) == 1:
        return Choice(candidates[0].value, candidates[0], "only")
    if authoritative_department:
        authoritative = [c for c in candidates if c.department == authoritative_department]
        if authoritative:
            winner = max(authoritative, key=lambda c: (c.observed_at, c.record_id))
            corrections = [c for c in candidates if c.system == CORRECTED_BY_HAND and c.observed_at > winner.observed_at]
            if corrections:
                correction = max(corrections, key=lambda c: (c.observed_at, c.record_id))
                return Choice(correction.value, correction, "corrected")
            return Choice(winner.value, winner, "authoritative")
    latest = max(c.observed_at for c in candidates)
    recent = [c for c in candidates if c.observed_at == latest]
    if len({c.value for c in recent}) == 1:
        winner = max(recent, key=lambda c: c.record_id)
        return Choice(winner.value, winner, "most_recent" if len(recent) < len(candidates) else "agreed")
    # Same moment, different values (one file, or files imported together): the most frequent value
    # across all candidates wins; among equals, the newest record.
    counts = Counter(c.value for c in candidates)
    best = max(counts.values())
    tied = [c for c in recent if counts[c.value] == best] or [c for c in candidates if counts[c.value] == best]
    winner = max(tied, key=lambda c: (c.observed_at, c.record_id))
    return Choice(winner.value, winner, "most_frequent")


def survive(
    candidates_by_element: dict[str, list[Candidate]], authority: dict[str, str]
) -> tuple[dict[str, str], dict[str, dict]]:
    """Golden values and provenance for one entity from its candidates per element."""
    values: dict[str, str] = {}
    provenance: dict[str, dict] = {}
    for code, candidates in candidates_by_element.items():
        present = [c for c in candidates if c.value != ""]
        if not present:
            continue
        choice = choose(present, authority.get(code, ""))
        values[code] = choice.value
        provenance[code] = {
            "value": choice.value,
            "record": choice.winner.record_id,
            "system": choice.winner.system,
            "observed_at": choice.winner.observed_at,
            "rule": choice.rule,
        }
        if len(present) > 1:  # the only candidate is the winner itself: no need to store it twice
            provenance[code]["candidates"] = [
                {"value": c.value, "record": c.record_id, "system": c.system, "observed_at": c.observed_at}
                for c in sorted(present, key=lambda c: (c.observed_at, c.record_id), reverse=True)
            ]
    return values, provenance


def name_initials(name: str) -> str:
    """Pinyin initials for search: 张三丰 → zsf.

    Character by character, cached: a county's names use a few thousand characters, and pypinyin
    costs ~100 µs per call. (Context-dependent readings matter little for initials.)
    """
    return "".join(_initial(ch) for ch in name)[:50]


@functools.lru_cache(maxsize=50_000)
def _initial(ch: str) -> str:
    return "".join(lazy_pinyin(ch, style=Style.FIRST_LETTER)).lower()


@functools.cache
def _max_lengths(model) -> dict[str, int]:
    return {f.attname: f.max_length for f in model._meta.concrete_fields if getattr(f, "max_length", None)}


def apply_values(entity: str, obj, values: dict[str, str], model=None) -> None:
    """Write golden ``values`` (element code → registry value) onto a golden object's columns and attributes.

    ``obj`` is a model instance, or any object with those attributes when ``model`` names its class.
    """
    core = CORE_FIELDS[entity]
    max_lengths = _max_lengths(model or type(obj))
    attributes = {}
    for field in core.values():
        setattr(obj, field, None if field in _DATE_FIELDS | _INT_FIELDS else "")
    for code, value in values.items():
        field = core.get(code)
        if field is None:
            attributes[code] = value
        elif field in _DATE_FIELDS:
            setattr(obj, field, _parse_date(value))
        elif field in _INT_FIELDS:
            setattr(obj, field, int(value) if value.isdigit() else None)
        else:
            setattr(obj, field, value[: max_lengths[field]])
    obj.attributes = attributes
    if entity == "person":
        obj.name_initials = name_initials(obj.name)
        obj.address = values.get("person.current_address") or values.get("person.registered_address", "")
        obj.address = obj.address[:300]


def element_values(entity: str, obj) -> dict[str, str]:
    """All golden values of an object by element code (the inverse of ``apply_values``)."""
    values = dict(obj.attributes or {})
    for code, field in CORE_FIELDS[entity].items():
        value = getattr(obj, field)
        if value is None or value == "":
            continue
        values[code] = value.isoformat() if isinstance(value, datetime.date) else str(value)
    return values


def _parse_date(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None
