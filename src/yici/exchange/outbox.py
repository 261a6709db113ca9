"""The outbox: registry changes recorded with the change, then fanned out to subscribing systems.

``outbox_record_changes`` is called by whoever changes golden values, inside their transaction, so
an event exists exactly when the change does (a rollback takes both away). ``dispatch_events``
runs later, in the delivery worker: for each undispatched event it writes one ``Delivery`` per
line system whose subscription covers the entity, the area and at least one changed element. The
payload holds the record's *current* values of every subscribed, mapped element (a full picture,
not a diff), so a newer event may replace a delivery that has not been tried yet (coalescing).
"""

import datetime
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from yici.exchange.models_outbox import (
    Delivery,
    DeliveryStatus,
    FieldMapping,
    OutboxEvent,
    Subscription,
    ValueTransform,
)

BATCH = 500


def outbox_record_changes(*, entity: str, changes: Iterable[tuple[int, int, Iterable[str]]]) -> int:
    """Write one event per (golden id, new version, changed element codes); unchanged records are skipped.

    Call it inside the transaction that writes the change. One prepared statement for all events
    (a full reconcile writes hundreds of thousands).
    """
    from yici.common.db import fast_insert

    rows = [(gid, version, sorted(codes)) for gid, version, codes in changes if codes]
    if rows:
        fast_insert(OutboxEvent, rows, ["golden_id", "version", "changed"], sequences=True,
                    constants={"entity": entity, "created_at": timezone.now(), "dispatched_at": None})
    return len(rows)


MERGED = "_merged"  # the "changed element" of an event saying the record was merged into another
# The "changed element" of an event saying the record is new: every element it holds changed. One
# marker rather than the list: a county's first reconcile writes an event for each of its hundreds
# of thousands of new golden records, and the lists were three quarters of the outbox's bytes.
CREATED = "_created"


def changed_codes(changed: Iterable[str], values: dict[str, str]) -> set[str]:
    """The element codes an event's ``changed`` stands for, given the record's present ``values``."""
    codes = set(changed)
    if CREATED in codes:
        codes.discard(CREATED)
        codes.update(values)
    return codes


def outbox_record_merged(*, entity: str, merged: dict[int, int]) -> int:
    """Record that golden records were merged away (old id → the id they live on in); call it in the
    transaction of the merge. Each merged record gets a new version, so the systems that had it hear
    of the merge after (never before) its earlier versions."""
    from django.db.models import F

    from yici.registry.reconcile import ENTITY_MODELS

    if not merged:
        return 0
    model = ENTITY_MODELS[entity]
    model.objects.filter(pk__in=list(merged)).update(version=F("version") + 1)
    versions = dict(model.objects.filter(pk__in=list(merged)).values_list("pk", "version"))
    return outbox_record_changes(entity=entity, changes=[(pk, versions[pk], [MERGED]) for pk in merged if pk in versions])


def changed_elements(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Element codes whose value differs between two {code: value} dicts (added and removed included)."""
    return {code for code in before.keys() | after.keys() if before.get(code, "") != after.get(code, "")}


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class _Plan:
    """Subscriptions, field mappings and code lists, loaded once per dispatch run."""

    def __init__(self):
        self.subscriptions: dict[str, list[Subscription]] = defaultdict(list)
        for sub in Subscription.objects.filter(active=True, system__endpoint__active=True).select_related("system"):
            self.subscriptions[sub.entity].append(sub)
        # system → element → its fields there (an address may fill several: province, township …)
        self.mappings: dict[int, dict[str, list[FieldMapping]]] = defaultdict(lambda: defaultdict(list))
        for m in FieldMapping.objects.order_by("id"):
            self.mappings[m.system_id][m.element_code].append(m)
        self._codes: dict[str, dict[str, str]] = {}

    def codes(self, element_code: str) -> dict[str, str]:
        """label or alias → code for an element's code list."""
        if element_code not in self._codes:
            from yici.catalog.models import CodeListValue

            table: dict[str, str] = {}
            for code, label, aliases in CodeListValue.objects.filter(element__code=element_code).values_list(
                "code", "label", "aliases"
            ):
                for alias in aliases or []:
                    table.setdefault(str(alias), code)
                table[label] = code
                table[code] = code
            self._codes[element_code] = table
        return self._codes[element_code]

    def fields(self, sub: Subscription) -> dict[str, list[FieldMapping]]:
        """The mapped elements of the subscription's entity it carries (only mapped elements ever leave)."""
        prefix = sub.entity + "."
        mapped = {code: ms for code, ms in self.mappings.get(sub.system_id, {}).items() if code.startswith(prefix)}
        if not sub.elements:
            return mapped
        return {code: mapped[code] for code in sub.elements if code in mapped}


def transform(mapping: FieldMapping, value: str, plan: _Plan):
    if value in ("", None):
        return value
    if mapping.transform == ValueTransform.CODE:
        return plan.codes(mapping.element_code).get(value, value)
    if mapping.transform == ValueTransform.ADDRESS_PART:
        return split_address(str(value)).get(mapping.part, "")
    if mapping.transform == ValueTransform.DATE and mapping.date_format:
        try:
            return datetime.date.fromisoformat(str(value)[:10]).strftime(mapping.date_format)
        except ValueError:
            return value
    return value


_ADDRESS = re.compile(
    r"^(?P<province>.+?(?:省|自治区|特别行政区))?(?P<city>.+?(?:自治州|市|州|盟|地区))?"
    r"(?P<county>.+?(?:自治县|区|县|市|旗))?(?P<township>.+?(?:街道|镇|乡))?(?P<village>.+?(?:社区|村|居委会))?"
    r"(?P<rest>.*)$"
)


def split_address(address: str) -> dict[str, str]:
    """A Chinese address in its administrative parts, by their suffixes (浙江省金华市浦江县岩头镇樟树村3组12号 →
    province 浙江省 … village 樟树村, rest 3组12号); parts an address leaves out are empty."""
    match = _ADDRESS.match(address.strip())
    return {k: v or "" for k, v in match.groupdict().items()} if match else {"rest": address}


def build_payload(sub: Subscription, fields: dict[str, list[FieldMapping]], golden_obj, values: dict,
                  changed: Iterable[str], plan: _Plan) -> dict:
    return {
        "entity": sub.entity,
        "id": golden_obj.pk,
        "version": golden_obj.version,
        "area_code": golden_obj.area_code,
        "changed": sorted(m.field_name for c in changed if c in fields for m in fields[c]),
        "data": {m.field_name: transform(m, values.get(code, ""), plan) for code, ms in fields.items() for m in ms},
    }


def dispatch_events(*, limit: int = BATCH) -> int:
    """Turn undispatched outbox events into deliveries; returns how many deliveries were written or refreshed.

    A batch of events is handled with a fixed number of queries per entity (not per event): the
    golden records, the echo check and the deliveries already queued are read at once, and the new
    or refreshed deliveries are written in bulk.
    """
    from yici.registry.golden import element_values
    from yici.registry.reconcile import ENTITY_MODELS

    written = 0
    with transaction.atomic():
        events = list(OutboxEvent.objects.filter(dispatched_at=None).order_by("id")[:limit])
        if not events:
            return 0
        now = timezone.now()
        # Compare-and-set: only the worker whose update hits the rows dispatches them.
        claimed = OutboxEvent.objects.filter(pk__in=[e.pk for e in events], dispatched_at=None).update(dispatched_at=now)
        if claimed != len(events):  # another worker got there first; let it finish, try again later
            transaction.set_rollback(True)
            return 0
        plan = _Plan()
        by_entity: dict[str, list[OutboxEvent]] = defaultdict(list)
        for event in events:
            if plan.subscriptions.get(event.entity):
                by_entity[event.entity].append(event)
        for entity, entity_events in by_entity.items():
            model = ENTITY_MODELS[entity]
            goldens = model.objects.in_bulk({e.golden_id for e in entity_events})
            sent_back = _sent_back(entity, goldens.keys())
            # (system, golden id) → (subscription, the last event, every changed element)
            wanted: dict[tuple[int, int], tuple[Subscription, OutboxEvent, set[str]]] = {}
            values_of: dict[int, dict] = {}
            merged_away = []
            for event in entity_events:
                obj = goldens.get(event.golden_id)
                if obj is not None and obj.merged_into_id and MERGED in event.changed:
                    merged_away.append((event, obj))
                if obj is None or obj.merged_into_id:
                    continue
                values = values_of.setdefault(obj.pk, element_values(entity, obj))
                event_changed = changed_codes(event.changed, values)
                for sub in plan.subscriptions[entity]:
                    if sub.area_prefix and not obj.area_code.startswith(sub.area_prefix):
                        continue
                    fields = plan.fields(sub)
                    relevant = event_changed & fields.keys()
                    if not relevant:
                        continue
                    echo = sent_back.get((sub.system_id, obj.pk))
                    if echo and all(values.get(code, "") == echo.get(code) for code in relevant):
                        continue  # the system itself told us these values: do not send them back
                    key = (sub.system_id, obj.pk)
                    _sub, _event, changed = wanted.get(key, (sub, event, set()))
                    wanted[key] = (sub, event, changed | event_changed)
            if wanted:
                written += _write_deliveries(entity, wanted, goldens, values_of, plan, now)
            if merged_away:
                written += _write_merge_notices(entity, merged_away, plan, now)
    return written


def _write_merge_notices(entity: str, merged_away: list, plan: "_Plan", now) -> int:
    """Tell each system that had a merged-away record where it lives on (``merged_into``, no data)."""
    had = set(Delivery.objects.filter(entity=entity, golden_id__in=[obj.pk for _e, obj in merged_away])
              .exclude(status=DeliveryStatus.FAILED).values_list("system_id", "golden_id"))
    notices = []
    for event, obj in merged_away:
        for sub in plan.subscriptions[entity]:
            if (sub.system_id, obj.pk) not in had:
                continue  # the system never had the record: nothing to undo there
            notices.append(Delivery(
                event=event, system_id=sub.system_id, entity=entity, golden_id=obj.pk, version=obj.version,
                payload={"entity": entity, "id": obj.pk, "version": obj.version, "area_code": obj.area_code,
                         "merged_into": obj.merged_into_id, "changed": [], "data": {}},
                next_attempt_at=now, idempotency_key=new_idempotency_key(),
            ))
    Delivery.objects.bulk_create(notices)
    return len(notices)


def _write_deliveries(entity: str, wanted: dict, goldens: dict, values_of: dict, plan: "_Plan", now) -> int:
    """One delivery per (system, record) carrying the record's present state, unless one already does.

    Only a delivery never tried may be refreshed: once a request has gone out its fate may be
    unknown (a timeout), and a late arrival of it must not land after a newer version; so it is
    retried as it was, with its own key, and the newer version waits behind it. A delivery of this
    same state that is already queued or sent makes a new one unnecessary (it would apply twice).
    """
    existing: dict[tuple[int, int], list[Delivery]] = defaultdict(list)
    queued = (
        Delivery.objects.select_for_update()
        .filter(entity=entity, golden_id__in={gid for _sid, gid in wanted},
                system_id__in={sid for sid, _gid in wanted}, status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENT])
        .filter(Q(status=DeliveryStatus.PENDING) | Q(version__gte=min(g.version for g in goldens.values())))
        .only("id", "system_id", "golden_id", "status", "attempts", "claim_token", "claimed_until", "version")
    )
    for delivery in queued:
        existing[(delivery.system_id, delivery.golden_id)].append(delivery)
    creates, refreshes = [], []
    for (system_id, golden_id), (sub, event, changed) in wanted.items():
        obj = goldens[golden_id]
        fields = plan.fields(sub)
        payload = build_payload(sub, fields, obj, values_of[golden_id], changed, plan)
        rows = existing.get((system_id, golden_id), [])
        refreshable = [d for d in rows if d.status == DeliveryStatus.PENDING and d.attempts == 0
                       and (not d.claim_token or (d.claimed_until and d.claimed_until < now))]
        if any(d.version >= obj.version for d in rows if d not in refreshable):
            continue
        if refreshable:
            latest = max(refreshable, key=lambda d: d.pk)
            latest.event, latest.version, latest.payload = event, obj.version, payload
            latest.idempotency_key, latest.claim_token, latest.claimed_until = new_idempotency_key(), "", None
            refreshes.append(latest)
        else:
            creates.append({"event_id": event.pk, "system_id": system_id, "entity": entity, "golden_id": golden_id,
                            "version": obj.version, "payload": payload, "next_attempt_at": now, "created_at": now,
                            "idempotency_key": new_idempotency_key(), "status": DeliveryStatus.PENDING,
                            "attempts": 0, "last_error": "", "claim_token": ""})
    if refreshes:
        # Carry the older version's changed fields along: the system never saw them.
        earlier = dict(Delivery.objects.filter(pk__in=[d.pk for d in refreshes]).values_list("pk", "payload"))
        for delivery in refreshes:
            delivery.payload["changed"] = sorted(set(delivery.payload["changed"])
                                                 | set((earlier.get(delivery.pk) or {}).get("changed", [])))
        # The rows are locked (PostgreSQL) or the database is (SQLite): no worker claims them meanwhile.
        Delivery.objects.bulk_update(refreshes, ["event", "version", "payload", "idempotency_key", "claim_token",
                                                 "claimed_until"], batch_size=BATCH)
    if creates:
        from yici.common.db import fast_insert

        fast_insert(Delivery, creates, list(creates[0]))
    return len(creates) + len(refreshes)


def _sent_back(entity: str, golden_ids) -> dict[tuple[int, int], dict[str, str]]:
    """(system, golden id) → the values in that system's latest applied inbound change of the record."""
    from yici.exchange.models_outbox import InboundChange, InboundStatus

    latest: dict[tuple[int, int], dict[str, str]] = {}
    rows = (InboundChange.objects.filter(entity=entity, golden_id__in=list(golden_ids), status=InboundStatus.APPLIED)
            .order_by("id").values_list("system_id", "golden_id", "values"))
    for system_id, golden_id, values in rows:
        latest[(system_id, golden_id)] = values or {}
    return latest
