"""Provisioning: a user's accounts in line systems follow their Yici account.

Every user change that a line system must hear about (created, name, phone, area, role, department,
disabled) calls ``account_changed`` inside the transaction that makes the change. It bumps the
user's ``account_version`` and writes one ``exchange.Delivery`` (entity ``account``) per line system
that provisions accounts, so the change and its deliveries commit together; the delivery worker
(``yici deliver``) pushes them through the system's connector (SCIM or ``http-json``) with retries,
backoff and dead letters. A system stops hearing about a user who is no longer eligible there with a
``disable`` order. Deprovisioning is shown as pending until a delivery is confirmed, and ``yici
accounts-reconcile`` puts dead ones back in the queue.
"""

import uuid

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from yici.accounts.models import ExternalAccount, LineSystemClient, User

ACCOUNT_KIND = "yici.account"
ENTITY = "account"


def account_payload(user: User, *, active: bool) -> dict:
    """What a line system receives about an account: the OIDC claims plus state, in one flat document."""
    from yici.accounts.oidc import subject_of

    return {
        "kind": ACCOUNT_KIND,
        "op": "upsert" if active else "disable",
        "sub": subject_of(user),
        "username": user.username,
        "name": user.display_name or user.username,
        "phone": user.phone or "",
        "area_code": user.area.code if user.area_id else "",
        "area_name": user.area.name if user.area_id else "",
        "role": user.role,
        "department": user.department.code if user.department_id else "",
        "active": bool(active),
        "version": user.account_version,
        "groups": account_groups(user) if active else [],
    }


def account_groups(user: User) -> list[str]:
    """The groups Yici manages in a line system: one per role and one per department."""
    groups = [f"role:{user.role}"]
    if user.department_id:
        groups.append(f"dept:{user.department.code}")
    return groups


def provisioning_clients():
    return LineSystemClient.objects.filter(provisioning=True, system__endpoint__isnull=False).select_related(
        "system", "system__department"
    )


def account_changed(*, user: User, clients=None) -> list:
    """Queue the user's current state to every provisioning line system; call inside the change's transaction."""
    from yici.exchange.models import Delivery, DeliveryStatus

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("account_changed must run inside the transaction that changes the user")
    User.objects.filter(pk=user.pk).update(account_version=F("account_version") + 1)
    user.refresh_from_db(fields=["account_version"])
    now = timezone.now()
    deliveries, created = [], []
    for client in clients if clients is not None else provisioning_clients():
        eligible = client.user_eligible(user)
        account = ExternalAccount.objects.select_for_update().filter(user=user, system=client.system).first()
        if not eligible and (account is None or not account.active):
            continue  # never had an account there: nothing to take away
        if account is None:
            account = ExternalAccount.objects.create(user=user, system=client.system, active=eligible)
        elif account.active != eligible:
            account.active = eligible
            account.save(update_fields=["active"])
        payload = account_payload(user, active=eligible)
        # Coalescing, as the outbox does: a delivery not yet tried is brought up to date rather than
        # followed by another, so the system never hears an outdated state first.
        untried = (Delivery.objects.select_for_update()
                   .filter(system=client.system, entity=ENTITY, golden_id=user.pk, status=DeliveryStatus.PENDING,
                           attempts=0)
                   .filter(Q(claim_token="") | Q(claimed_until__lt=now)).order_by("-id").first())
        if untried is not None:
            untried.version, untried.payload = user.account_version, payload
            untried.idempotency_key, untried.claim_token, untried.claimed_until = uuid.uuid4().hex, "", None
            untried.next_attempt_at = now
            untried.save(update_fields=["version", "payload", "idempotency_key", "claim_token", "claimed_until",
                                        "next_attempt_at"])
            deliveries.append(untried)
            continue
        created.append(Delivery(
            system=client.system, entity=ENTITY, golden_id=user.pk, version=user.account_version,
            payload=payload, next_attempt_at=now, idempotency_key=uuid.uuid4().hex,
        ))
    Delivery.objects.bulk_create(created)
    return deliveries + created


@transaction.atomic
def provision_all(*, client: LineSystemClient) -> int:
    """First sync of a newly connected system: queue every eligible user (used when provisioning is switched on)."""
    count = 0
    for user in User.objects.filter(is_active=True).order_by("pk"):
        if client.user_eligible(user):
            count += len(account_changed(user=user, clients=[client]))
    return count


def account_usable(*, user: User, client: LineSystemClient) -> bool:
    """Whether the user may sign in to the client's system through Yici (and sees its portal tile)."""
    if not client.user_eligible(user):
        return False
    if not client.provisioning:
        return True
    return ExternalAccount.objects.filter(user=user, system=client.system, active=True).exists()


def pending_deliveries(*, user: User):
    """The user's account deliveries not yet confirmed: waiting, dead (given up) or refused."""
    from yici.exchange.models import Delivery, DeliveryStatus

    latest = {}
    for delivery in Delivery.objects.filter(entity=ENTITY, golden_id=user.pk).select_related("system").order_by("id"):
        latest[delivery.system_id] = delivery
    return [d for d in latest.values() if d.status != DeliveryStatus.SENT]


def account_rows(*, user: User) -> list[dict]:
    """Per line system: the account's wanted state and whether the system has confirmed it."""
    from yici.exchange.models import DeliveryStatus

    pending = {d.system_id: d for d in pending_deliveries(user=user)}
    rows = []
    for account in ExternalAccount.objects.filter(user=user).select_related("system"):
        delivery = pending.get(account.system_id)
        rows.append({
            "system": account.system,
            "active": account.active,
            "external_id": account.external_id,
            "last_synced": account.last_synced,
            "pending": delivery is not None,
            "state": delivery.status if delivery else DeliveryStatus.SENT,
            "error": delivery.last_error if delivery else "",
            "deprovisioning": delivery is not None and not delivery.payload.get("active", True),
        })
    return rows


def requeue_dead(*, system=None) -> int:
    """Dead account deliveries back in the queue: an account change is retried until a system confirms it."""
    from yici.exchange.models import Delivery, DeliveryStatus

    qs = Delivery.objects.filter(entity=ENTITY, status=DeliveryStatus.DEAD)
    if system is not None:
        qs = qs.filter(system=system)
    return qs.update(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), claim_token="",
                     claimed_until=None)


def account_confirmed(*, system, payload: dict, external_id: str = "") -> None:
    """A connector heard the system accept ``payload``: remember its ID for the account and the version."""
    from yici.accounts.oidc import user_from_subject

    user = user_from_subject(str(payload.get("sub", "")))
    if user is None:
        return
    account, _created = ExternalAccount.objects.get_or_create(
        user=user, system=system, defaults={"active": bool(payload.get("active"))}
    )
    fields = {"last_synced": timezone.now()}
    if external_id:
        fields["external_id"] = external_id
    version = int(payload.get("version") or 0)
    ExternalAccount.objects.filter(pk=account.pk).update(**fields)
    ExternalAccount.objects.filter(pk=account.pk, confirmed_version__lt=version).update(confirmed_version=version)


def external_id_for(*, system, sub: str) -> str:
    from yici.accounts.oidc import user_from_subject

    user = user_from_subject(sub)
    if user is None:
        return ""
    return ExternalAccount.objects.filter(user=user, system=system).values_list("external_id", flat=True).first() or ""
