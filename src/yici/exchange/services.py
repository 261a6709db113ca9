"""Exchange writes about line systems: connector settings, field mappings, subscriptions, replays.

Each checks everything before writing and leaves an audit row; a secret is written, never read
back (the audit row says only that it changed).
"""

from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.audit.models import AuditAction
from yici.audit.services import audit_event
from yici.exchange.connectors import CONNECTORS
from yici.exchange.connectors.spreadsheet import PERIODS
from yici.exchange.models import LineSystem
from yici.exchange.models_outbox import (
    ENTITY_CHOICES,
    AddressPart,
    Delivery,
    DeliveryStatus,
    FieldMapping,
    LineSystemEndpoint,
    Subscription,
    ValueTransform,
)

ENTITIES = {code for code, _label in ENTITY_CHOICES}


class SystemConfigError(Exception):
    """A setting is wrong (the message is one line, for the page or the command)."""


def _check_url(url: str, *, required: bool) -> str:
    url = (url or "").strip()
    if not url:
        if required:
            raise SystemConfigError(_("This connector needs the system's URL."))
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SystemConfigError(_("%(url)s is not an http(s) URL with a host.") % {"url": url})
    if parts.username or parts.password:
        raise SystemConfigError(_("Put credentials in the secret, not in the URL."))
    return url


def endpoint_save(*, system: LineSystem, kind: str, url: str = "", secret: str | None = None,
                  timeout_seconds: float = 10.0, max_attempts: int = 8, active: bool = True,
                  config: dict | None = None, actor=None) -> LineSystemEndpoint:
    """Create or change how Yici reaches ``system``. ``secret=None`` keeps the stored one."""
    if kind not in CONNECTORS:
        raise SystemConfigError(_("Unknown connector %(kind)s.") % {"kind": kind})
    url = _check_url(url, required=kind != "spreadsheet")
    if not 0.5 <= float(timeout_seconds) <= 120:
        raise SystemConfigError(_("The timeout must be between 0.5 and 120 seconds."))
    if not 1 <= int(max_attempts) <= 100:
        raise SystemConfigError(_("Attempts must be between 1 and 100."))
    config = dict(config or {})
    if "batch_size" in config and not 1 <= int(config["batch_size"] or 1) <= 1000:
        raise SystemConfigError(_("The batch size must be between 1 and 1000."))
    if config.get("period") and config["period"] not in PERIODS:
        raise SystemConfigError(_("The period must be day, week or month."))
    with transaction.atomic():
        endpoint = LineSystemEndpoint.objects.select_for_update().filter(system=system).first()
        before = None
        if endpoint is None:
            endpoint = LineSystemEndpoint(system=system)
        else:
            before = {"kind": endpoint.kind, "url": endpoint.url, "active": endpoint.active, "config": endpoint.config}
        if secret is None and not endpoint.secret_encrypted and kind == "http-json":
            raise SystemConfigError(_("Set a signing secret for this system."))
        endpoint.kind, endpoint.url, endpoint.active = kind, url, active
        endpoint.timeout_seconds, endpoint.max_attempts = float(timeout_seconds), int(max_attempts)
        endpoint.config = {**endpoint.config, **config}
        if secret is not None:
            endpoint.secret = secret
        endpoint.save()
        after = {"kind": kind, "url": url, "active": active, "config": endpoint.config,
                 "secret": "changed" if secret is not None else "kept"}
        audit_event(actor=actor, action=AuditAction.UPDATE if before else AuditAction.CREATE, obj=endpoint,
                    before=before, after=after)
    return endpoint


def field_mapping_save(*, system: LineSystem, element_code: str, field_name: str, transform: str = "",
                       date_format: str = "", part: str = "", actor=None) -> FieldMapping:
    """Map one of the system's fields to a catalog element (a field holds one element; an element may
    fill several fields, e.g. the parts of an address)."""
    from yici.catalog.models import DataElement

    field_name = (field_name or "").strip()
    if not DataElement.objects.filter(code=element_code).exists():
        raise SystemConfigError(_("%(code)s is not an element of the data catalog.") % {"code": element_code})
    if not field_name or len(field_name) > 100:
        raise SystemConfigError(_("Give the system's field name (at most 100 characters)."))
    if transform not in ValueTransform.values:
        raise SystemConfigError(_("Unknown transform %(t)s.") % {"t": transform})
    if transform == ValueTransform.DATE:
        if not date_format or "%" not in date_format:
            raise SystemConfigError(_("A date transform needs a format such as %Y%m%d."))
        try:
            timezone.now().strftime(date_format)
        except ValueError as exc:
            raise SystemConfigError(_("The date format is not valid: %(e)s") % {"e": exc}) from exc
    if transform == ValueTransform.ADDRESS_PART and part not in AddressPart.values:
        raise SystemConfigError(_("Say which part of the address this field holds."))
    if transform != ValueTransform.ADDRESS_PART:
        part = ""
    with transaction.atomic():
        mapping, created = FieldMapping.objects.update_or_create(
            system=system, field_name=field_name,
            defaults={"element_code": element_code, "transform": transform, "date_format": date_format, "part": part},
        )
        audit_event(actor=actor, action=AuditAction.CREATE if created else AuditAction.UPDATE, obj=mapping,
                    after={"element": element_code, "field": field_name, "transform": transform, "part": part})
    return mapping


def field_mapping_delete(*, system: LineSystem, field_name: str, actor=None) -> None:
    with transaction.atomic():
        mapping = FieldMapping.objects.filter(system=system, field_name=field_name).first()
        if mapping is None:
            raise SystemConfigError(_("%(field)s is not mapped for this system.") % {"field": field_name})
        audit_event(actor=actor, action=AuditAction.DELETE, obj=mapping, before={"field": field_name,
                                                                                 "element": mapping.element_code})
        mapping.delete()


def subscription_save(*, system: LineSystem, entity: str, elements: list[str], area_prefix: str = "",
                      active: bool = True, actor=None) -> Subscription:
    from yici.accounts.models import Area
    from yici.catalog.models import DataElement

    if entity not in ENTITIES:
        raise SystemConfigError(_("Unknown entity %(e)s.") % {"e": entity})
    elements = sorted({e.strip() for e in elements if e.strip()})
    known = set(DataElement.objects.filter(code__in=elements).values_list("code", flat=True))
    unknown = [e for e in elements if e not in known]
    if unknown:
        raise SystemConfigError(_("Not in the data catalog: %(codes)s") % {"codes": ", ".join(unknown)})
    wrong = [e for e in elements if not e.startswith(entity + ".")]
    if wrong:
        raise SystemConfigError(_("Not %(entity)s elements: %(codes)s") % {"entity": entity, "codes": ", ".join(wrong)})
    area_prefix = (area_prefix or "").strip()
    if area_prefix:
        # A full area code or its prefix (330726101 for a township) both name the subtree.
        area = Area.objects.filter(code=area_prefix).first() or Area.objects.filter(prefix=area_prefix).first()
        if area is None:
            raise SystemConfigError(_("%(code)s is not an area code.") % {"code": area_prefix})
        area_prefix = area.prefix
    with transaction.atomic():
        sub, created = Subscription.objects.update_or_create(
            system=system, entity=entity, defaults={"elements": elements, "area_prefix": area_prefix, "active": active},
        )
        audit_event(actor=actor, action=AuditAction.CREATE if created else AuditAction.UPDATE, obj=sub,
                    after={"entity": entity, "elements": elements, "area_prefix": area_prefix, "active": active})
    return sub


def delivery_replay(*, delivery: Delivery, actor=None) -> bool:
    """Put one dead or refused delivery back in the queue, due now."""
    with transaction.atomic():
        count = Delivery.objects.filter(pk=delivery.pk, status__in=[DeliveryStatus.DEAD, DeliveryStatus.FAILED]).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), claim_token="",
            claimed_until=None,
        )
        if count:
            audit_event(actor=actor, action=AuditAction.UPDATE, obj=delivery, before={"status": delivery.status},
                        after={"status": DeliveryStatus.PENDING}, reason="replay")
    return bool(count)


def system_replay_dead(*, system: LineSystem, include_refused: bool = False, actor=None) -> int:
    """Put all of a system's dead letters (and refused deliveries, if asked) back in the queue."""
    from yici.exchange.delivery import replay

    statuses = (DeliveryStatus.DEAD, DeliveryStatus.FAILED) if include_refused else (DeliveryStatus.DEAD,)
    with transaction.atomic():
        count = replay(system=system, statuses=statuses)
        if count:
            audit_event(actor=actor, action=AuditAction.UPDATE, obj=system, after={"replayed": count},
                        reason="replay dead letters")
    return count


def breaker_reset(*, system: LineSystem, actor=None) -> None:
    with transaction.atomic():
        LineSystemEndpoint.objects.filter(system=system).update(breaker_failures=0, breaker_open_until=None)
        audit_event(actor=actor, action=AuditAction.UPDATE, obj=system, after={"breaker": "closed"},
                    reason="breaker reset")
