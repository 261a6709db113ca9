"""Exchange reads: import batches and their problem rows, for the roles that import files."""

import re
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from yici.accounts.models import User
from yici.accounts.roles import Role
from yici.catalog.models import DataElement
from yici.catalog.selectors import element_by_code_map
from yici.exchange.models import ImportBatch, LineSystem
from yici.registry.masking import mask_id_number, mask_phone
from yici.registry.models import RecordStatus, SourceRecord
from yici.registry.sensitive import element_is_sensitive, mask_element_value

# Roles that upload department exports: the county's administrators and the departments' staff.
IMPORT_ROLES = frozenset({Role.COUNTY_ADMIN, Role.DEPARTMENT_STAFF})


def can_import(user: User) -> bool:
    return user.is_authenticated and user.role in IMPORT_ROLES and user.area_prefix is not None


def _area_scope(queryset: QuerySet, user: User) -> QuerySet:
    """Rows in the user's subtree, and rows without an area (a file need not name one)."""
    if not can_import(user):
        return queryset.none()
    return queryset.filter(Q(area_code="") | Q(area_code__startswith=user.area_prefix))


def import_batch_list(*, user: User) -> QuerySet[ImportBatch]:
    """Import batches the user may see, newest first."""
    return _area_scope(ImportBatch.objects.select_related("system", "created_by"), user).order_by("-created_at", "-id")


def import_batch_get(*, user: User, pk: int) -> ImportBatch | None:
    return import_batch_list(user=user).filter(pk=pk).first()


def line_system_list() -> QuerySet[LineSystem]:
    return LineSystem.objects.select_related("department").order_by("code")


@dataclass
class Problem:
    column: str  # "C 身份证号", or the element code when the mapping does not name it
    element: str
    level: str  # error | warning
    message: str
    original: str  # masked when the element is sensitive


@dataclass
class ProblemRow:
    row_number: int | None
    sheet_row: int | None
    status: str
    status_label: str
    problems: list[Problem]


def import_problem_records(*, user: User, batch: ImportBatch) -> QuerySet[SourceRecord]:
    """The batch's rows with warnings or invalid values (owner facets excluded), in file order."""
    records = SourceRecord.objects.filter(batch=batch, parent__isnull=True).exclude(status=RecordStatus.OK)
    return _area_scope(records, user).order_by("row_number", "id")


def problem_rows(*, batch: ImportBatch, records) -> list[ProblemRow]:
    """What went wrong in each of ``records`` (a page of ``import_problem_records``), column by column."""
    elements = element_by_code_map()
    columns = {
        c["element"]: f"{c.get('letter', '')} {c.get('header', '')}".strip() for c in batch.mapping or [] if c.get("element")
    }
    rows = []
    for record in records:
        problems = []
        for code, issues in (record.issues or {}).items():
            original = mask_element_value(code, elements.get(code), (record.raw or {}).get(code, ""))
            for issue in issues:
                problems.append(Problem(
                    column=columns.get(code, code), element=code, level=issue.get("level", ""),
                    message=issue.get("message", ""), original=original,
                ))
        rows.append(ProblemRow(
            row_number=record.row_number, sheet_row=record.sheet_row, status=record.status,
            status_label=record.get_status_display(), problems=problems,
        ))
    return rows


# --- the mapping preview -------------------------------------------------------------------------

_ID_LIKE = re.compile(r"^(\d{17}[\dXx]|\d{15})$")
_PHONE_LIKE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")


def _sample_text(value, code: str | None, elements: dict) -> str:
    """A sample cell as the preview shows it: masked when its column or its look says it is sensitive."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if code and element_is_sensitive(code, elements.get(code)):
        return mask_element_value(code, elements.get(code), text)
    bare = re.sub(r"[\s\-]", "", text)
    if _ID_LIKE.match(bare):
        return mask_id_number(bare)
    if _PHONE_LIKE.match(bare):
        return mask_phone(bare[-11:])
    return text[:60]


@dataclass
class ColumnPreview:
    letter: str
    header_path: str
    element: str | None
    confidence: float
    method: str
    low_confidence: bool
    samples: list[str]
    candidates: list[tuple[str, float]]


def plan_preview(plan, *, samples: int = 3) -> list[ColumnPreview]:
    """Each column of an import plan with a few sample values (masked) and the proposed element."""
    elements = element_by_code_map()
    out = []
    for c in plan.columns:
        values = plan.table.column_values(c.index, limit=samples)
        out.append(ColumnPreview(
            letter=c.letter, header_path=" / ".join(p for p in c.header_path if p) or "—", element=c.element,
            confidence=c.confidence, method=c.method, low_confidence=c.low_confidence,
            samples=[_sample_text(v, c.element, elements) for v in values], candidates=c.candidates,
        ))
    return out


def element_choices() -> list[tuple[str, str, str]]:
    """(code, Chinese name, entity) of every catalog element, in catalog order, for the mapping select."""
    return list(DataElement.objects.order_by("order", "code").values_list("code", "name_zh", "entity"))


# --- line systems: who may see them, their health, where a fact went ---------------------------------

# County admins manage line systems; department staff see their own department's.
SYSTEM_VIEW_ROLES = frozenset({Role.COUNTY_ADMIN, Role.DEPARTMENT_STAFF})
SYSTEM_MANAGE_ROLES = frozenset({Role.COUNTY_ADMIN})


def can_manage_systems(user: User) -> bool:
    return user.is_authenticated and user.role in SYSTEM_MANAGE_ROLES


def line_systems_for(*, user: User) -> QuerySet[LineSystem]:
    if not user.is_authenticated or user.role not in SYSTEM_VIEW_ROLES:
        return LineSystem.objects.none()
    systems = LineSystem.objects.select_related("department", "endpoint").order_by("code")
    if user.role == Role.DEPARTMENT_STAFF:
        systems = systems.filter(department_id=user.department_id) if user.department_id else systems.none()
    return systems


@dataclass
class SystemHealth:
    system: LineSystem
    kind: str
    active: bool
    breaker: str
    breaker_label: str
    pending: int
    dead: int
    refused: int
    sent_24h: int
    attempts_24h: int
    success_rate: float | None  # share of attempts in the last 24 h that were accepted
    lag_seconds: float | None  # how long the oldest waiting delivery has waited
    last_sent_at: object


def system_health(systems) -> list[SystemHealth]:
    """Health of each system in a fixed number of queries (not one per system)."""
    from datetime import timedelta

    from django.db.models import Count, Max, Min
    from django.utils import timezone

    from yici.exchange.models_outbox import BreakerState, Delivery, DeliveryAttempt, DeliveryStatus

    systems = list(systems)
    ids = [s.pk for s in systems]
    now = timezone.now()
    since = now - timedelta(hours=24)
    counts: dict[tuple[int, str], int] = {}
    for row in Delivery.objects.filter(system_id__in=ids).values("system_id", "status").annotate(n=Count("id")):
        counts[(row["system_id"], row["status"])] = row["n"]
    oldest = dict(Delivery.objects.filter(system_id__in=ids, status=DeliveryStatus.PENDING).values("system_id")
                  .annotate(first=Min("created_at")).values_list("system_id", "first"))
    last_sent = dict(Delivery.objects.filter(system_id__in=ids, status=DeliveryStatus.SENT).values("system_id")
                     .annotate(last=Max("sent_at")).values_list("system_id", "last"))
    attempts: dict[int, tuple[int, int]] = {}
    for row in (DeliveryAttempt.objects.filter(delivery__system_id__in=ids, started_at__gte=since)
                .values("delivery__system_id", "ok").annotate(n=Count("id"))):
        total, ok = attempts.get(row["delivery__system_id"], (0, 0))
        attempts[row["delivery__system_id"]] = (total + row["n"], ok + (row["n"] if row["ok"] else 0))
    sent_24h = dict(Delivery.objects.filter(system_id__in=ids, sent_at__gte=since).values("system_id")
                    .annotate(n=Count("id")).values_list("system_id", "n"))
    labels = dict(BreakerState.choices)
    out = []
    for system in systems:
        endpoint = getattr(system, "endpoint", None)
        breaker = endpoint.breaker_state(now) if endpoint else BreakerState.CLOSED
        total, ok = attempts.get(system.pk, (0, 0))
        first = oldest.get(system.pk)
        out.append(SystemHealth(
            system=system, kind=endpoint.kind if endpoint else "", active=bool(endpoint and endpoint.active),
            breaker=breaker, breaker_label=labels[breaker],
            pending=counts.get((system.pk, DeliveryStatus.PENDING), 0),
            dead=counts.get((system.pk, DeliveryStatus.DEAD), 0),
            refused=counts.get((system.pk, DeliveryStatus.FAILED), 0),
            sent_24h=sent_24h.get(system.pk, 0), attempts_24h=total,
            success_rate=(ok / total) if total else None,
            lag_seconds=(now - first).total_seconds() if first else None,
            last_sent_at=last_sent.get(system.pk),
        ))
    return out


def system_deliveries(*, system: LineSystem, status: str = "") -> QuerySet:
    from yici.exchange.models_outbox import Delivery

    deliveries = Delivery.objects.filter(system=system).order_by("-id")
    return deliveries.filter(status=status) if status else deliveries


@dataclass
class TrailEntry:
    system: LineSystem
    version: int
    status: str
    status_label: str
    fields: list[str]
    created_at: object
    sent_at: object
    attempts: int


def fact_trail(*, entity: str, golden_id: int, limit: int = 50) -> list[TrailEntry]:
    """Where one record went: every delivery of it (any status), newest first, with the fields it carried."""
    from yici.exchange.models_outbox import Delivery

    rows = (Delivery.objects.filter(entity=entity, golden_id=golden_id).select_related("system")
            .order_by("-id")[:limit])
    return [TrailEntry(system=d.system, version=d.version, status=d.status, status_label=d.get_status_display(),
                       fields=list(d.payload.get("changed") or []), created_at=d.created_at, sent_at=d.sent_at,
                       attempts=d.attempts) for d in rows]


def fact_reads(*, entity: str, golden_id: int, limit: int = 20):
    from yici.exchange.models_outbox import PullRead

    return list(PullRead.objects.filter(entity=entity, golden_id=golden_id).select_related("system")[:limit])
