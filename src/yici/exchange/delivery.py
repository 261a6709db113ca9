"""The delivery worker: claim due deliveries, push them, record every attempt.

Claiming takes due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (several workers
never wait for each other) and marks them with a compare-and-set ``UPDATE`` (a claim token and a
lease), which alone keeps SQLite safe; a crashed worker's lease simply expires, and a slow round
renews its leases before each push once they are half gone (``_still_claimed``). Per
line system and record, a delivery is never claimed while an older one of the same record to the
same system is still pending, so a system sees the versions of a record in order (the dispatcher
coalesces waiting deliveries, so usually there is only one). Transient failures are retried with
exponential backoff and jitter; after the endpoint's ``max_attempts`` the delivery is dead (``yici
replay`` puts it back); a permanent failure is not retried.

A circuit breaker per line system: after ``YICI_BREAKER_THRESHOLD`` transient failures in a row
the system is paused (its deliveries are not claimed) for a cool-down that doubles while it keeps
failing; when the pause is over one delivery is tried (half-open) and a success closes the breaker.
Systems whose connector accepts arrays get their deliveries in batches (``push_many``).
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from yici.exchange.connectors import ConnectorError, Outgoing, get_connector
from yici.exchange.models_outbox import Delivery, DeliveryAttempt, DeliveryStatus, LineSystemEndpoint
from yici.exchange.outbox import dispatch_events

log = logging.getLogger(__name__)


def lease() -> timedelta:
    return timedelta(seconds=getattr(settings, "YICI_DELIVERY_LEASE", 300.0))


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """Delay before the next try after ``attempts`` failures: base·2^(n-1), capped, with ±25 % jitter."""
    base = getattr(settings, "YICI_DELIVERY_BACKOFF_BASE", 30.0)
    cap = getattr(settings, "YICI_DELIVERY_BACKOFF_CAP", 6 * 3600.0)
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay * (rng or random).uniform(0.75, 1.25)


@dataclass
class DeliverResult:
    dispatched: int = 0
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    paused: int = 0  # claimed, then put back untouched because the system's breaker opened


def claim_due(*, limit: int = 100, now=None) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries for this worker (compare-and-set on status and lease)."""
    now = now or timezone.now()
    free = Q(claim_token="") | Q(claimed_until__lt=now)
    older_pending = Delivery.objects.filter(
        system_id=OuterRef("system_id"), entity=OuterRef("entity"), golden_id=OuterRef("golden_id"),
        status=DeliveryStatus.PENDING, id__lt=OuterRef("id"),
    )
    breaker_closed = Q(system__endpoint__breaker_open_until=None) | Q(system__endpoint__breaker_open_until__lte=now)
    due = (
        Delivery.objects.filter(free, breaker_closed, status=DeliveryStatus.PENDING, next_attempt_at__lte=now,
                                system__endpoint__active=True)
        .filter(~Exists(older_pending))
        .order_by("next_attempt_at", "id")
    )
    token = uuid.uuid4().hex
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: rows another worker is claiming right now are skipped, not waited for.
            due = due.select_for_update(skip_locked=True, of=("self",))
        candidates = list(due.values_list("pk", flat=True)[:limit])
        if not candidates:
            return []
        # The compare-and-set on status and lease keeps this safe where rows cannot be locked (SQLite).
        Delivery.objects.filter(free, pk__in=candidates, status=DeliveryStatus.PENDING).update(
            claim_token=token, claimed_until=now + lease()
        )
    return list(Delivery.objects.filter(claim_token=token).select_related("system").order_by("id"))


def deliver_due(*, limit: int = 100, rng: random.Random | None = None) -> DeliverResult:
    """Dispatch new outbox events, then claim and push due deliveries once."""
    result = DeliverResult(dispatched=dispatch_events())
    deliveries = claim_due(limit=limit)
    result.claimed = len(deliveries)
    endpoints = LineSystemEndpoint.objects.select_related("system").in_bulk(
        {d.system_id for d in deliveries}, field_name="system_id"
    )
    shared: dict[tuple[str, str], int] = {}  # (area, system code) → fields delivered this round
    by_system: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        by_system.setdefault(delivery.system_id, []).append(delivery)
    for system_id, batch in by_system.items():
        endpoint = endpoints[system_id]
        if endpoint.breaker_open_until is not None:  # half-open: one delivery decides
            _release(batch[1:])
            result.paused += len(batch) - 1
            batch = batch[:1]
        connector = get_connector(endpoint)
        size = max(1, int(endpoint.config.get("batch_size", 1) or 1)) if connector.accepts_batches else 1
        for start in range(0, len(batch), size):
            chunk = _still_claimed(batch[start:start + size])
            if not chunk:
                continue
            outcomes = _push(chunk, endpoint, connector, rng=rng)
            _count_shared(chunk, outcomes, endpoint, shared)
            for outcome in outcomes:
                setattr(result, outcome, getattr(result, outcome) + 1)
            if _breaker_after(endpoint, outcomes):
                rest = batch[start + size:]
                _release(rest)
                result.paused += len(rest)
                break
    _record_shared(shared)
    return result


def _still_claimed(chunk: list[Delivery]) -> list[Delivery]:
    """The deliveries of ``chunk`` this worker may still push, with at least half a lease ahead.

    A long round can outlast the lease its deliveries were claimed with. Once a lease has run out
    another worker may claim the delivery, push it and then the record's newer versions: pushing
    it here as well would deliver it twice, and perhaps after a newer version. So a lease past its
    half is renewed (compare-and-set on the claim token) before the push, and deliveries claimed
    by someone else meanwhile are left to them. A push must take less than half a lease (the
    connectors' timeouts are seconds; the lease is minutes)."""
    now = timezone.now()
    half = lease() / 2
    if all(d.claimed_until and d.claimed_until - now >= half for d in chunk):
        return chunk
    until = now + lease()
    ours = Delivery.objects.filter(pk__in=[d.pk for d in chunk], claim_token=chunk[0].claim_token,
                                   status=DeliveryStatus.PENDING)
    if ours.update(claimed_until=until) < len(chunk):
        kept = set(ours.values_list("pk", flat=True))
        log.warning("%s deliveries outlasted their lease and were claimed by another worker",
                    len(chunk) - len(kept))
        chunk = [d for d in chunk if d.pk in kept]
    for delivery in chunk:
        delivery.claimed_until = until
    return chunk


def _release(deliveries: list[Delivery]) -> None:
    """Give claimed deliveries back untouched (no attempt is counted)."""
    for delivery in deliveries:
        Delivery.objects.filter(pk=delivery.pk, claim_token=delivery.claim_token).update(
            claim_token="", claimed_until=None
        )


def _breaker_after(endpoint: LineSystemEndpoint, outcomes: list[str]) -> bool:
    """Update the system's breaker after a push; True when it is (now) open."""
    if "sent" in outcomes or "failed" in outcomes:  # the system answered: it is alive
        if endpoint.breaker_failures or endpoint.breaker_open_until:
            LineSystemEndpoint.objects.filter(pk=endpoint.pk).update(breaker_failures=0, breaker_open_until=None)
            endpoint.breaker_failures, endpoint.breaker_open_until = 0, None
        return False
    failures = endpoint.breaker_failures + 1
    threshold = getattr(settings, "YICI_BREAKER_THRESHOLD", 5)
    open_until = None
    if failures >= threshold:
        cooldown = getattr(settings, "YICI_BREAKER_COOLDOWN", 30.0) * 2 ** min(failures - threshold, 6)
        open_until = timezone.now() + timedelta(seconds=cooldown)
        log.warning("line system %s paused for %.0f s after %s failures in a row", endpoint.system.code,
                    cooldown, failures)
    LineSystemEndpoint.objects.filter(pk=endpoint.pk).update(breaker_failures=F("breaker_failures") + 1,
                                                            breaker_open_until=open_until)
    endpoint.breaker_failures, endpoint.breaker_open_until = failures, open_until
    return open_until is not None


def _outgoing(delivery: Delivery) -> Outgoing:
    return Outgoing(payload=delivery.payload, idempotency_key=delivery.idempotency_key, delivery_id=delivery.pk,
                    entity=delivery.entity, golden_id=delivery.golden_id, version=delivery.version)


def _push(chunk: list[Delivery], endpoint: LineSystemEndpoint, connector, *, rng) -> list[str]:
    started = timezone.now()
    if len(chunk) == 1:
        try:
            answers = [connector.push(_outgoing(chunk[0]))]
        except ConnectorError as exc:
            answers = [exc]
    else:
        try:
            answers = connector.push_many([_outgoing(d) for d in chunk])
        except ConnectorError as exc:  # the whole batch had no answer
            answers = [exc] * len(chunk)
    accepted = [(d, a) for d, a in zip(chunk, answers, strict=True) if not isinstance(a, ConnectorError)]
    _settle_accepted(accepted, started)
    return [
        "sent" if not isinstance(answer, ConnectorError) else _settle(d, answer, endpoint, started, rng=rng)
        for d, answer in zip(chunk, answers, strict=True)
    ]


def _settle_accepted(accepted: list, started) -> None:
    """Accepted deliveries: their receipts and their new state in two statements, whatever their number."""
    if not accepted:
        return
    from yici.common.db import fast_insert

    fast_insert(DeliveryAttempt, (
        {"delivery_id": d.pk, "started_at": started, "ok": True, "status_code": r.status_code,
         "duration_ms": r.duration_ms, "response_digest": r.response_digest, "permanent": False, "error": ""}
        for d, r in accepted
    ), ["delivery_id", "started_at", "ok", "status_code", "duration_ms", "response_digest", "permanent", "error"])
    # Release the claims; only where they are still ours (a claim taken over after an expired
    # lease belongs to the other worker now).
    by_token: dict[str, list[int]] = {}
    for delivery, _receipt in accepted:
        by_token.setdefault(delivery.claim_token, []).append(delivery.pk)
    for token, ids in by_token.items():
        Delivery.objects.filter(pk__in=ids, claim_token=token).update(
            status=DeliveryStatus.SENT, attempts=F("attempts") + 1, sent_at=timezone.now(), last_error="",
            claim_token="", claimed_until=None,
        )


def _settle(delivery: Delivery, exc: ConnectorError, endpoint: LineSystemEndpoint, started, *, rng) -> str:
    """A failed attempt: retry later, give up (dead), or stop for good (refused)."""
    token = delivery.claim_token
    attempt = DeliveryAttempt(delivery=delivery, started_at=started, status_code=exc.status_code,
                              duration_ms=exc.duration_ms, response_digest=exc.response_digest, error=exc.message,
                              permanent=exc.permanent)
    attempts = delivery.attempts + 1
    if exc.permanent:
        status, outcome, next_at = DeliveryStatus.FAILED, "failed", delivery.next_attempt_at
        log.warning("delivery %s to %s refused: %s", delivery.pk, endpoint.system.code, exc.message)
    elif attempts >= endpoint.max_attempts:
        status, outcome, next_at = DeliveryStatus.DEAD, "dead", delivery.next_attempt_at
        log.warning("delivery %s to %s dead after %s attempts: %s", delivery.pk, endpoint.system.code,
                    attempts, exc.message)
    else:
        status, outcome = DeliveryStatus.PENDING, "retried"
        next_at = timezone.now() + timedelta(seconds=backoff_seconds(attempts, rng=rng))
    attempt.save()
    # Release the claim; only if it is still ours (the dispatcher never touches a claimed row).
    Delivery.objects.filter(pk=delivery.pk, claim_token=token).update(
        claim_token="", claimed_until=None, status=status, attempts=attempts, next_attempt_at=next_at,
        last_error=exc.message[:2000],
    )
    return outcome


def _count_shared(chunk: list[Delivery], outcomes: list[str], endpoint: LineSystemEndpoint,
                  shared: dict[tuple[str, str], int]) -> None:
    """Burden: every field a line system received is an entry nobody typed into it by hand."""
    for delivery, outcome in zip(chunk, outcomes, strict=True):
        if outcome == "sent" and delivery.entity != "account":
            key = (str(delivery.payload.get("area_code", "")), endpoint.system.code[:100])
            shared[key] = shared.get(key, 0) + len(delivery.payload.get("changed") or [])


def _record_shared(shared: dict[tuple[str, str], int]) -> None:
    from yici.burden.models import BurdenMetric
    from yici.burden.services import burden_record

    for (area, system_code), count in shared.items():
        if count:
            burden_record(metric=BurdenMetric.ENTRIES_SHARED, area_code=area, count=count, context=system_code)


def replay(*, system, statuses=(DeliveryStatus.DEAD,)) -> int:
    """Put a system's dead (or refused) deliveries back in the queue, due now, with a fresh attempt count."""
    return Delivery.objects.filter(system=system, status__in=statuses).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), claim_token="", claimed_until=None,
    )


def delivery_loop(*, limit: int = 200, idle_seconds: float = 0.2, stop=None, on_round=None) -> None:
    """Deliver until ``stop`` (a ``threading.Event``) is set: poll briefly when idle, so a change
    reaches its systems well within a second; close finished workbook periods now and then.

    A failing round (database restarting, say) is logged and retried; it never ends the loop.
    """
    import time

    from django.db import close_old_connections

    from yici.exchange.spreadsheets import export_closed_periods

    last_housekeeping = 0.0
    while stop is None or not stop.is_set():
        try:
            result = deliver_due(limit=limit)
            if on_round is not None:
                on_round(result)
            if time.monotonic() - last_housekeeping > 60:
                last_housekeeping = time.monotonic()
                export_closed_periods()
            busy = result.claimed or result.dispatched
        except Exception:  # noqa: BLE001 - the loop must outlive a bad round
            log.exception("delivery round failed; retrying")
            close_old_connections()
            busy = False
            time.sleep(1.0)
        if not busy:
            if stop is not None:
                stop.wait(idle_seconds)
            else:
                time.sleep(idle_seconds)
