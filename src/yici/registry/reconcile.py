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

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from yici.catalog.models import DataElement
from yici.common.db import Row, fast_insert, fast_update, reserve_ids
from yici.exchange.outbox import changed_elements, outbox_record_changes
from yici.registry import golden
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


def _records(entity: str) -> list[dict]:
    return list(
        SourceRecord.objects.filter(entity=entity)
        .values("id", "values", "raw", "area_code", "observed_at", "kind", "system__code", "system__department__code",
                "parent_id")
        .order_by("id")
    )


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
    entities = [entity] if entity else ["person", "house", "place", "household"]
    for name in entities:
        sub = _reconcile_entity(name, full=full, actor=actor, authority=authority, progress=progress)
        touched = sub.pop("touched")
        if name == "person":
            result.touched_persons = touched
        result.by_entity[name] = sub
        for key in ("records", "new_records", "clusters", "created", "merged_away", "relinked", "review_pairs", "updated"):
            setattr(result, key, getattr(result, key) + sub[key])
    if entity in (None, "person", "house"):
        _link_house_owners()
    if entity in (None, "person", "household"):
        _link_household_members(None if full else result.touched_persons)
    result.seconds = time.perf_counter() - started
    from yici.audit.services import audit_event

    audit_event(actor=actor, action="update", obj=None, reason="reconcile",
                after={"full": full, **{k: v for k, v in result.by_entity.items()}})
    return result


def _reconcile_entity(entity: str, *, full: bool, actor, authority, progress: Progress) -> dict:
    records = _records(entity)
    by_id = {r["id"]: r for r in records}
    links = _active_links(entity)
    new_ids = {r["id"] for r in records if r["id"] not in links}
    stats = dict(records=len(records), new_records=len(new_ids), clusters=0, created=0, merged_away=0,
                 relinked=0, review_pairs=0, updated=0)
    stats["touched"] = set()
    if not records or (not new_ids and not full):
        return stats
    if progress:
        progress(f"{entity}: matching", 0, len(records))

    decided_same, decided_apart = _decisions(entity)
    uf = UnionFind()
    for rid in by_id:
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
        if a in by_id and b in by_id:
            uf.union(a, b)

    if entity == "person":
        from yici.registry.linkage import predict_person_pairs

        pairs = predict_person_pairs(records, new_ids=None if full else new_ids, min_probability=REVIEW_THRESHOLD)
    else:
        pairs = _key_pairs(entity, records, None if full else new_ids)

    apart = _ApartIndex(decided_apart)
    review_candidates = []
    for a, b, p in sorted(pairs, key=lambda t: -t[2]):
        if p >= AUTO_THRESHOLD:
            if not apart.blocks(uf, a, b):
                uf.union(a, b)
        elif p >= REVIEW_THRESHOLD:
            review_candidates.append((a, b, p))

    groups = uf.groups()
    stats["clusters"] = len(groups)
    touched = _assign_golden(entity, groups, by_id, links, actor, stats, full=full)
    stats["touched"] = touched
    stats["updated"] = _recompute(entity, touched, authority, progress)
    stats["review_pairs"] = _queue_reviews(entity, review_candidates, uf, by_id)
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
    entity: str, groups: dict[int, list[int]], by_id: dict, links: dict[int, int], actor, stats, *, full: bool = False
) -> set[int]:
    """Give each cluster a golden record (reusing the one most members already have).

    Returns the golden records whose values must be recomputed: those that gained or lost a record
    (every one, with ``full``).
    """
    model = ENTITY_MODELS[entity]
    fk = f"{entity}_id"
    now = timezone.now()
    touched: set[int] = set()
    moves: list[tuple[int, int, int | None, str]] = []  # (record, new golden, old golden, method)
    clusters_without_golden: list[list[int]] = []
    previous_owner: dict[int, Counter] = defaultdict(Counter)  # old golden → where its records went
    for members in groups.values():
        current = Counter(links[m] for m in members if m in links)
        if current:
            chosen = min(current, key=lambda g: (-current[g], g))
            moved = False
            for m in members:
                old = links.get(m)
                if old != chosen:
                    moved = True
                    moves.append((m, chosen, old, LinkMethod.AUTO))
                    if old is not None:
                        previous_owner[old][chosen] += 1
            if moved or full:
                touched.add(chosen)
        else:
            clusters_without_golden.append(members)

    # New golden records for new clusters: ids reserved, rows written in bulk.
    new_ids = reserve_ids(model, len(clusters_without_golden))
    now_ts = timezone.now()
    fast_insert(
        model,
        ({"id": gid, "area_code": _cluster_area(members, by_id), "attributes": {}, "provenance": {},
          "created_at": now_ts, "updated_at": now_ts, "version": 0, **NEW_GOLDEN_DEFAULTS[entity]}
         for gid, members in zip(new_ids, clusters_without_golden, strict=True)),
        ["id", "area_code", "attributes", "provenance", "created_at", "updated_at", "version",
         *NEW_GOLDEN_DEFAULTS[entity]],
    )
    for gid, members in zip(new_ids, clusters_without_golden, strict=True):
        touched.add(gid)
        method = LinkMethod.NEW if len(members) == 1 else LinkMethod.AUTO
        moves.extend((m, gid, None, method) for m in members)
    stats["created"] = len(new_ids)

    moved_records = [m for m, _new, old, _method in moves if old is not None]
    if moved_records:
        for i in range(0, len(moved_records), BATCH):
            Link.objects.filter(record_id__in=moved_records[i:i + BATCH], active=True).update(active=False, ended_at=now)
        stats["relinked"] = len(moved_records)
    creator = actor.pk if getattr(actor, "is_authenticated", False) else None
    fast_insert(
        Link,
        ({"record_id": m, "method": method, "created_by_id": creator, fk: new, "active": True, "created_at": now}
         for m, new, _old, method in moves),
        ["record_id", "method", "created_by_id", fk, "active", "created_at"],
    )

    # Golden records that lost all their members are merged into where most of them went.
    still_linked = set(Link.objects.filter(active=True, **{f"{fk}__in": list(previous_owner)}).values_list(fk, flat=True))
    for old, destinations in previous_owner.items():
        if old not in still_linked:
            model.objects.filter(pk=old).update(merged_into_id=destinations.most_common(1)[0][0])
            stats["merged_away"] += 1
        else:
            touched.add(old)
    return touched


def _cluster_area(members: list[int], by_id: dict) -> str:
    codes = Counter(by_id[m]["area_code"] for m in members if by_id[m]["area_code"])
    return codes.most_common(1)[0][0] if codes else ""


def recompute_golden(entity: str, golden_ids: set[int]) -> int:
    """Recompute golden values after links changed outside a reconcile run (review decisions, edits)."""
    return _recompute(entity, set(golden_ids), _authority(), None)


def _recompute(entity: str, golden_ids: set[int], authority: dict[str, str], progress: Progress) -> int:
    """Recompute golden values and provenance of the given golden records from their active links."""
    if not golden_ids:
        return 0
    model = ENTITY_MODELS[entity]
    fk = f"{entity}_id"
    ids = sorted(golden_ids)
    updated = 0
    core_fields = list(golden.CORE_FIELDS[entity].values())
    extra_fields = ["attributes", "provenance", "area_code", "version", "updated_at"]
    if entity == "person":
        extra_fields += ["name_initials", "address"]
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = (
            Link.objects.filter(active=True, **{f"{fk}__in": chunk})
            .values_list(fk, "record_id", "record__values", "record__observed_at", "record__kind",
                         "record__system__code", "record__system__department__code", "record__area_code")
        )
        per_golden: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        areas: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for gid, rid, values, observed, kind, system, dept, area in rows:
            at = observed.isoformat()
            for code, value in values.items():
                per_golden[gid][code].append(golden.Candidate(value, rid, system or kind, dept or "", at))
            if area:
                areas[gid].append((at, area))
        objs, before = [], {}
        for pk, version, area_code, old in model.objects.filter(pk__in=chunk).values_list(
            "pk", "version", "area_code", "provenance"
        ):
            objs.append(Row(pk, version=version, area_code=area_code))
            before[pk] = {code: p.get("value", "") for code, p in (old or {}).items()}
        now = timezone.now()
        changes = []
        for obj in objs:
            values, provenance = golden.survive(per_golden.get(obj.pk, {}), authority)
            changes.append((obj.pk, obj.version + 1, changed_elements(before[obj.pk], values)))
            golden.apply_values(entity, obj, values, model)
            obj.provenance = provenance
            if areas.get(obj.pk):
                obj.area_code = _most_specific_recent_area(areas[obj.pk])
            obj.version += 1
            obj.updated_at = now
        fast_update(model, objs, core_fields + extra_fields)
        outbox_record_changes(entity=entity, changes=changes)  # same transaction: share once
        updated += len(objs)
        if progress:
            progress(f"{entity}: golden values", min(start + BATCH, len(ids)), len(ids))
    return updated


def _most_specific_recent_area(observations: list[tuple[str, str]]) -> str:
    """The area of the newest observation; among equally new ones the most specific (longest) code."""
    latest = max(at for at, _ in observations)
    return max((code for at, code in observations if at == latest), key=lambda c: (len(c.rstrip("0")), c))


def _queue_reviews(entity: str, candidates: list[tuple[int, int, float]], uf: UnionFind, by_id: dict) -> int:
    """Open a review pair for each uncertain pair that ended up in different clusters."""
    wanted = {}
    for a, b, p in candidates:
        if uf.find(a) == uf.find(b):
            continue
        left, right = (a, b) if a < b else (b, a)
        if (left, right) not in wanted or wanted[(left, right)] < p:
            wanted[(left, right)] = p
    if not wanted:
        return 0
    lefts = sorted({a for a, _ in wanted})
    existing: set[tuple[int, int]] = set()
    for i in range(0, len(lefts), BATCH):
        existing.update(
            ReviewPair.objects.filter(entity=entity, left_id__in=lefts[i:i + BATCH]).values_list("left_id", "right_id")
        )
    new = [
        ReviewPair(left_id=a, right_id=b, entity=entity, probability=p, area_code=by_id[a]["area_code"] or by_id[b]["area_code"])
        for (a, b), p in wanted.items() if (a, b) not in existing
    ]
    ReviewPair.objects.bulk_create(new, batch_size=BATCH)
    return len(new)


def _link_house_owners() -> None:
    """house.owner ← the golden person of the house row's owner facet (only where it changed).

    Two scans joined in Python rather than one ``IN (…)`` list, which a county's worth of houses
    would push past SQLite's limit on query parameters.
    """
    owner_of = dict(
        Link.objects.filter(active=True, record__entity="person", record__parent__isnull=False)
        .values_list("record__parent_id", "person_id")
    )
    by_house: dict[int, Counter] = defaultdict(Counter)
    for record_id, house_id in Link.objects.filter(active=True, record__entity="house").values_list("record_id", "house_id"):
        if record_id in owner_of:
            by_house[house_id][owner_of[record_id]] += 1
    current = dict(House.objects.filter(merged_into_id__isnull=True).values_list("id", "owner_id"))
    changed = []
    for pk, owners in by_house.items():
        owner = owners.most_common(1)[0][0]
        if current.get(pk, owner) != owner:
            changed.append(Row(pk, owner_id=owner))
    fast_update(House, changed, ["owner"])


def _link_household_members(person_ids: set[int] | None = None) -> None:
    """Group golden persons into households by their 户号 (person.household_no).

    ``person_ids`` limits the work to the persons a run touched (None: everyone).
    """
    persons = Person.objects.filter(merged_into_id__isnull=True)
    if person_ids is not None:
        if not person_ids:
            return
        persons = persons.filter(pk__in=list(person_ids)) if len(person_ids) < 20_000 else persons
    by_no: dict[str, list] = defaultdict(list)
    for pid, attrs, area, relation, name, hh in persons.values_list(
        "id", "attributes", "area_code", "relation_to_head", "name", "household_id"
    ).iterator(chunk_size=5000):
        number = (attrs or {}).get("person.household_no")
        if number:
            by_no[number].append((pid, area, relation, name, hh))
    if not by_no:
        return
    existing = dict(Household.objects.filter(merged_into_id__isnull=True).values_list("household_no", "id"))
    missing = [number for number in by_no if number not in existing]
    ids = reserve_ids(Household, len(missing))
    now = timezone.now()
    rows = []
    for hid, number in zip(ids, missing, strict=True):
        members = by_no[number]
        head = next((m for m in members if m[2] == "户主"), members[0])
        rows.append({"id": hid, "household_no": number, "head_name": head[3], "area_code": head[1], "address": "",
                     "phone": "", "attributes": {}, "provenance": {}, "created_at": now, "updated_at": now,
                     "version": 1})
        existing[number] = hid
    fast_insert(Household, rows, list(rows[0]) if rows else [])
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

