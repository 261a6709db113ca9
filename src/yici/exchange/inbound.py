"""Changes a line system sends back, and records it reads (the pull API).

An inbound change names a record Yici sent it (``id``) or describes a new one (with an
``area_code``), in the system's own vocabulary. It is translated through the system's field
mapping, validated like any other value, and becomes a source record with that system as its
provenance; the golden record is recomputed and the change is then shared onward like any other.
Everything is checked before anything is written: a change is applied whole or not at all, and a
retried change (same idempotency key) is answered from the first time.
"""

import datetime
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from yici.exchange.models import InboundChange, InboundStatus, LineSystem, PullRead, Subscription
from yici.exchange.models_outbox import FieldMapping, ValueTransform
from yici.exchange.outbox import _Plan, build_payload
from yici.registry.selectors import golden_current


class InboundError(Exception):
    """The change cannot be applied; ``errors`` says why, per field."""

    def __init__(self, message: str, errors: dict[str, str] | None = None, status: int = 422):
        super().__init__(message)
        self.message, self.errors, self.status = message, errors or {}, status


@dataclass
class InboundResult:
    change: InboundChange
    replayed: bool = False


def _subscription(system: LineSystem, entity: str) -> Subscription:
    sub = Subscription.objects.filter(system=system, entity=entity, active=True).first()
    if sub is None:
        raise InboundError(_("this system has no subscription for %(entity)s records") % {"entity": entity}, status=403)
    return sub


def _untransform(mapping: FieldMapping, value) -> str:
    """Their value → the text Yici's normaliser reads (code lists are read by code or label alike)."""
    text = "" if value is None else str(value).strip()
    if text and mapping.transform == ValueTransform.DATE and mapping.date_format:
        try:
            return datetime.datetime.strptime(text, mapping.date_format).date().isoformat()
        except ValueError:
            return text  # the normaliser reports it
    return text


def translate(system: LineSystem, entity: str, data) -> tuple[dict[str, str], dict[str, str]]:
    """Their fields → normalised element values; raises ``InboundError`` listing every bad field."""
    from yici.registry.normalize import ERROR, element_specs_from_catalog, normalize

    if not isinstance(data, dict) or not data:
        raise InboundError(_("'data' must be a non-empty object of field → value"), status=400)
    mappings = {m.field_name: m for m in FieldMapping.objects.filter(system=system)
                if m.element_code.startswith(entity + ".")}
    specs = element_specs_from_catalog()
    values, errors = {}, {}
    for field, value in data.items():
        mapping = mappings.get(field)
        if mapping is None:
            errors[field] = _("not a field of this system's mapping")
            continue
        if mapping.transform == ValueTransform.ADDRESS_PART:
            errors[field] = _("part of an address: send the whole address field")
            continue
        spec = specs.get(mapping.element_code)
        if spec is None:
            errors[field] = _("mapped to %(code)s, which is not in the catalog") % {"code": mapping.element_code}
            continue
        normalized = normalize(spec, _untransform(mapping, value))
        if not normalized.ok:
            errors[field] = "; ".join(i.message for i in normalized.issues if i.level == ERROR)
            continue
        values[mapping.element_code] = normalized.value
    if errors:
        raise InboundError(_("the change has invalid fields; nothing was applied"), errors)
    return values, {str(k): "" if v is None else str(v) for k, v in data.items()}


def inbound_apply(*, system: LineSystem, key: str, body) -> InboundResult:
    """Apply one change sent by ``system`` (idempotent per ``key``); raises ``InboundError`` when refused.

    A refused change is recorded too (status rejected), so the system's log shows it.
    """
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise InboundError(_("an Idempotency-Key header (at most 100 characters) is required"), status=400)
    earlier = InboundChange.objects.filter(system=system, key=key).first()
    if earlier is not None:
        return InboundResult(change=earlier, replayed=True)
    if not isinstance(body, dict):
        raise InboundError(_("the body must be a JSON object"), status=400)
    entity = str(body.get("entity", ""))
    try:
        with transaction.atomic():
            change = _apply(system, key, entity, body)
    except InboundError as exc:
        _remember_refusal(system, key, entity, body, exc)
        raise
    except IntegrityError:  # the same key arrived twice at once: the other one won
        earlier = InboundChange.objects.filter(system=system, key=key).first()
        if earlier is None:
            raise
        return InboundResult(change=earlier, replayed=True)
    return InboundResult(change=change)


def _apply(system: LineSystem, key: str, entity: str, body: dict) -> InboundChange:
    from yici.accounts.models import Area
    from yici.registry.models import SourceKind, SourceRecord
    from yici.registry.reconcile import ENTITY_MODELS, reconcile
    from yici.registry.services import golden_record_change

    if entity not in ENTITY_MODELS:
        raise InboundError(_("unknown entity %(entity)r") % {"entity": entity}, status=400)
    sub = _subscription(system, entity)
    values, raw = translate(system, entity, body.get("data"))
    golden_id = body.get("id")
    context = str(body.get("note", ""))[:200] or _("sent by %(system)s") % {"system": system.name}
    if golden_id not in (None, ""):
        if not str(golden_id).isdigit():
            raise InboundError(_("'id' must be the record ID Yici sent"), status=400)
        obj = golden_current(entity, int(golden_id))
        if obj is None or (sub.area_prefix and not obj.area_code.startswith(sub.area_prefix)):
            raise InboundError(_("no such record in this system's area"), status=404)
        golden_record_change(entity=entity, obj=obj, values=values, raw=raw, kind=SourceKind.INBOUND,
                             system=system, context=context)
        result = {"id": obj.pk, "version": type(obj).objects.get(pk=obj.pk).version}
    else:
        area_code = str(body.get("area_code", "")).strip()
        if not area_code or not Area.objects.filter(code=area_code).exists():
            raise InboundError(_("a new record needs the 'area_code' of an existing area"), {"area_code": area_code})
        if sub.area_prefix and not area_code.startswith(sub.area_prefix):
            raise InboundError(_("that area is outside this system's subscription"), status=403)
        record = SourceRecord.objects.create(kind=SourceKind.INBOUND, system=system, entity=entity, values=values,
                                             raw=raw, area_code=area_code, observed_at=_now(), context=context)
        reconcile(entity=entity)
        linked = record.links.filter(active=True).first()
        obj = getattr(linked, entity, None) if linked else None
        result = {"id": obj.pk if obj else None, "version": obj.version if obj else None}
    return InboundChange.objects.create(system=system, key=key, entity=entity, golden_id=result["id"], payload=body,
                                        values=values, status=InboundStatus.APPLIED, result=result)


def _now():
    from django.utils import timezone

    return timezone.now()


def _remember_refusal(system, key, entity, body, exc: InboundError) -> None:
    try:
        with transaction.atomic():
            InboundChange.objects.create(
                system=system, key=key, entity=entity if len(entity) <= 20 else "", payload=body,
                status=InboundStatus.REJECTED, result={"error": exc.message, "errors": exc.errors, "status": exc.status},
            )
    except IntegrityError:
        pass


def record_for_system(*, system: LineSystem, entity: str, golden_id: int, purpose: str) -> dict:
    """The subscribed fields of one record in the system's vocabulary; the read is logged with its purpose."""
    from yici.registry.golden import element_values
    from yici.registry.reconcile import ENTITY_MODELS

    purpose = (purpose or "").strip()
    if not purpose:
        raise InboundError(_("say why you read this record (?purpose=…)"), status=400)
    if entity not in ENTITY_MODELS:
        raise InboundError(_("unknown entity %(entity)r") % {"entity": entity}, status=404)
    sub = _subscription(system, entity)
    obj = golden_current(entity, golden_id)
    if obj is None or (sub.area_prefix and not obj.area_code.startswith(sub.area_prefix)):
        raise InboundError(_("no such record in this system's area"), status=404)
    plan = _Plan()
    fields = plan.fields(sub)
    payload = build_payload(sub, fields, obj, element_values(entity, obj), (), plan)
    payload.pop("changed", None)
    if obj.pk != golden_id:
        payload["merged_from"] = golden_id
    PullRead.objects.create(system=system, entity=entity, golden_id=obj.pk, purpose=purpose[:200],
                            fields=sorted(payload["data"]))
    return payload
