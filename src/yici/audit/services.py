"""Writing the audit trail. Services call these inside their own transaction."""

from typing import Any

from django.db import models

from yici.audit.models import AuditAction, AuditEvent


def _area_code_of(obj: models.Model) -> str:
    """The code of the area ``obj`` belongs to: its ``area_code``, its ``area``, or itself if it is an area."""
    area_code = getattr(obj, "area_code", None)
    if area_code is not None:
        return area_code
    area = getattr(obj, "area", None)
    if area is not None:
        return getattr(area, "code", "")
    if obj._meta.label_lower == "accounts.area":
        return obj.code
    return ""


def _object_fields(obj: models.Model | None) -> dict[str, str]:
    if obj is None:
        return {"object_type": "", "object_id": "", "object_repr": "", "area_code": ""}
    return {
        "object_type": obj._meta.label_lower,
        "object_id": str(obj.pk),
        "object_repr": str(obj)[:200],
        "area_code": _area_code_of(obj) or "",
    }


def _actor_fields(actor) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor": None, "actor_name": "system"}
    return {"actor": actor, "actor_name": actor.get_username()}


def audit_event(
    *,
    actor,
    action: str,
    obj: models.Model | None,
    before: Any = None,
    after: Any = None,
    field: str = "",
    reason: str = "",
    request=None,
) -> AuditEvent:
    """Record one thing ``actor`` did to ``obj``; the area code is taken from ``obj``.

    ``before``/``after`` must be JSON-serialisable. An unknown ``action`` raises ``ValueError``.
    """
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    ip = request.META.get("REMOTE_ADDR") if request is not None else None
    return AuditEvent.objects.create(
        action=action, before=before, after=after, field=field[:100], reason=reason[:300], ip_address=ip or None,
        **_actor_fields(actor), **_object_fields(obj),
    )


def audit_write(*, actor, action: str, obj: models.Model, before: Any, after: Any, request=None) -> AuditEvent:
    """Record a create/update/delete with the object's state before and after."""
    return audit_event(actor=actor, action=action, obj=obj, before=before, after=after, request=request)


def audit_reveal(*, actor, obj: models.Model, field: str, reason: str, request=None) -> AuditEvent:
    """Record that ``actor`` read the full value of a sensitive ``field`` of ``obj``, and why."""
    return audit_event(actor=actor, action=AuditAction.REVEAL, obj=obj, field=field, reason=reason, request=request)


def audit_log_export(*, actor, filters: dict[str, Any], rows: int, request=None) -> AuditEvent:
    """Record that ``actor`` exported ``rows`` audit events matching ``filters``.

    The object is the actor's own area (the scope that was exported), so the export shows up in
    the audit log of that area and above.
    """
    return audit_event(
        actor=actor,
        action=AuditAction.EXPORT,
        obj=getattr(actor, "area", None),
        after={"export": "audit_events", "filters": {k: str(v) for k, v in filters.items() if v}, "rows": rows},
        request=request,
    )
