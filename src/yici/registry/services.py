"""Registry writes. Each takes ``actor=`` and writes its audit rows."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yici.audit.models import AuditAction
from yici.audit.services import audit_event, audit_reveal
from yici.exchange.outbox import outbox_record_changes, outbox_record_merged
from yici.registry import reconcile
from yici.registry.golden import DERIVED
from yici.registry.masking import SENSITIVE_FIELDS
from yici.registry.models import Link, LinkMethod, Person, ReviewPair, ReviewStatus, SourceKind, SourceRecord


def person_reveal(*, person: Person, field: str, actor, reason: str, request=None) -> str:
    """Return the full value of a sensitive field and record who read it and why."""
    if field not in SENSITIVE_FIELDS:
        raise ValueError(f"{field!r} is not a sensitive field")
    audit_reveal(actor=actor, obj=person, field=field, reason=reason, request=request)
    return getattr(person, field)


# --- review queue: merge / keep apart, and undoing either -------------------------------------------

class ReviewError(Exception):
    """The decision cannot be applied (the message is one line)."""


def _golden_of(record_id: int, entity: str):
    link = Link.objects.filter(record_id=record_id, active=True).first()
    return getattr(link, f"{entity}_id") if link else None


@transaction.atomic
def review_decide(*, pair: ReviewPair, same: bool, actor) -> ReviewPair:
    """Record a person's decision on an uncertain pair and apply it to the golden records.

    ``same``: the right record's golden entity is merged into the left's (all its records move;
    the emptied golden record points to its successor). Otherwise the two stay apart, and every
    later reconcile run honours it. Either way the decision can be undone with ``review_undo``.
    """
    pair = ReviewPair.objects.select_for_update().get(pk=pair.pk)
    if pair.status != ReviewStatus.OPEN:
        raise ReviewError(_("This pair has already been decided."))
    entity = pair.entity
    model = reconcile.ENTITY_MODELS[entity]
    fk = f"{entity}_id"
    moved: list[int] = []
    left_id, right_id = _golden_of(pair.left_id, entity), _golden_of(pair.right_id, entity)
    if same and left_id and right_id and left_id != right_id:
        now = timezone.now()
        links = list(Link.objects.filter(active=True, **{fk: right_id}))
        moved = [link.record_id for link in links]
        Link.objects.filter(pk__in=[link.pk for link in links]).update(active=False, ended_at=now)
        Link.objects.bulk_create([
            Link(record_id=rid, method=LinkMethod.MANUAL, created_by=actor, probability=pair.probability, **{fk: left_id})
            for rid in moved
        ])
        model.objects.filter(pk=right_id).update(merged_into_id=left_id)
        outbox_record_merged(entity=entity, merged={right_id: left_id})
        reconcile.recompute_golden(entity, {left_id})
    pair.status = ReviewStatus.MERGED if same else ReviewStatus.APART
    pair.decided_by, pair.decided_at = actor, timezone.now()
    pair.moved_records = moved
    pair.save()
    audit_event(
        actor=actor, action="update", obj=pair, before={"status": ReviewStatus.OPEN},
        after={"status": pair.status, "left_golden": left_id, "right_golden": right_id, "moved_records": moved},
    )
    return pair


@transaction.atomic
def review_undo(*, pair: ReviewPair, actor) -> ReviewPair:
    """Undo a decision: a merge is split again (the moved records go back), and the pair reopens."""
    pair = ReviewPair.objects.select_for_update().get(pk=pair.pk)
    if pair.status == ReviewStatus.OPEN:
        raise ReviewError(_("This pair has not been decided yet."))
    entity = pair.entity
    model = reconcile.ENTITY_MODELS[entity]
    fk = f"{entity}_id"
    before = pair.status
    if pair.status == ReviewStatus.MERGED and pair.moved_records:
        # The golden record the moved records had before the merge still exists (merged_into is set).
        previous = (
            Link.objects.filter(record_id__in=pair.moved_records, active=False)
            .order_by("-ended_at").values_list("record_id", fk)
        )
        back: dict[int, int] = {}
        for rid, gid in previous:
            back.setdefault(rid, gid)
        now = timezone.now()
        current = Link.objects.filter(record_id__in=pair.moved_records, active=True)
        touched = set(current.values_list(fk, flat=True)) | set(back.values())
        current.update(active=False, ended_at=now)
        Link.objects.bulk_create([
            Link(record_id=rid, method=LinkMethod.MANUAL, created_by=actor, **{fk: gid}) for rid, gid in back.items()
        ])
        restored = set(back.values())
        model.objects.filter(pk__in=restored).update(merged_into_id=None)
        reconcile.recompute_golden(entity, touched)
        # A record back from a merge is news in full to the systems that were told it was merged.
        from yici.registry.golden import element_values

        for obj in model.objects.filter(pk__in=restored):
            obj.version += 1
            model.objects.filter(pk=obj.pk).update(version=obj.version)
            outbox_record_changes(entity=entity, changes=[(obj.pk, obj.version, element_values(entity, obj).keys())])
    pair.status, pair.decided_by, pair.decided_at, pair.moved_records = ReviewStatus.OPEN, None, None, []
    pair.save()
    audit_event(actor=actor, action="update", obj=pair, before={"status": before}, after={"status": ReviewStatus.OPEN})
    return pair


@transaction.atomic
def record_split(*, record_id: int, actor) -> int:
    """Take one source record out of its golden record into a new one ("this is someone else").

    A keep-apart decision against the records it leaves is stored, so no later reconcile run
    merges it back; ``review_undo`` on that decision (or ``record_rejoin``) reverses the split.
    Returns the new golden record's id.
    """
    link = Link.objects.select_for_update().filter(record_id=record_id, active=True).select_related("record").first()
    if link is None:
        raise ReviewError(_("This record is not linked to anything."))
    entity = link.record.entity
    model = reconcile.ENTITY_MODELS[entity]
    fk = f"{entity}_id"
    old_golden = getattr(link, fk)
    others = list(
        Link.objects.filter(active=True, **{fk: old_golden}).exclude(record_id=record_id).values_list("record_id", flat=True)
    )
    if not others:
        raise ReviewError(_("This record is the only one of its golden record; there is nothing to split."))
    now = timezone.now()
    link.active, link.ended_at = False, now
    link.save(update_fields=["active", "ended_at"])
    new_golden = model.objects.create(area_code=link.record.area_code)
    Link.objects.create(record_id=record_id, method=LinkMethod.MANUAL, created_by=actor, **{fk: new_golden.pk})
    left, right = min(record_id, others[0]), max(record_id, others[0])
    pair, _created = ReviewPair.objects.update_or_create(
        left_id=left, right_id=right,
        defaults={"entity": entity, "probability": link.probability or 1.0, "area_code": link.record.area_code,
                  "status": ReviewStatus.APART, "decided_by": actor, "decided_at": now, "moved_records": []},
    )
    reconcile.recompute_golden(entity, {old_golden, new_golden.pk})
    audit_event(actor=actor, action="update", obj=link.record,
                before={fk: old_golden}, after={fk: new_golden.pk, "kept_apart_by": pair.pk})
    return new_golden.pk


def golden_keep_baseline(*, entity: str, obj, actor, context: str) -> None:
    """A golden record made without any source (by hand, or in a test) would lose its values when
    they are recomputed from its links: its present values become a record of their own first."""
    from yici.registry.golden import element_values

    if Link.objects.filter(active=True, **{entity: obj}).exists():
        return
    values = {k: v for k, v in element_values(entity, obj).items() if k not in DERIVED and v}
    record = SourceRecord.objects.create(
        kind=SourceKind.USER, entity=entity, values=values, raw=values, area_code=obj.area_code,
        observed_at=obj.updated_at or obj.created_at, actor=None, context=context,
    )
    Link.objects.create(record=record, method=LinkMethod.DIRECT, created_by=actor, **{entity: obj})


def golden_record_change(*, entity: str, obj, values: dict[str, str], kind: str, actor=None, system=None,
                         context: str = "", raw: dict | None = None, observed_at=None) -> SourceRecord:
    """Record what a person or a line system says about one golden record, and recompute it.

    ``values`` are normalised element values. The statement becomes a source record of its own,
    linked directly to the golden record, so provenance names who said it and survivorship decides
    (an authoritative department's value is not overwritten by a typed one). The golden change and
    its outbox event are written in this same transaction.
    """
    from yici.registry.reconcile import recompute_golden

    with transaction.atomic():
        golden_keep_baseline(entity=entity, obj=obj, actor=actor, context="registry values before a change")
        record = SourceRecord.objects.create(
            kind=kind, system=system, entity=entity, values=values, raw=raw if raw is not None else values,
            area_code=obj.area_code, observed_at=observed_at or timezone.now(), actor=actor, context=context[:200],
        )
        Link.objects.create(record=record, method=LinkMethod.DIRECT, created_by=actor, **{entity: obj})
        recompute_golden(entity, {obj.pk})
        if actor is not None:
            audit_event(actor=actor, action=AuditAction.UPDATE, obj=obj, after=values, reason=context[:200])
    return record


class RecordEditError(Exception):
    """Typed values that cannot be saved; ``errors`` by element code. Nothing was saved."""

    def __init__(self, message: str, errors: dict[str, str]):
        super().__init__(message)
        self.errors = errors


class EditableElement:
    """One element on the edit page: its current value (masked when sensitive) and what was typed."""

    def __init__(self, code: str, name: str, kind: str, current: str, shown: str, sensitive: bool, choices: list[str]):
        self.code, self.name, self.kind = code, name, kind
        self.current, self.shown, self.sensitive, self.choices = current, shown, sensitive, choices
        self.typed = "" if sensitive else current


def editable_elements(*, entity: str, obj) -> list[EditableElement]:
    """The catalog elements of ``entity`` a person may correct (derived ones are computed, not typed)."""
    from yici.catalog.models import DataElement
    from yici.registry.golden import element_values
    from yici.registry.sensitive import element_is_sensitive, mask_element_value

    values = element_values(entity, obj)
    out = []
    for element in DataElement.objects.filter(entity=entity).prefetch_related("code_values").order_by("order", "code"):
        if element.code in DERIVED or element.code.endswith(".area_code"):
            continue
        current = values.get(element.code, "")
        sensitive = element_is_sensitive(element.code, element)
        out.append(EditableElement(
            code=element.code, name=element.name_zh, kind=element.type, current=current,
            shown=mask_element_value(element.code, element, current) if sensitive else current, sensitive=sensitive,
            choices=[v.label for v in element.code_values.all()],
        ))
    return out


def golden_record_edit(*, entity: str, obj, typed: dict[str, str], actor) -> dict[str, str]:
    """Save the values a person typed that differ from the golden ones; returns them (element → value).

    A sensitive element left blank keeps its value (its page shows it masked); any invalid value
    refuses the whole edit with the reasons. Counted as fields typed in the burden metrics.
    """
    from yici.burden.models import BurdenMetric
    from yici.burden.services import burden_record
    from yici.registry.golden import element_values
    from yici.registry.normalize import ERROR, element_specs_from_catalog, normalize

    current = element_values(entity, obj)
    specs = element_specs_from_catalog()
    changes, errors = {}, {}
    for code, raw in typed.items():
        raw = (raw or "").strip()
        if not raw or not code.startswith(entity + ".") or code in DERIVED:
            continue
        spec = specs.get(code)
        if spec is None:
            errors[code] = _("not an element of the data catalog")
            continue
        normalized = normalize(spec, raw)
        if not normalized.ok or not normalized.value:
            errors[code] = "; ".join(i.message for i in normalized.issues if i.level == ERROR) or _("cannot be read")
            continue
        if normalized.value != current.get(code, ""):
            changes[code] = normalized.value
    if errors:
        raise RecordEditError(_("Some values cannot be saved; nothing was changed."), errors)
    if changes:
        golden_record_change(entity=entity, obj=obj, values=changes, raw={k: typed[k] for k in changes},
                             kind=SourceKind.USER, actor=actor, context=_("corrected on Yici"))
        burden_record(metric=BurdenMetric.FIELDS_TYPED, user=actor, count=len(changes), context=f"edit:{entity}")
    return changes
