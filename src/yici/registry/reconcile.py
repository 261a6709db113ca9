"""Reconciliation: link source records into golden records with stable IDs.

Persons are matched probabilistically (``linkage.predict_person_pairs``, Splink on DuckDB): pairs
above ``AUTO_THRESHOLD`` merge automatically, pairs between ``REVIEW_THRESHOLD`` and it go to the
review queue, the rest stay apart. Houses, households and places carry identifiers of their own
(房屋编号, 户号, 场所编号) and are matched on them. A person's decision in the review queue is
data: every later run honours it.

Golden IDs survive re-runs: a cluster keeps the golden record that most of its members were
already linked to; only records that move get new links (the old ones are ended, not deleted),
and a golden record left empty is marked as merged into its successor.
"""

import contextlib
import datetime
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from yici.catalog.models import DataElement
from yici.common import parallel
from yici.common.collector import collector_paused
from yici.common.db import (
    Row,
    bulk_cache,
    checkpoint_after_commit,
    fast_insert,
    fast_update,
    indexes_built_after,
    json_dumps,
    json_loads,
    reserve_ids,
)
from yici.exchange.models import LineSystem
from yici.exchange.outbox import CREATED, changed_elements, outbox_record_changes, outbox_record_merged
from yici.registry import golden, keycache
from yici.registry.linkage import features
from yici.registry.models import (
    House,
    Household,
    Link,
    LinkMethod,
    Person,
    Place,
    ReviewPair,
    ReviewStatus,
    SourceRecord,
)

AUTO_THRESHOLD = getattr(settings, "YICI_MATCH_AUTO_THRESHOLD", 0.95)
REVIEW_THRESHOLD = getattr(settings, "YICI_MATCH_REVIEW_THRESHOLD", 0.50)

ENTITY_MODELS = {"person": Person, "household": Household, "house": House, "place": Place}
# Columns without a database default that a new golden row needs before its values are computed.
NEW_GOLDEN_DEFAULTS = {
    "person": {"name": "", "name_initials": "", "id_number": "", "gender": "", "phone": "", "relation_to_head": "",
               "address": ""},
    "household": {"household_no": "", "head_name": "", "address": "", "phone": ""},
    "house": {"code": "", "address": "", "structure": ""},
    "place": {"code": "", "name": "", "place_type": "", "address": "", "manager_name": "", "manager_phone": ""},
}
BATCH = 2000

Progress = Callable[[str, int, int], None] | None


@dataclass
class ReconcileResult:
    records: int = 0
    new_records: int = 0
    clusters: int = 0
    created: int = 0
    merged_away: int = 0
    relinked: int = 0
    review_pairs: int = 0
    updated: int = 0
    seconds: float = 0.0
    by_entity: dict = field(default_factory=dict)
    owners_households_seconds: float = 0.0
    touched_persons: set = field(default_factory=set)


class UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for x in list(self.parent):
            out[self.find(x)].append(x)
        return out


def _authority() -> dict[str, str]:
    return dict(DataElement.objects.exclude(authoritative_system="").values_list("code", "authoritative_system"))


# What linkage reads of a record's original texts (``raw``): see ``linkage.features._RAW_FIELDS``.
RAW_FOR_LINKAGE = ("person.id_number", "person.age", "person.current_address")


def _records(entity: str, ids: list[int] | None = None, *, linked_to: int | None = None) -> list[dict]:
    """Every source record of ``entity`` (or those of ``ids``, or those actively linked to the golden
    record ``linked_to``): id, values, the few raw cells linkage reads, area, observation.

    One plain query rather than the ORM: at a million records the per-row converters and decoding
    every ``raw`` dict cost more than the rest of the run. ``observed_at`` is an ISO string,
    ``system`` the line system's code (else the record's kind), ``department`` its department code.
    """
    systems = {pk: (code, dept or "") for pk, code, dept in LineSystem.objects.values_list("id", "code", "department__code")}
    raw_fields = RAW_FOR_LINKAGE if entity == "person" else ()
    raw_columns = "".join(f", {_json_text('raw', code)}" for code in raw_fields)
    table = connection.ops.quote_name(SourceRecord._meta.db_table)
    where, id_params = ("", []) if ids is None else _in_list(ids)
    where = where and f" AND id IN {where}"
    if linked_to is not None:
        links, golden_column = (connection.ops.quote_name(name) for name in (Link._meta.db_table, f"{entity}_id"))
        where += f" AND id IN (SELECT record_id FROM {links} WHERE active = %s AND {golden_column} = %s)"
        id_params = [*id_params, True, linked_to]
    sql = (f'SELECT id, "values", area_code, observed_at, kind, system_id, parent_id{raw_columns} '
           f"FROM {table} WHERE entity = %s{where} ORDER BY id")
    when = _Timestamps()
    loads = json_loads
    out = []
    with connection.cursor() as cursor:
        cursor.execute(sql, [entity, *id_params])
        while chunk := cursor.fetchmany(20_000):
            for row in chunk:
                values = row[1]
                if isinstance(values, str):
                    values = loads(values)
                system, department = systems.get(row[5], (None, ""))
                record = {"id": row[0], "values": values or {}, "area_code": row[2] or "", "observed_at": when(row[3]),
                          "kind": row[4], "system": system or row[4], "department": department, "parent_id": row[6]}
                if raw_fields:
                    record["raw"] = {code: value for code, value in zip(raw_fields, row[7:], strict=True)
                                     if value is not None}
                out.append(record)
    return out


def _json_text(column: str, key: str) -> str:
    """SQL for the text under ``key`` of a JSON column (``key`` is an element code: no quotes in it)."""
    if connection.vendor == "postgresql":
        return f"{column} ->> '{key}'"
    return f"""json_extract({column}, '$."{key}"')"""


class _Timestamps:
    """Database timestamp → the ISO string provenance keeps (``datetime.isoformat`` of the aware value).

    Records of one import share their timestamp, so conversions are remembered.
    """

    def __init__(self):
        self.seen: dict = {}
        field = SourceRecord._meta.get_field("observed_at")
        self.converters = [c for c in connection.ops.get_db_converters(field.cached_col)]

    def __call__(self, value):
        found = self.seen.get(value)
        if found is None:
            converted = value
            for convert in self.converters:
                converted = convert(converted, None, connection)
            if isinstance(converted, str):
                from django.utils.dateparse import parse_datetime

                converted = parse_datetime(converted)
            if timezone.is_naive(converted):
                converted = timezone.make_aware(converted, datetime.UTC)
            found = self.seen[value] = converted.isoformat()
        return found


def _active_links(entity: str) -> dict[int, int]:
    """record id → golden id of its active link."""
    fk = f"{entity}_id"
    return dict(Link.objects.filter(active=True, record__entity=entity).values_list("record_id", fk))


@transaction.atomic
def reconcile(*, entity: str | None = None, full: bool = False, actor=None, progress: Progress = None) -> ReconcileResult:
    """Link every unlinked source record (or, with ``full``, all of them again) into golden records."""
    started = time.perf_counter()
    result = ReconcileResult()
    authority = _authority()
    # Households first: new golden persons are then written straight into the households that
    # household records already made (see ``_Households``).
    entities = [entity] if entity else ["household", "house", "place", "person"]
    households = _Households()
    # Millions of small objects and no reference cycles: the cyclic collector would only rescan them.
    with bulk_cache(), checkpoint_after_commit(), golden_workers(full=full) as workers, collector_paused():
        _reconcile_entities(entity, entities, result, full=full, actor=actor, authority=authority,
                            progress=progress, households=households, workers=workers)
    result.seconds = time.perf_counter() - started
    from yici.audit.services import audit_event

    audit_event(actor=actor, action="update", obj=None, reason="reconcile",
                after={"full": full, **{k: v for k, v in result.by_entity.items()}})
    return result


def _reconcile_entities(entity: str | None, entities: list[str], result: ReconcileResult, *, full: bool, actor,
                        authority, progress: Progress, households: "_Households", workers: parallel.Workers) -> None:
    golden_of: dict[str, dict[int, int] | None] = {}
    for name in entities:
        sub = _reconcile_entity(name, full=full, actor=actor, authority=authority, progress=progress,
                                households=households, workers=workers)
        touched = sub.pop("touched")
        golden_of[name] = sub.pop("golden_of", None)
        if name == "person":
            result.touched_persons = touched
        result.by_entity[name] = sub
        for key in ("records", "new_records", "clusters", "created", "merged_away", "relinked", "review_pairs", "updated"):
            setattr(result, key, getattr(result, key) + sub[key])
    t = time.perf_counter()
    if entity in (None, "person", "house"):
        house_changed = bool(result.by_entity.get("house", {}).get("new_records"))
        _link_house_owners(None if full or house_changed or entity == "house" else result.touched_persons,
                           owner_of_facet=golden_of.get("person"), house_of_record=golden_of.get("house"))
    if entity in (None, "person", "household"):
        households.finish()
        # New persons were written with their household; the others the run touched are checked.
        _link_household_members(None if full and entity == "household" else result.touched_persons - households.inserted)
    result.owners_households_seconds = round(time.perf_counter() - t, 2)


def _reconcile_entity(entity: str, *, full: bool, actor, authority, progress: Progress,
                      households: "_Households | None" = None, workers: parallel.Workers | None = None) -> dict:
    stats = dict(records=0, new_records=0, clusters=0, created=0, merged_away=0, relinked=0, review_pairs=0,
                 updated=0)
    stats["touched"] = set()
    if entity == "person" and not full and (cache := keycache.open_cache()) is not None:
        try:
            return _reconcile_with_keys(stats, cache, actor=actor, authority=authority, progress=progress,
                                        households=households, workers=workers)
        finally:
            cache.close()
    if not full and not _has_unlinked(entity):
        stats["records"] = SourceRecord.objects.filter(entity=entity).count()
        return stats
    t = time.perf_counter()
    records = _records(entity)
    links = _active_links(entity)
    new_ids = {r["id"] for r in records if r["id"] not in links}
    t = _lap(stats, "read", t)
    inputs = None
    if entity == "person" and records:
        inputs, keys = features.key_tables(records)
        keycache.schedule_rebuild(inputs, keys)
        # The same linkage inputs feed the model: a million records are converted once.
        inputs = inputs.append_column("pos", pa.array(range(inputs.num_rows), pa.int64()))
        _lap(stats, "key_table", t)
    return _reconcile_records(entity, stats, records, links, new_ids, full=full, actor=actor,
                              authority=authority, progress=progress, households=households,
                              inputs_of_records=inputs, workers=workers)


def _lap(stats: dict, name: str, since: float) -> float:
    """Add the seconds since ``since`` to ``stats["seconds"][name]``; returns now."""
    now = time.perf_counter()
    seconds = stats.setdefault("seconds", {})
    seconds[name] = round(seconds.get(name, 0.0) + now - since, 2)
    return now


def _has_unlinked(entity: str) -> bool:
    """Whether a record of ``entity`` has no active link.

    By counting: a record has at most one active link, to a golden record of its own entity, so
    fewer active links to the entity's golden records than records of it means one is unlinked.
    Two index counts; looking for a record without a link probed the links once per record
    (a county's 170,000 house records, its households and places: a second of every incremental run).
    """
    records = SourceRecord.objects.filter(entity=entity).count()
    return records > Link.objects.filter(active=True, **{f"{entity}__isnull": False}).count()


def _reconcile_with_keys(stats: dict, cache: keycache.KeyCache, *, actor, authority, progress: Progress,
                         households: "_Households | None" = None, workers: parallel.Workers | None = None) -> dict:
    """An incremental person run that reads only the new records and their candidates (found in
    the key table), and every record of the golden records that the model pairs them with."""
    t = time.perf_counter()
    recent = list(SourceRecord.objects.filter(entity="person", id__gt=cache.max_id - keycache.MARGIN)
                  .values_list("id", flat=True))
    known = {int(i) for (i,) in cache.con.execute(
        "select unique_id from kc.keys where unique_id > ?", [cache.max_id - keycache.MARGIN]).fetchall()}
    unknown = sorted(set(recent) - known)
    linked = _linked_of(unknown)
    new_ids = {i for i in unknown if i not in linked}
    stats["new_records"] = len(new_ids)
    if not new_ids:
        stats["records"] = cache.count + len(unknown)
        return stats
    unknown_records = _records_by_id("person", unknown)
    inputs, keys = features.key_tables(unknown_records)
    is_new = pa.array([r["id"] in new_ids for r in unknown_records], pa.bool_())
    cache.con.register("__straggler_keys", keys.filter(pc.invert(is_new)))
    cache.con.execute("create or replace temp view __existing as "
                      "select * from kc.keys union all by name select * from __straggler_keys")
    candidates, name_counts = features.candidates_from_keys(cache.con, "__existing", keys.filter(is_new))
    # The model compares the new records with the candidates' linkage inputs, kept in the file;
    # clusters are formed from the golden records, with all their members, of the candidates it pairs.
    linkage_input = cache.linkage_rows(candidates, inputs)
    keycache.schedule_append(inputs, keys, cache)
    _lap(stats, "read", t)
    return _reconcile_records("person", stats, unknown_records, linked, new_ids, full=False, actor=actor,
                              authority=authority, progress=progress, name_counts=name_counts,
                              linkage_input=linkage_input, households=households, workers=workers,
                              links_of_paired=lambda paired: _members_of(set(_linked_of(sorted(paired)).values())))


def _in_list(values: list) -> tuple[str, list]:
    """SQL for ``IN`` and its parameters: on PostgreSQL one array, whatever the number of values;
    elsewhere one placeholder a value (keep those lists to ``BATCH``)."""
    if connection.vendor == "postgresql":
        if not values:
            return "(NULL)", []
        array = "bigint[]" if isinstance(values[0], int) else "text[]"  # ids or codes
        return f"(SELECT unnest(%s::{array}))", [list(values)]
    return "({})".format(", ".join(["%s"] * len(values))), list(values)


def _id_batches(ids: list) -> Iterable[list]:
    """``ids`` in the lists ``_in_list`` takes: all at once on PostgreSQL, ``BATCH`` at a time elsewhere."""
    step = (len(ids) or 1) if connection.vendor == "postgresql" else BATCH
    for i in range(0, len(ids), step):
        yield ids[i:i + step]


def _rows_where_in(sql: str, ids: Iterable[int], *params) -> Iterable[tuple]:
    """Rows of ``sql`` (ending in ``IN {}``) for ``ids``: in one query on PostgreSQL (an array),
    a batch at a time elsewhere.

    Plain SQL: the ORM spends milliseconds compiling each filter of 2,000 ids, which an
    incremental run of 10,000 records does a hundred times.
    """
    with connection.cursor() as cursor:
        for batch in _id_batches(list(ids)):
            where, values = _in_list(batch)
            cursor.execute(sql.format(where), [*params, *values])
            while rows := cursor.fetchmany(20_000):
                yield from rows


_ACTIVE_LINKS = f'SELECT record_id, person_id FROM {Link._meta.db_table} WHERE active = %s AND '


def _linked_of(record_ids: list[int]) -> dict[int, int]:
    """record id → person id of its active link, for those of ``record_ids`` that have one."""
    return {rid: gid for rid, gid in _rows_where_in(_ACTIVE_LINKS + "record_id IN {}", record_ids, True)
            if gid is not None}


def _members_of(person_ids: set[int]) -> dict[int, int]:
    """record id → person id for every active link of the given golden persons."""
    return dict(_rows_where_in(_ACTIVE_LINKS + "person_id IN {}", sorted(person_ids), True))


def golden_members(entity: str, golden_id: int) -> list["Member"]:
    """The source records actively linked to a golden record, as survivorship read them."""
    return [Member._make(_member(record)) for record in _records(entity, linked_to=golden_id)]


def _records_by_id(entity: str, ids: list[int]) -> list[dict]:
    out: list[dict] = []
    for batch in _id_batches(ids):
        out.extend(_records(entity, batch))
    return out


def _reconcile_records(entity: str, stats: dict, records: list[dict], links: dict[int, int], new_ids: set[int], *,
                       full: bool, actor, authority, progress: Progress,
                       name_counts: dict[str, int] | None = None, linkage_input=None,
                       households: "_Households | None" = None, inputs_of_records: pa.Table | None = None,
                       workers: parallel.Workers | None = None,
                       links_of_paired: Callable[[set[int]], dict[int, int]] | None = None) -> dict:
    """Link ``records`` into golden records.

    ``records`` are every record of the entity; or, in a run with the key table, the records not
    yet in it, with ``links`` holding their own links, ``linkage_input`` the linkage inputs of the
    new records and the candidates, and ``links_of_paired`` giving, for the candidates that the
    model pairs, every link of their golden records (``inputs_of_records``: the linkage inputs of
    ``records``, when already made). Records whose values are needed later (members of changed
    golden records) are then read.
    """
    by_id = {r["id"]: r for r in records}
    stats.update(records=len(records) if linkage_input is None else linkage_input.num_rows,
                 new_records=len(new_ids))
    if not records or (not new_ids and not full):
        return stats
    if progress:
        progress(f"{entity}: matching", 0, len(records))

    t = time.perf_counter()
    if entity == "person":
        from yici.registry import linkage

        extra = {} if name_counts is None else {"name_counts": name_counts}
        given = linkage_input if linkage_input is not None else inputs_of_records
        # Every record new (a county's first run): every pair is scored, without first looking for
        # the candidates of the new ones.
        every_pair = full or (linkage_input is None and len(new_ids) == len(by_id))
        pairs = linkage.predict_person_pairs(records if given is None else given,
                                             new_ids=None if every_pair else new_ids,
                                             min_probability=REVIEW_THRESHOLD, **extra)
    else:
        pairs = _key_pairs(entity, records, None if full else new_ids)
    del records
    t = _lap(stats, "match", t)

    if links_of_paired is not None:
        # Only clusters that a pair reaches can change: the other candidates' are left unread.
        links = {**links, **links_of_paired({x for a, b, _p in pairs for x in (a, b)} - by_id.keys())}
        t = _lap(stats, "read", t)
    decided_same, decided_apart = _decisions(entity)
    uf = UnionFind()
    for rid in by_id:
        uf.find(rid)
    for rid in links:  # members of the golden records in play that were not read (a run with a key table)
        uf.find(rid)
    if not full:
        # Existing clusters stand; new records join them.
        first_of: dict[int, int] = {}
        for rid, gid in links.items():
            if rid in by_id:
                if gid in first_of:
                    uf.union(first_of[gid], rid)
                else:
                    first_of[gid] = rid
    for a, b in decided_same:
        if a in uf.parent and b in uf.parent:
            uf.union(a, b)
    apart = _ApartIndex(decided_apart)
    review_candidates = []
    for a, b, p in sorted(pairs, key=lambda t: -t[2]):
        if p >= AUTO_THRESHOLD:
            if not apart.blocks(uf, a, b):
                uf.union(a, b)
        elif p >= REVIEW_THRESHOLD:
            review_candidates.append((a, b, p))
    del pairs

    groups = uf.groups()
    stats["clusters"] = len(groups)
    touched, new_goldens, members, write_links = _assign_golden(entity, groups, links, actor, stats, full=full)
    del groups
    if linkage_input is None and entity in ("person", "house"):
        # Every record of the entity was read: where each one now belongs is known here, which
        # spares the house-owner step a join of every link with its record (``_link_house_owners``).
        stats["golden_of"] = _golden_of_records(entity, members, by_id)
    t = _lap(stats, "links", t)
    stats["touched"] = touched
    missing = {rid for g in touched for rid in members[g]} | {x for a, b, _p in review_candidates for x in (a, b)}
    missing = sorted(missing - by_id.keys())
    by_id.update((r["id"], r) for r in _records_by_id(entity, missing))
    stats["updated"] = _write_golden(entity, {g: members[g] for g in touched}, by_id, authority, new_goldens,
                                     progress, households=households if entity == "person" else None,
                                     stats=stats, workers=workers, meanwhile=write_links)
    t = _lap(stats, "golden", t)
    stats["review_pairs"] = _queue_reviews(entity, review_candidates, uf, by_id, apart)
    _lap(stats, "reviews", t)
    return stats


class _ApartIndex:
    """'Keep apart' decisions: two clusters never merge while they hold such a pair."""

    def __init__(self, pairs: Iterable[tuple[int, int]]):
        self.pairs = list(pairs)

    def blocks(self, uf: UnionFind, a: int, b: int) -> bool:
        if not self.pairs:
            return False
        ra, rb = uf.find(a), uf.find(b)
        for x, y in self.pairs:
            rx, ry = uf.find(x), uf.find(y)
            if (rx, ry) in ((ra, rb), (rb, ra)):
                return True
        return False


def _decisions(entity: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    decided = ReviewPair.objects.filter(entity=entity).exclude(status=ReviewStatus.OPEN)
    same, apart = [], []
    for left, right, status in decided.values_list("left_id", "right_id", "status"):
        (same if status == ReviewStatus.MERGED else apart).append((left, right))
    return same, apart


# Identifier elements for entities that carry their own key.
KEY_ELEMENTS = {
    "house": ("house.code",),
    "household": ("household.household_no",),
    "place": ("place.code",),
}
FALLBACK_KEYS = {
    "house": ("house.owner_id_number", "house.address"),
    "household": ("household.head_id_number",),
    "place": ("place.name", "place.address"),
}


def _record_key(entity: str, values: dict) -> tuple | None:
    for code in KEY_ELEMENTS[entity]:
        if values.get(code):
            return (code, values[code])
    fallback = tuple(values.get(code, "") for code in FALLBACK_KEYS[entity])
    return ("fallback",) + fallback if all(fallback) else None


def _key_pairs(entity: str, records: list[dict], new_ids: set[int] | None) -> list[tuple[int, int, float]]:
    by_key: dict[tuple, list[int]] = defaultdict(list)
    for r in records:
        key = _record_key(entity, r["values"])
        if key is not None:
            by_key[key].append(r["id"])
    pairs = []
    for ids in by_key.values():
        if len(ids) > 1 and (new_ids is None or any(i in new_ids for i in ids)):
            pairs.extend((ids[0], other, 1.0) for other in ids[1:])
    return pairs


def _assign_golden(
    entity: str, groups: dict[int, list[int]], links: dict[int, int], actor, stats, *, full: bool = False
) -> tuple[set[int], set[int], dict[int, list[int]], Callable[[], None]]:
    """Give each cluster a golden record (reusing the one most members already have).

    Returns the golden records whose values must be recomputed (those that gained or lost a record;
    every one, with ``full``), the ids reserved for new golden records (rows not written yet: the
    caller writes them with their values), every golden record's members after the run, and the
    function that writes the links (the caller runs it while the golden values are computed,
    before it writes them).
    """
    model = ENTITY_MODELS[entity]
    fk = f"{entity}_id"
    now = timezone.now()
    touched: set[int] = set()
    moves: list[tuple[int, int, int | None, str]] = []  # (record, new golden, old golden, method)
    members_of: dict[int, list[int]] = defaultdict(list)
    clusters_without_golden: list[list[int]] = []
    previous_owner: dict[int, Counter] = defaultdict(Counter)  # old golden → where its records went
    for group in groups.values():
        # (Most groups of a county's first run have no golden record yet: no Counter for them.)
        current = Counter(links[m] for m in group if m in links) if links else None
        if current:
            chosen = min(current, key=lambda g: (-current[g], g))
            members_of[chosen].extend(group)
            moved = False
            for m in group:
                old = links.get(m)
                if old != chosen:
                    moved = True
                    moves.append((m, chosen, old, LinkMethod.AUTO))
                    if old is not None:
                        previous_owner[old][chosen] += 1
            if moved or full:
                touched.add(chosen)
        else:
            clusters_without_golden.append(group)

    # New golden records for new clusters: ids reserved now, rows written with their values.
    new_ids = reserve_ids(model, len(clusters_without_golden))
    for gid, group in zip(new_ids, clusters_without_golden, strict=True):
        touched.add(gid)
        members_of[gid] = group
        method = LinkMethod.NEW if len(group) == 1 else LinkMethod.AUTO
        moves.extend((m, gid, None, method) for m in group)
    stats["created"] = len(new_ids)

    moved_records = [m for m, _new, old, _method in moves if old is not None]
    stats["relinked"] = len(moved_records)
    creator = actor.pk if getattr(actor, "is_authenticated", False) else None

    def write_links() -> None:
        for i in range(0, len(moved_records), BATCH):
            Link.objects.filter(record_id__in=moved_records[i:i + BATCH], active=True).update(active=False, ended_at=now)
        # Written before the golden records they point at (checked at commit): written after
        # them, in a county's first run, each page the links touch is looked up in a write-ahead
        # log grown by gigabytes, which measured slower.
        # In record order: SQLite looks up each new link's record (its foreign key) as it inserts
        # the link, and the records' pages are then read once each, in sequence (a million links
        # in random order into a county's 750 MB of records took 7.0 s in a script, sorted 3.1 s;
        # clusters come nearly in record order, so a first run gains less: 5.7-6.2 -> 5.3 s).
        moves.sort(key=itemgetter(0))
        with indexes_built_after(Link, adding=len(moves)):  # a county's first run: a million links
            fast_insert(Link, ((m, method, new) for m, new, _old, method in moves), ["record_id", "method", fk],
                        sequences=True, constants={"created_by_id": creator, "active": True, "created_at": now})

    # Golden records that lost all their members are merged into where most of them went. Every
    # record of the entity was read, so the members known here are all there are.
    merged_away: dict[int, int] = {}
    for old, destinations in previous_owner.items():
        if old not in members_of:
            merged_away[old] = destinations.most_common(1)[0][0]
            model.objects.filter(pk=old).update(merged_into_id=merged_away[old])
            stats["merged_away"] += 1
        else:
            touched.add(old)
    outbox_record_merged(entity=entity, merged=merged_away)  # same transaction: share once
    return touched, set(new_ids), members_of, write_links


def recompute_golden(entity: str, golden_ids: set[int]) -> int:
    """Recompute golden values after links changed outside a reconcile run (review decisions, edits)."""
    return _recompute(entity, set(golden_ids), _authority(), None)


def _recompute(entity: str, golden_ids: set[int], authority: dict[str, str], progress: Progress) -> int:
    """Recompute golden values and provenance of the given golden records from their active links."""
    if not golden_ids:
        return 0
    fk = f"{entity}_id"
    ids = sorted(golden_ids)
    members: dict[int, list[int]] = {gid: [] for gid in ids}
    for start in range(0, len(ids), BATCH):
        for gid, rid in Link.objects.filter(active=True, **{f"{fk}__in": ids[start:start + BATCH]}).values_list(fk, "record_id"):
            members[gid].append(rid)
    record_ids = sorted(rid for group in members.values() for rid in group)
    by_id = {r["id"]: r for r in _records_by_id(entity, record_ids)}
    return _write_golden(entity, members, by_id, authority, set(), progress)


# From this many records added since the last run (every record, with ``full``), golden values
# are computed by a worker process (``golden_workers``) while this one writes them: on a
# county's first run, two cores instead of one.
PARALLEL_GOLDEN_FROM = 50_000
GOLDEN_CHUNK = BATCH * 5  # golden records a chunk of work
# Chunks handed to the golden worker before this process writes the links: about the seconds
# that a county's first run took to write a million links and rebuild their indexes when this was
# set (~11 s, a chunk ~0.5 s of the worker's). They now take ~5 s; the number was not tuned again.
LINKS_AHEAD = 20
# Columns that ``_golden_chunk`` gives as JSON text.
ENCODED = ("attributes", "provenance")


def golden_workers(*, full: bool) -> parallel.Workers:
    """A worker process for the golden values of this run, started now if the run is large.

    A new interpreter rather than a fork: this process may hold a great deal already (an upload
    task, the demo and the benchmark import files first), and a forked worker keeps every page of
    that alive once this process reuses it (a county's first run measured 4.1 GB in all, against
    3.5 GB for this process alone). Started now, so that it sets up while the records are read.
    Whether the run is large is estimated before anything is read, from two bounded scans of
    primary keys (counting a county's records or links took a second or more each, the time an
    incremental run has for everything): with ``full``, whether there are as many records as
    ``PARALLEL_GOLDEN_FROM``; otherwise whether as many were added after the newest record that
    has ever been linked (imports add records in id order).
    """
    after = 0 if full else Link.objects.aggregate(last=Max("record_id"))["last"] or 0
    large = SourceRecord.objects.filter(id__gt=after)[:PARALLEL_GOLDEN_FROM].count() >= PARALLEL_GOLDEN_FROM
    # One core is left to this process, which writes what the workers computed: on two cores,
    # the golden step of a county's first run took 66 s with two workers, 59 s with one.
    return parallel.Workers(_golden_chunk, None, parallel=large, spare=1, fresh=True)


def _golden_columns(entity: str) -> tuple[list[str], list[str]]:
    """(the columns a new golden row is inserted with, in the order ``_golden_chunk`` gives them;
    the columns every update sets)."""
    extra_fields = ["attributes", "provenance", "area_code", "version", "updated_at"]
    if entity == "person":
        extra_fields += ["name_initials", "address"]
    # A new golden record's version, times and merge are those of every row the run inserts.
    insert_fields = ["id", *golden.CORE_FIELDS[entity].values(),
                     *(f for f in extra_fields if f not in ("version", "updated_at"))]
    always = [f for f in extra_fields if f not in ("area_code", "name_initials")]
    return insert_fields, always


def _golden_chunk(_context, chunk: tuple) -> tuple[list, list, list]:
    """Golden values, provenance and area of a chunk of golden records from their members' values
    (in a worker process of ``golden_workers``, or here).

    ``chunk`` is (entity, authority, now, items), an item (golden id, current version, current
    area, current values or None for a new golden record, its members as ``_member`` tuples). Returns
    (inserts, updates, changes): for new golden records (the row in ``_golden_columns`` order, with
    the JSON columns as text; for persons, (id, 户号, relation to head, area, name) for its
    household, else None); for the others (the columns whose value changed, the id, every column
    to set by name); and (id, new version, changed element codes: ``CREATED`` for a new one) of each.
    """
    entity, authority, now, items = chunk
    model = ENTITY_MODELS[entity]
    core = golden.CORE_FIELDS[entity]
    insert_fields, always = _golden_columns(entity)
    inserts, updates, changes = [], [], []
    for gid, version, area_code, old_values, member_tuples in items:
        group = list(map(Member._make, member_tuples))
        values, provenance = _survive(group, authority)
        obj = Row(gid, version=version + 1, area_code=area_code, provenance=provenance, updated_at=now)
        golden.apply_values(entity, obj, values, model)
        if len(group) == 1:
            obj.area_code = group[0].area_code or obj.area_code
        elif areas := [(r.observed_at, r.area_code) for r in group if r.area_code]:
            obj.area_code = _most_specific_recent_area(areas)
        row = obj.__dict__
        if old_values is None:  # every value is new
            changes.append((gid, obj.version, [CREATED] if values else []))
            household = None
            if entity == "person":
                household = (gid, obj.attributes.get("person.household_no", ""), obj.relation_to_head,
                             obj.area_code, obj.name)
            row["attributes"], row["provenance"] = json_dumps(obj.attributes), json_dumps(provenance)
            row["id"] = gid
            inserts.append((tuple(row[f] for f in insert_fields), household))
            continue
        # Compared as stored (a column may hold a value shortened to its length).
        changed = changed_elements(old_values, golden.element_values(entity, obj))
        changes.append((gid, obj.version, sorted(changed)))
        # Only the indexed columns whose value changed are set: setting one rewrites its index entry.
        columns = tuple(field for code, field in core.items() if code in changed)
        if entity == "person" and "person.name" in changed:
            columns += ("name_initials",)
        if obj.area_code != area_code:
            columns += ("area_code",)
        row["attributes"], row["provenance"] = json_dumps(obj.attributes), json_dumps(provenance)
        updates.append((columns, gid, {f: row[f] for f in (*columns, *always)}))
    return inserts, updates, changes


class Member(NamedTuple):
    """What survivorship reads of a member record (fewer bytes to send to a worker than the record)."""

    id: int
    values: dict[str, str]
    system: str
    department: str
    observed_at: str
    area_code: str


def _member(record: dict) -> tuple:
    """A ``Member``'s fields as a plain tuple, to send to a worker: a named tuple is pickled through
    a Python call of its own (``__getnewargs__``), which for a county's first run took this
    process seconds of the core it writes with."""
    return (record["id"], record["values"], record["system"], record["department"], record["observed_at"],
            record["area_code"])


def _write_golden(entity: str, members: dict[int, list[int]], by_id: dict[int, dict], authority: dict[str, str],
                  new_goldens: set[int], progress: Progress, households: "_Households | None" = None,
                  stats: dict | None = None, workers: parallel.Workers | None = None,
                  meanwhile: Callable[[], None] | None = None) -> int:
    """Compute golden values, provenance and area of golden records from their members' values and
    write them: new golden records (``new_goldens``) are inserted, the others updated; an outbox
    event for each one whose values changed, in the same transaction. New golden persons are
    written with their household when ``households`` is given. The values are computed by
    ``workers`` when given (and started), else here.

    ``meanwhile``: the writing of the links, run before any golden record is written (while
    ``workers`` compute the first values: on a county's first run, a million links take seconds).
    """
    if not members:
        if meanwhile is not None:
            meanwhile()
        return 0
    model = ENTITY_MODELS[entity]
    insert_fields, always = _golden_columns(entity)
    if households is not None:
        insert_fields = [*insert_fields, "household_id"]
    ids = sorted(members)
    updated = 0
    laps = {} if stats is None else stats  # where the time goes: values, rows, outbox

    def chunks():
        for start in range(0, len(ids), GOLDEN_CHUNK):
            chunk = ids[start:start + GOLDEN_CHUNK]
            old_ids = [gid for gid in chunk if gid not in new_goldens]
            before: dict[int, tuple[int, str, dict]] = {}
            for pk, version, area_code, old in _golden_rows(entity, old_ids):
                before[pk] = (version, area_code, golden.element_values(entity, old))
            items = []
            for gid in chunk:
                if gid in new_goldens:
                    version, area_code, old_values = 0, "", None
                elif gid in before:
                    version, area_code, old_values = before[gid]
                else:
                    continue  # deleted meanwhile
                items.append((gid, version, area_code, old_values,
                              [_member(by_id[rid]) for rid in members[gid] if rid in by_id]))
            yield entity, authority, timezone.now(), items

    def write_links() -> None:
        nonlocal t
        t = _lap(laps, "golden: values", t)
        meanwhile()
        t = _lap(laps, "golden: links", t)

    results = (workers or parallel.Workers(_golden_chunk, None, parallel=False)).map(
        chunks(), meanwhile=write_links if meanwhile is not None else None, ahead=LINKS_AHEAD)
    done = 0
    # A county's first run: the indexes of a table it fills are built once at the end (but the
    # household key's: households are inserted meanwhile, each checked against it).
    keep = ["household"] if entity == "person" else []
    with indexes_built_after(model, adding=len(new_goldens), keep=keep) if new_goldens else contextlib.nullcontext():
        t = time.perf_counter()  # (the links are written within the first step of the loop)
        for inserts, updates, changes in results:
            t = _lap(laps, "golden: values", t)  # here or, with workers, waiting for them
            rows = [row for row, _household in inserts]
            if households is not None and inserts:
                household_ids = households.assign([household for _row, household in inserts], expected=len(new_goldens))
                rows = [(*row, hid) for row, hid in zip(rows, household_ids, strict=True)]
            now = timezone.now()
            fast_insert(model, rows, insert_fields, sequences=True, encoded=ENCODED,
                        constants={"version": 1, "created_at": now, "updated_at": now, "merged_into_id": None})
            by_columns: dict[tuple, list[Row]] = defaultdict(list)
            for columns, gid, fields in updates:
                by_columns[columns].append(Row(gid, **fields))
            for columns, objs in by_columns.items():
                fast_update(model, objs, [*columns, *always], encoded=ENCODED)
            t = _lap(laps, "golden: rows", t)
            outbox_record_changes(entity=entity, changes=changes)  # same transaction: share once
            updated += len(inserts) + len(updates)
            done += len(changes)
            if progress:
                progress(f"{entity}: golden values", done, len(ids))
            t = _lap(laps, "golden: outbox", t)
        t = time.perf_counter()
    _lap(laps, "golden: indexes", t)
    return updated


def _golden_rows(entity: str, ids: list[int]) -> Iterable[tuple[int, int, str, Row]]:
    """(id, version, area code, golden values as a ``Row`` for ``golden.element_values``) of golden records."""
    model = ENTITY_MODELS[entity]
    fields = [model._meta.get_field(name) for name in golden.CORE_FIELDS[entity].values()]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"SELECT id, version, area_code, attributes, {columns} FROM {model._meta.db_table} WHERE id IN {{}}"
    for pk, version, area_code, attributes, *values in _rows_where_in(sql, ids):
        if isinstance(attributes, str):
            attributes = json_loads(attributes)
        yield pk, version, area_code, Row(pk, attributes=attributes, **{f.attname: v for f, v in zip(fields, values, strict=True)})


def _survive(group: list[Member], authority: dict[str, str]) -> tuple[dict[str, str], dict[str, dict]]:
    """``golden.survive`` over the members' values; a record alone is its own golden record."""
    if len(group) == 1:
        r = group[0]
        values = {code: value for code, value in r.values.items() if value != ""}
        return values, golden.single_source_provenance()
    # Several records: an element that only one of them states needs no choosing (the most common
    # case), so candidates are made only for the others, newest first as survivorship reads them
    # (the group sorted once rather than each element's candidates).
    stated: dict[str, list[Member]] = {}
    for r in sorted(group, key=lambda r: (r.observed_at, r.id), reverse=True):
        for code, value in r.values.items():
            if value != "":
                if code in stated:
                    stated[code].append(r)
                else:
                    stated[code] = [r]
    contested = {code: [golden.Candidate(r.values[code], r.id, r.system, r.department, r.observed_at) for r in rs]
                 for code, rs in stated.items() if len(rs) > 1}
    once = {code: rs[0].values[code] for code, rs in stated.items() if len(rs) == 1}
    return golden.survive(contested, authority, stated_once=once, ordered=True)


def _most_specific_recent_area(observations: list[tuple[str, str]]) -> str:
    """The area of the newest observation; among equally new ones the most specific (longest) code."""
    latest = max(at for at, _ in observations)
    return max((code for at, code in observations if at == latest), key=lambda c: (len(c.rstrip("0")), c))


def _queue_reviews(entity: str, candidates: list[tuple[int, int, float]], uf: UnionFind, by_id: dict,
                   apart: "_ApartIndex | None" = None) -> int:
    """Open one review pair for each two clusters that uncertain pairs join: the surest of those
    pairs, once. A record that resembles three records of one person is one question for a
    person to answer, not three; two clusters a person already kept apart are not asked again."""
    best: dict[tuple[int, int], tuple[float, int, int]] = {}  # (cluster, cluster) → (p, left, right)
    for a, b, p in candidates:
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        key = (ra, rb) if ra < rb else (rb, ra)
        left, right = (a, b) if a < b else (b, a)
        # The surest pair; among equally sure ones the lowest ids, so a re-run picks the same pair.
        if key not in best or (-p, left, right) < (-best[key][0], best[key][1], best[key][2]):
            best[key] = (p, left, right)
    if not best:
        return 0
    # Questions already asked (open or answered) about the same two clusters, through any of
    # their records that this run's uncertain pairs name.
    involved = sorted({x for a, b, _p in candidates for x in (a, b)})
    asked: set[tuple[int, int]] = set()
    for i in range(0, len(involved), BATCH):
        chunk = involved[i:i + BATCH]
        for x, y in ReviewPair.objects.filter(Q(left_id__in=chunk) | Q(right_id__in=chunk), entity=entity).values_list(
                "left_id", "right_id"):
            if x in uf.parent and y in uf.parent:
                rx, ry = uf.find(x), uf.find(y)
                asked.add((rx, ry) if rx < ry else (ry, rx))
    new = [
        ReviewPair(left_id=left, right_id=right, entity=entity, probability=p,
                   area_code=by_id[left]["area_code"] or by_id[right]["area_code"])
        for key, (p, left, right) in best.items()
        if key not in asked and (apart is None or not apart.blocks(uf, left, right))
    ]
    ReviewPair.objects.bulk_create(new, batch_size=BATCH)
    return len(new)


def _golden_of_records(entity: str, members: dict[int, list[int]], by_id: dict[int, dict]) -> dict[int, int]:
    """For houses: record id → golden house. For persons: owner facet's house record id → golden person."""
    if entity == "house":
        return {rid: gid for gid, rids in members.items() for rid in rids}
    out = {}
    for gid, rids in members.items():
        for rid in rids:
            record = by_id.get(rid)
            if record is not None and record["parent_id"] is not None:
                out[record["parent_id"]] = gid
    return out


def _link_house_owners(person_ids: set[int] | None = None, *, owner_of_facet: dict[int, int] | None = None,
                       house_of_record: dict[int, int] | None = None) -> None:
    """house.owner ← the golden person of the house row's owner facet (only where it changed).

    ``person_ids`` limits the work to the houses whose owner facets are linked to those persons
    (an incremental run that touched no house); None: every house. With ``owner_of_facet`` (house
    record → golden person of its owner facet) and ``house_of_record`` (house record → golden
    house), both complete because the run read every record, every house is done without reading
    the links.

    Scans joined in Python rather than one ``IN (…)`` list, which a county's worth of houses
    would push past SQLite's limit on query parameters.
    """
    # A record with a parent is an owner facet; a link with a house is a house record's. (Filtering
    # on the record's entity as well lets SQLite scan every person record instead of the index.)
    facets = Link.objects.filter(active=True, person__isnull=False, record__parent__isnull=False)
    house_links = Link.objects.filter(active=True, house__isnull=False)
    if person_ids is not None:
        if not person_ids:
            return
        ids = sorted(person_ids)
        parents: set[int] = set()
        for i in range(0, len(ids), BATCH):
            parents.update(facets.filter(person_id__in=ids[i:i + BATCH]).values_list("record__parent_id", flat=True))
        if not parents:
            return
        houses: set[int] = set()
        parent_ids = sorted(parents)
        for i in range(0, len(parent_ids), BATCH):
            houses.update(house_links.filter(record_id__in=parent_ids[i:i + BATCH]).values_list("house_id", flat=True))
        house_ids = sorted(houses)
        house_rows: list[tuple[int, int]] = []
        for i in range(0, len(house_ids), BATCH):
            house_rows.extend(house_links.filter(house_id__in=house_ids[i:i + BATCH]).values_list("record_id", "house_id"))
        record_ids = sorted(r for r, _h in house_rows)
        owner_of: dict[int, int] = {}
        for i in range(0, len(record_ids), BATCH):
            owner_of.update(facets.filter(record__parent_id__in=record_ids[i:i + BATCH])
                            .values_list("record__parent_id", "person_id"))
        current = {}
        for i in range(0, len(house_ids), BATCH):
            current.update(House.objects.filter(pk__in=house_ids[i:i + BATCH], merged_into_id__isnull=True)
                           .values_list("id", "owner_id"))
    elif owner_of_facet is not None and house_of_record is not None:
        owner_of, house_rows = owner_of_facet, list(house_of_record.items())
        current = dict(House.objects.filter(merged_into_id__isnull=True).values_list("id", "owner_id"))
    else:
        owner_of = dict(facets.values_list("record__parent_id", "person_id"))
        house_rows = list(house_links.values_list("record_id", "house_id"))
        current = dict(House.objects.filter(merged_into_id__isnull=True).values_list("id", "owner_id"))
    by_house: dict[int, Counter] = defaultdict(Counter)
    for record_id, house_id in house_rows:
        if record_id in owner_of:
            by_house[house_id][owner_of[record_id]] += 1
    changed = []
    for pk, owners in by_house.items():
        owner = owners.most_common(1)[0][0]
        if current.get(pk, owner) != owner:
            changed.append(Row(pk, owner_id=owner))
    fast_update(House, changed, ["owner"])


def _new_household(now) -> dict:
    """The columns of a household made from its members' 户号 that are the same for every one."""
    return {"address": "", "phone": "", "attributes": {}, "provenance": {}, "created_at": now, "updated_at": now,
            "version": 1}


class _Households:
    """Households of new golden persons, found or made while the persons are inserted.

    A new golden person is written with its household (by its 户号, ``person.household_no``)
    rather than updated afterwards: in a county's first run that update rewrote some 600,000 wide
    person rows, most of the households step. The head of a household made here is chosen as
    ``_link_household_members`` chooses it (the first member marked 户主 by area, name and id,
    else the first member), over all members written in the run; ``finish`` writes it where the
    head written with the first members was not the one.
    """

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.all_loaded = False
        self.inserted: set[int] = set()  # new golden persons written with their household
        self.written: dict[int, tuple[str, str]] = {}  # household made here → (head name, area) written
        self.heads: dict[int, tuple] = {}  # household made here → best (not 户主, area, name, id) so far

    def assign(self, people: list[tuple[int, str, str, str, str]], *, expected: int) -> list[int | None]:
        """The household of each new golden person, given as (id, 户号, relation to head, area,
        name): found, or made and inserted here; None for a person without a 户号."""
        by_number: dict[str, list[tuple]] = defaultdict(list)
        for person in people:
            self.inserted.add(person[0])
            if person[1]:
                by_number[person[1]].append(person)
        if not by_number:
            return [None] * len(people)
        unknown = [n for n in by_number if n not in self.ids]
        if unknown and not self.all_loaded:
            current = Household.objects.filter(merged_into_id__isnull=True)
            if expected >= 20_000:  # a large run: every household once, rather than per chunk
                self.ids.update(current.values_list("household_no", "id"))
                self.all_loaded = True
            else:
                for i in range(0, len(unknown), BATCH):
                    self.ids.update(current.filter(household_no__in=unknown[i:i + BATCH]).values_list("household_no", "id"))
        missing = [n for n in by_number if n not in self.ids]
        new_numbers = set(missing)
        now = timezone.now()
        made = []
        for hid, number in zip(reserve_ids(Household, len(missing)), missing, strict=True):
            made.append({"id": hid, "household_no": number, "head_name": "", "area_code": ""})
            self.ids[number] = hid
        for number, members in by_number.items():
            hid = self.ids[number]
            if hid in self.heads or number in new_numbers:
                for pid, _number, relation, area, name in members:
                    key = (relation != "户主", area, name, pid)
                    if hid not in self.heads or key < self.heads[hid]:
                        self.heads[hid] = key
        for row in made:
            _not_head, area, name, _id = self.heads[row["id"]]
            row["head_name"], row["area_code"] = name, area
            self.written[row["id"]] = (name, area)
        if made:
            fast_insert(Household, made, list(made[0]), constants=_new_household(now))
        return [self.ids[number] if number else None for _pid, number, *_rest in people]

    def finish(self) -> None:
        """Write the head of each household made here whose head was not among its first members."""
        fast_update(Household, [Row(hid, head_name=name, area_code=area)
                                for hid, (_not_head, area, name, _id) in self.heads.items()
                                if self.written.get(hid) != (name, area)], ["head_name", "area_code"])


def _link_household_members(person_ids: set[int] | None = None) -> None:
    """Group golden persons into households by their 户号 (person.household_no).

    ``person_ids`` limits the work to the persons a run touched (None: everyone).
    """
    if person_ids is not None and not person_ids:
        return
    by_no: dict[str, list] = defaultdict(list)
    if person_ids is not None and len(person_ids) < 20_000:
        # The persons a run touched, in plain SQL (the ORM spends longer preparing thousands of ids
        # than the database spends finding them).
        number = _json_text("attributes", "person.household_no")
        sql = (f"SELECT id, {number}, area_code, relation_to_head, name, household_id FROM {Person._meta.db_table} "
               "WHERE merged_into_id IS NULL AND id IN {}")
        rows: Iterable[tuple] = _rows_where_in(sql, sorted(person_ids))
    else:
        # Only the one attribute, extracted by the database: decoding every person's attributes costs more.
        hh_no = Cast(KeyTextTransform("person.household_no", "attributes"), TextField())
        rows = (Person.objects.filter(merged_into_id__isnull=True).annotate(hh_no=hh_no)
                .values_list("id", "hh_no", "area_code", "relation_to_head", "name", "household_id")
                .iterator(chunk_size=5000))
    for pid, number, area, relation, name, hh in rows:
        if number:
            by_no[number].append((pid, area, relation, name, hh))
    if not by_no:
        return
    numbers = sorted(by_no)
    existing: dict[str, int] = {}
    if person_ids is None or len(numbers) >= 20_000:
        existing.update(Household.objects.filter(merged_into_id__isnull=True).values_list("household_no", "id"))
    else:
        sql = (f"SELECT household_no, id FROM {Household._meta.db_table} "
               "WHERE merged_into_id IS NULL AND household_no IN {}")
        existing.update(_rows_where_in(sql, numbers))
    missing = [number for number in by_no if number not in existing]
    ids = reserve_ids(Household, len(missing))
    now = timezone.now()
    rows = []
    for hid, number in zip(ids, missing, strict=True):
        members = by_no[number]
        head = next((m for m in members if m[2] == "户主"), members[0])
        rows.append({"id": hid, "household_no": number, "head_name": head[3], "area_code": head[1]})
        existing[number] = hid
    fast_insert(Household, rows, ["id", "household_no", "head_name", "area_code"], constants=_new_household(now))
    changed = []
    for number, members in by_no.items():
        hid = existing[number]
        for pid, _area, _rel, _name, hh in members:
            if hh != hid:
                changed.append(Row(pid, household_id=hid))
    fast_update(Person, changed, ["household"])


def export_clusters() -> Iterable[tuple[str, str, int, int]]:
    """(system, file, row_number, cluster id) for every imported person row (house rows: the owner)."""
    rows = (
        Link.objects.filter(active=True, record__entity="person", record__batch__isnull=False)
        .values_list("record__system__code", "record__batch__filename", "record__row_number", "person_id")
        .order_by("record__batch_id", "record__row_number")
    )
    yield from rows

