"""Golden values: what Yici believes, derived from what the sources said.

Survivorship per element: the authoritative source's value (the catalog names a department per
element) — unless a person corrected it on Yici after that source last said it (a cadre who has
just seen the house knows better than last year's export; the correction is then sent to that
department's system like any change) — else the most recent observation, else the most frequent
value. Every candidate stays
visible in the entity's provenance (``provenance_of``), so each value can be explained ("公安 said X on 3 May; 民政
said Y; 公安 is authoritative"). Nothing here writes to the database; callers save.
"""

import datetime
import functools
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple, Protocol

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


def newest_first(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates in the order survivorship reads them: the newest observation first (ties: the
    highest record id, the later row)."""
    return sorted(candidates, key=lambda c: (c.observed_at, c.record_id), reverse=True)


def choose(candidates: list[Candidate], authoritative_department: str = "", *, ordered: bool = False) -> Choice:
    """Pick the surviving value among non-empty candidates (the list must not be empty).

    ``ordered``: the candidates are already ``newest_first`` (a county's first run chooses for
    millions of elements; sorting once per record group is cheaper than once per element).
    """
    if not ordered:
        candidates = newest_first(candidates)
    first = candidates[0]
    if len(candidates) == 1:
        return Choice(first.value, first, "only")
    if authoritative_department:
        winner = next((c for c in candidates if c.department == authoritative_department), None)
        if winner is not None:  # the authority's newest statement …
            for c in candidates:  # … unless corrected by hand after it (the newest correction)
                if c.observed_at <= winner.observed_at:
                    break
                if c.system == CORRECTED_BY_HAND:
                    return Choice(c.value, c, "corrected")
            return Choice(winner.value, winner, "authoritative")
    latest = first.observed_at
    recent = [c for c in candidates if c.observed_at == latest]
    if all(c.value == first.value for c in recent):
        return Choice(first.value, first, "most_recent" if len(recent) < len(candidates) else "agreed")
    # Same moment, different values (one file, or files imported together): the most frequent value
    # across all candidates wins; among equals, the newest record.
    counts = Counter(c.value for c in candidates)
    best = max(counts.values())
    winner = next((c for c in recent if counts[c.value] == best), None) or next(
        c for c in candidates if counts[c.value] == best)
    return Choice(winner.value, winner, "most_frequent")


def survive(
    candidates_by_element: dict[str, list[Candidate]], authority: dict[str, str],
    stated_once: dict[str, str] | None = None, *, ordered: bool = False,
) -> tuple[dict[str, str], dict]:
    """Golden values and (stored, compact) provenance for one entity from its candidates per element.

    ``stated_once``: elements that one source alone states, code → value: nothing to choose, so
    callers with many entities need not make candidates for them. ``ordered``: every element's
    candidates are already ``newest_first``.
    """
    values: dict[str, str] = {}
    elements: dict[str, list] = {}
    for code, candidates in candidates_by_element.items():
        present = [c for c in candidates if c.value != ""]
        if not present:
            continue
        if not ordered:
            present = newest_first(present)
        choice = choose(present, authority.get(code, ""), ordered=True)
        values[code] = choice.value
        if len(present) > 1:
            elements[code] = [choice.winner.record_id, choice.rule]
    values.update(stated_once or {})
    return values, ({"v": PROVENANCE_FORMAT, "elements": elements} if elements else single_source_provenance())


# Stored provenance (``RegistryEntity.provenance``) holds only what the records cannot tell: for
# each element that several member records state, the record whose value won and by which rule.
#   {"v": 3, "elements": {code: [winning record id, rule], …}}   ("elements" left out when empty)
# Everything else is read from the golden record's member records, which are never overwritten
# (a golden record's values are recomputed whenever its members change): the candidates of an
# element are the members that state it, a value that one member alone states came from it, and
# a record's system and time are its own. A county's first reconcile writes this for hundreds of
# thousands of golden records, and SQLite's time to write them follows their size: format 2, which
# also kept each candidate's value and each record's system and time, was 380 bytes a person (half
# the table) and format 1, everything per element, ~1.9 KB. ``provenance_of`` reads all three.
PROVENANCE_FORMAT = 3


def single_source_provenance() -> dict:
    """Stored provenance of an entity with nothing to choose: every value stated by one member alone."""
    return {"v": PROVENANCE_FORMAT}


class MemberRecord(Protocol):
    """What ``provenance_of`` reads of a golden record's member (``reconcile.Member`` is one)."""

    id: int
    values: dict[str, str]
    system: str
    observed_at: str


def provenance_of(entity: str, obj, members: Iterable[MemberRecord] | None = None) -> dict[str, dict]:
    """An entity's provenance per element: {code: {"value", "record", "system", "observed_at", "rule",
    "candidates": [{"value", "record", "system", "observed_at"}, …] (when more than one), newest first}}.

    Expands the stored form with the golden record's ``members`` (its actively linked source
    records; read from the database when not given). Provenance stored in format 2 reads from
    itself; stored per element (format 1), it is returned as it is.
    """
    stored = obj.provenance or {}
    if stored.get("v") == 2:
        return _provenance_of_format_2(entity, obj, stored)
    if stored.get("v") != PROVENANCE_FORMAT:
        return stored
    if members is None:
        from yici.registry.reconcile import golden_members  # (reads the database; nothing here does)

        members = golden_members(entity, obj.pk) if obj.pk else []
    members = list(members)
    chosen = stored.get("elements") or {}
    out: dict[str, dict] = {}
    for code, value in element_values(entity, obj).items():
        if code in DERIVED:
            continue
        stating = newest_first([Candidate(m.values[code], m.id, m.system, "", m.observed_at)
                                for m in members if m.values.get(code, "") != ""])
        if code in chosen:
            record_id, rule = chosen[code][0], chosen[code][1]
        elif len(stating) == 1:
            record_id, rule = stating[0].record_id, "only"
        else:  # no member states it (a value set before its records were unlinked): nothing to say
            continue
        winner = next((c for c in stating if c.record_id == record_id), None)
        expanded = {"value": value, "record": record_id, "system": winner.system if winner else "",
                    "observed_at": winner.observed_at if winner else "", "rule": rule}
        if len(stating) > 1:
            expanded["candidates"] = [{"value": c.value, "record": c.record_id, "system": c.system,
                                       "observed_at": c.observed_at} for c in stating]
        out[code] = expanded
    return out


def _provenance_of_format_2(entity: str, obj, stored: dict) -> dict[str, dict]:
    """Format 2 (before format 3): {"v": 2, "sources": {"<record id>": [system, observed_at], …},
    "elements": {code: [winning record id, rule] or [record id, rule, [[value, record id], …]]}},
    "elements" left out when every value came from the one source."""
    sources = stored.get("sources") or {}
    values = element_values(entity, obj)

    def source(record_id) -> tuple[str, str]:
        system, observed_at = sources.get(str(record_id)) or ("", "")
        return system, observed_at

    elements = stored.get("elements")
    if elements is None:
        if len(sources) != 1:
            return {}
        ((record_id, (system, observed_at)),) = sources.items()
        entries = {code: [int(record_id), "only"] for code in values if code not in DERIVED}
    else:
        entries = elements
    out: dict[str, dict] = {}
    for code, entry in entries.items():
        record_id, rule = entry[0], entry[1]
        system, observed_at = source(record_id)
        expanded = {"value": values.get(code, ""), "record": record_id, "system": system,
                    "observed_at": observed_at, "rule": rule}
        if len(entry) > 2:
            expanded["candidates"] = [
                {"value": value, "record": rid, "system": source(rid)[0], "observed_at": source(rid)[1]}
                for value, rid in entry[2]
            ]
        out[code] = expanded
    return out


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
