"""Reads for the report catalog and collections, scoped to the requesting user.

Departments (and the county admin) manage reports and collections; department staff see their own
department's. Village cadres (and township staff) see the instances of villages in their area. A
user whose role may not use a page gets 403; a row outside the user's scope is 404.
"""

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from yici.accounts.models import Area, AreaLevel
from yici.accounts.roles import Role
from yici.catalog.mapping import element_index
from yici.reports.models import Collection, InstanceStatus, Report, ReportInstance, ReportStatus
from yici.reports.population import FilterError, check_reachable, parse_where, population

REPORT_ROLES = frozenset({Role.COUNTY_ADMIN, Role.DEPARTMENT_STAFF})
ENTRY_ROLES = frozenset({Role.VILLAGE_CADRE, Role.TOWNSHIP_STAFF})


def can_manage_reports(user) -> bool:
    if not getattr(user, "is_authenticated", False) or user.area_id is None:
        return False
    return user.role == Role.COUNTY_ADMIN or (user.role == Role.DEPARTMENT_STAFF and user.department_id is not None)


def can_enter(user) -> bool:
    return getattr(user, "is_authenticated", False) and user.role in ENTRY_ROLES and user.area_id is not None


def require_manager(user) -> None:
    if not can_manage_reports(user):
        raise PermissionDenied


def _own(user, qs, path: str = "department"):
    return qs if user.role == Role.COUNTY_ADMIN else qs.filter(**{f"{path}_id": user.department_id})


def report_list(*, user):
    """The catalog: every registered report (to see what is already asked), and the user's own drafts."""
    require_manager(user)
    mine = Q() if user.role == Role.COUNTY_ADMIN else Q(department_id=user.department_id)
    return (Report.objects.filter(Q(status=ReportStatus.REGISTERED) | (mine & ~Q(status=ReportStatus.REGISTERED)))
            .select_related("department").annotate(sent=Count("collections")))


def report_for_user(*, user, pk: int) -> Report:
    require_manager(user)
    report = _own(user, Report.objects.select_related("department", "registered_by")).filter(pk=pk).first()
    if report is None:
        raise Http404
    return report


def collection_list(*, user, report: Report | None = None):
    require_manager(user)
    qs = _own(user, Collection.objects.select_related("report", "sent_by"), "report__department")
    if report is not None:
        qs = qs.filter(report=report)
    return qs.annotate(villages=Count("instances"),
                       submitted=Count("instances", filter=Q(instances__status=InstanceStatus.SUBMITTED)))


def collection_for_user(*, user, pk: int) -> Collection:
    require_manager(user)
    qs = _own(user, Collection.objects.select_related("report__department", "sent_by"), "report__department")
    collection = qs.filter(pk=pk).first()
    if collection is None:
        raise Http404
    return collection


def instance_list(*, user):
    """The cadre's work list: instances of villages in the user's area, open ones first."""
    if not can_enter(user):
        raise PermissionDenied
    return (ReportInstance.objects.filter(area__code__startswith=user.area_prefix)
            .select_related("collection__report__department", "area").defer("workbook")
            .order_by("status", "collection__due_date", "-id"))


def instance_for_user(*, user, pk: int) -> ReportInstance:
    if not can_enter(user):
        raise PermissionDenied
    instance = (ReportInstance.objects.select_related("collection__report__department", "area")
                .filter(pk=pk, area__code__startswith=user.area_prefix).first())
    if instance is None:
        raise Http404
    return instance


def instance_in_collection(*, collection: Collection, pk: int) -> ReportInstance:
    instance = collection.instances.select_related("area").filter(pk=pk).first()
    if instance is None:
        raise Http404
    return instance


def village_choices(*, user):
    """The villages a user may send a report to: those of the user's area."""
    return Area.objects.filter(level=AreaLevel.VILLAGE, code__startswith=user.area_prefix or "\x00").order_by("code")


# --- duplicate-ask detection -------------------------------------------------------------------------

@dataclass
class ColumnOverlap:
    letter: str
    header: str
    element: str
    element_name: str = ""
    reports: list[Report] = field(default_factory=list)  # other registered reports asking for the element
    held: int = 0  # rows of the population with a golden value
    total: int = 0

    @property
    def share(self) -> int:
        return round(100 * self.held / self.total) if self.total else 0


def report_overlap(*, report: Report, user) -> list[ColumnOverlap]:
    """For each mapped column: which other registered reports already collect the same element,
    and what share of the report's population (in the user's area) the registry already holds it for."""
    index = element_index()
    out = [ColumnOverlap(c["letter"], c["header"], c["element"],
                         getattr(index.by_code.get(c["element"]), "name", c["element"]))
           for c in report.columns if c.get("element")]
    if not out:
        return out
    others = (Report.objects.filter(status=ReportStatus.REGISTERED).exclude(pk=report.pk)
              .select_related("department").order_by("name"))
    for other in others:
        asked = set(other.elements)
        for overlap in out:
            if overlap.element in asked:
                overlap.reports.append(other)
    area = user.area
    try:
        clauses = parse_where(report.population_filter, elements=index)
        check_reachable(clauses, report.entity)
    except FilterError:
        return out
    rows = population(entity=report.entity, area=area, clauses=clauses, as_of=timezone.localdate())
    for overlap in out:
        overlap.total = len(rows)
        overlap.held = sum(1 for r in rows if r.values.get(overlap.element))
    return out
