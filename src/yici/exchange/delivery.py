"""The delivery worker: claim due deliveries, push them, record every attempt.

Claiming is a compare-and-set ``UPDATE`` (a claim token and a lease) so that several workers never
take the same row, on SQLite and PostgreSQL alike; a crashed worker's lease simply expires. Per
line system and record, a delivery is never claimed while an older one of the same record to the
same system is still pending, so a system sees the versions of a record in order (the dispatcher
coalesces waiting deliveries, so usually there is only one). Transient failures are retried with
exponential backoff and jitter; after the endpoint's ``max_attempts`` the delivery is dead (``yici
replay`` puts it back); a permanent failure is not retried.
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from yici.exchange.connectors import ConnectorError, Outgoing, get_connector
from yici.exchange.models_outbox import Delivery, DeliveryAttempt, DeliveryStatus, LineSystemEndpoint
from yici.exchange.outbox import dispatch_events

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)


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


def claim_due(*, limit: int = 100, now=None) -> list[Delivery]:
    """Claim up to ``limit`` due deliveries for this worker (compare-and-set on status and lease)."""
    now = now or timezone.now()
    free = Q(claim_token="") | Q(claimed_until__lt=now)
    older_pending = Delivery.objects.filter(
        system_id=OuterRef("system_id"), entity=OuterRef("entity"), golden_id=OuterRef("golden_id"),
        status=DeliveryStatus.PENDING, id__lt=OuterRef("id"),
    )
    candidates = list(
        Delivery.objects.filter(free, status=DeliveryStatus.PENDING, next_attempt_at__lte=now,
                                system__endpoint__active=True)
        .filter(~Exists(older_pending))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return []
    token = uuid.uuid4().hex
    Delivery.objects.filter(free, pk__in=candidates, status=DeliveryStatus.PENDING).update(
        claim_token=token, claimed_until=now + LEASE
    )
    return list(Delivery.objects.filter(claim_token=token).select_related("system").order_by("id"))


def deliver_due(*, limit: int = 100, rng: random.Random | None = None) -> DeliverResult:
    """Dispatch new outbox events, then claim and push due deliveries once."""
    result = DeliverResult(dispatched=dispatch_events())
    deliveries = claim_due(limit=limit)
    result.claimed = len(deliveries)
    endpoints = LineSystemEndpoint.objects.in_bulk({d.system_id for d in deliveries}, field_name="system_id")
    for delivery in deliveries:
        outcome = _push(delivery, endpoints[delivery.system_id], rng=rng)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _push(delivery: Delivery, endpoint: LineSystemEndpoint, *, rng) -> str:
    started = timezone.now()
    token = delivery.claim_token
    attempt = DeliveryAttempt(delivery=delivery, started_at=started)
    try:
        receipt = get_connector(endpoint).push(
            Outgoing(payload=delivery.payload, idempotency_key=delivery.idempotency_key, delivery_id=delivery.pk)
        )
    except ConnectorError as exc:
        attempt.status_code, attempt.duration_ms = exc.status_code, exc.duration_ms
        attempt.response_digest, attempt.error, attempt.permanent = exc.response_digest, exc.message, exc.permanent
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
        fields = dict(status=status, attempts=attempts, next_attempt_at=next_at, last_error=exc.message[:2000])
    else:
        attempt.ok = True
        attempt.status_code, attempt.duration_ms = receipt.status_code, receipt.duration_ms
        attempt.response_digest = receipt.response_digest
        outcome = "sent"
        fields = dict(status=DeliveryStatus.SENT, attempts=delivery.attempts + 1, sent_at=timezone.now(), last_error="")
    attempt.save()
    # Release the claim; only if it is still ours (the dispatcher never touches a claimed row).
    Delivery.objects.filter(pk=delivery.pk, claim_token=token).update(claim_token="", claimed_until=None, **fields)
    return outcome


def replay(*, system, statuses=(DeliveryStatus.DEAD,)) -> int:
    """Put a system's dead (or refused) deliveries back in the queue, due now, with a fresh attempt count."""
    return Delivery.objects.filter(system=system, status__in=statuses).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), claim_token="", claimed_until=None,
    )
