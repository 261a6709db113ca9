"""The outbox: registry changes recorded with the change, then fanned out to subscribing systems.

``outbox_record_changes`` is called by whoever changes golden values, inside their transaction, so
an event exists exactly when the change does (a rollback takes both away). ``dispatch_events``
runs later, in the delivery worker: for each undispatched event it writes one ``Delivery`` per
line system whose subscription covers the entity, the area and at least one changed element. The
payload holds the record's *current* values of every subscribed, mapped element (a full picture,
not a diff), so a newer event may replace a delivery that has not left yet (coalescing).
"""

import datetime
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

    Call it inside the transaction that writes the change.
    """
    events = [
        OutboxEvent(entity=entity, golden_id=gid, version=version, changed=sorted(codes))
        for gid, version, codes in changes
        if codes
    ]
    OutboxEvent.objects.bulk_create(events, batch_size=BATCH)
    return len(events)


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
        self.mappings: dict[int, dict[str, FieldMapping]] = defaultdict(dict)
        for m in FieldMapping.objects.all():
            self.mappings[m.system_id][m.element_code] = m
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

    def fields(self, sub: Subscription) -> dict[str, FieldMapping]:
        """The mapped elements this subscription carries (only mapped elements ever leave)."""
        mapped = self.mappings.get(sub.system_id, {})
        if not sub.elements:
            return mapped
        return {code: mapped[code] for code in sub.elements if code in mapped}


def transform(mapping: FieldMapping, value: str, plan: _Plan):
    if value in ("", None):
        return value
    if mapping.transform == ValueTransform.CODE:
        return plan.codes(mapping.element_code).get(value, value)
    if mapping.transform == ValueTransform.DATE and mapping.date_format:
        try:
            return datetime.date.fromisoformat(str(value)[:10]).strftime(mapping.date_format)
        except ValueError:
            return value
    return value


def build_payload(sub: Subscription, fields: dict[str, FieldMapping], golden_obj, values: dict, changed: Iterable[str],
                  plan: _Plan) -> dict:
    return {
        "entity": sub.entity,
        "id": golden_obj.pk,
        "version": golden_obj.version,
        "area_code": golden_obj.area_code,
        "changed": sorted(fields[c].field_name for c in changed if c in fields),
        "data": {m.field_name: transform(m, values.get(code, ""), plan) for code, m in fields.items()},
    }


def dispatch_events(*, limit: int = BATCH) -> int:
    """Turn undispatched outbox events into deliveries; returns how many deliveries were written or refreshed."""
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
            for event in entity_events:
                obj = goldens.get(event.golden_id)
                if obj is None or obj.merged_into_id:
                    continue
                values = element_values(entity, obj)
                for sub in plan.subscriptions[entity]:
                    if sub.area_prefix and not obj.area_code.startswith(sub.area_prefix):
                        continue
                    fields = plan.fields(sub)
                    if not fields or not set(event.changed) & fields.keys():
                        continue
                    payload = build_payload(sub, fields, obj, values, event.changed, plan)
                    _upsert_delivery(event, sub, obj, payload, now)
                    written += 1
    return written


def _upsert_delivery(event: OutboxEvent, sub: Subscription, obj, payload: dict, now) -> None:
    """Refresh a waiting, unclaimed delivery of the same record to the same system, or add a new one."""
    waiting = Delivery.objects.filter(
        system_id=sub.system_id, entity=sub.entity, golden_id=obj.pk, status=DeliveryStatus.PENDING
    ).filter(Q(claim_token="") | Q(claimed_until__lt=now))
    latest = waiting.order_by("-id").values_list("pk", "payload").first()
    refreshed = 0
    if latest is not None:
        # Carry the older version's changed fields along: the system never saw them.
        payload["changed"] = sorted(set(payload["changed"]) | set(latest[1].get("changed", [])))
        refreshed = waiting.filter(pk=latest[0]).update(
            event=event, version=obj.version, payload=payload, idempotency_key=new_idempotency_key(),
            claim_token="", claimed_until=None,
        )
    if refreshed:
        return
    Delivery.objects.create(
        event=event, system_id=sub.system_id, entity=sub.entity, golden_id=obj.pk, version=obj.version,
        payload=payload, next_attempt_at=now, idempotency_key=new_idempotency_key(),
    )
