"""Reads of the audit trail: only for audit roles, and only within the reader's area subtree."""

import datetime
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from yici.accounts.models import AreaLevel, User
from yici.accounts.roles import AUDIT_ROLES
from yici.accounts.selectors import area_get_by_code, area_list, scope_by_area
from yici.audit.models import AuditEvent
from yici.registry.masking import SENSITIVE_FIELDS, mask


def can_read_audit_log(user: User) -> bool:
    return user.is_authenticated and user.role in AUDIT_ROLES


def _visible_events(user: User) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.select_related("actor")
    if not can_read_audit_log(user) or user.area_id is None:
        return events.none()
    visible = scope_by_area(events, user=user)
    if user.area.level <= AreaLevel.COUNTY:
        # Events without an area (system-wide ones) belong to the county and the levels above it.
        visible = visible | events.filter(area_code="")
    # The area's name for display, in the same query rather than one look-up per row.
    area_name = area_list(user=user).filter(code=OuterRef("area_code")).order_by().values("name")[:1]
    return visible.annotate(area_name=Subquery(area_name))


def _start_of(day: datetime.date) -> datetime.datetime:
    # A range on ``at`` itself (not ``at__date``) so the index on ``at`` can be used.
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def audit_event_list(
    *,
    user: User,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    area_code: str = "",
    field: str = "",
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
    text: str = "",
) -> QuerySet[AuditEvent]:
    """Audit events ``user`` may read, newest first, narrowed by the given filters.

    Users outside ``AUDIT_ROLES`` get nothing. Rows are limited to the user's area subtree; events
    without an area are shown to users of a county or above only. ``actor`` matches the user name
    or display name, ``object_type`` an app label and model (``registry.person``) or just the model
    (``person``), ``area_code`` an area's subtree (or a code prefix), ``date_from``/``date_to`` whole local days (inclusive),
    and ``text`` the object, the reason or the actor.
    """
    events = _visible_events(user)
    if actor := (actor or "").strip():
        events = events.filter(Q(actor_name__icontains=actor) | Q(actor__display_name__icontains=actor))
    if action:
        events = events.filter(action=action)
    if object_type := (object_type or "").strip().lower():
        if "." in object_type:
            events = events.filter(object_type=object_type)
        else:
            events = events.filter(object_type__endswith=f".{object_type}")
    if object_id := (object_id or "").strip():
        events = events.filter(object_id=object_id)
    if area_code := (area_code or "").strip():
        # A known area's code selects its subtree (330726101000 → 330726101…); anything else is
        # taken as a prefix as typed.
        area = area_get_by_code(code=area_code)
        events = events.filter(area_code__startswith=area.prefix if area else area_code)
    if field := (field or "").strip():
        events = events.filter(field=field)
    if date_from:
        events = events.filter(at__gte=_start_of(date_from))
    if date_to:
        events = events.filter(at__lt=_start_of(date_to + datetime.timedelta(days=1)))
    if text := (text or "").strip():
        events = events.filter(
            Q(object_repr__icontains=text) | Q(reason__icontains=text) | Q(actor_name__icontains=text)
            | Q(object_id=text)
        )
    return events


def audit_event_get(*, user: User, pk: int) -> AuditEvent | None:
    """One event, or ``None`` if it does not exist or lies outside what ``user`` may read."""
    return _visible_events(user).filter(pk=pk).first()


@dataclass(frozen=True)
class Change:
    """One key of an event's before/after state, pretty-printed for display."""

    key: str
    before: str | None  # None: the key was absent
    after: str | None
    changed: bool


_ABSENT = object()


def _masked(value: Any, key: str = "") -> Any:
    # Audit readers are not necessarily allowed to see personal data: sensitive values stay masked
    # here just as in registry lists (reading them in full is a reveal of its own).
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, key) for v in value]
    if key in SENSITIVE_FIELDS and isinstance(value, str):
        return mask(key, value)
    return value


def _pretty(value: Any, key: str = "") -> str | None:
    if value is _ABSENT:
        return None
    return json.dumps(_masked(value, key), indent=2, ensure_ascii=False, sort_keys=True)


def audit_event_changes(event: AuditEvent) -> list[Change]:
    """The event's before and after side by side: one row per key when both are objects.

    Sensitive values (``registry.masking.SENSITIVE_FIELDS``) are masked, but a change to them is
    still flagged, since the comparison is made on the stored values.
    """
    before, after = event.before, event.after
    if before is None and after is None:
        return []
    if isinstance(before, dict | None) and isinstance(after, dict | None):
        before, after = before or {}, after or {}
        # Sorted: PostgreSQL's jsonb does not keep the order the keys were written in.
        keys = sorted(set(before) | set(after))
        return [
            Change(
                key=key,
                before=_pretty(before.get(key, _ABSENT), key),
                after=_pretty(after.get(key, _ABSENT), key),
                changed=before.get(key, _ABSENT) != after.get(key, _ABSENT),
            )
            for key in keys
        ]
    return [Change(key="", before=_pretty(before, event.field), after=_pretty(after, event.field), changed=before != after)]
