"""Reads of the burden counters, summed for dashboards."""

import datetime
from collections.abc import Iterable

from django.db.models import Sum

from yici.burden.models import BurdenCount

GROUP_BY_FIELDS = frozenset({"day", "user", "area_code", "metric", "context"})


def burden_totals(
    *,
    area_prefix: str,
    metric: str | Iterable[str] | None = None,
    day_from: datetime.date | None = None,
    day_to: datetime.date | None = None,
    group_by: Iterable[str] = ("metric",),
) -> list[dict]:
    """Sums of the counters in the subtree ``area_prefix``, one row per distinct ``group_by`` key.

    The caller scopes: pass the requesting user's ``area_prefix`` (``""`` means every area, and
    also counters recorded without one). ``metric`` is one metric or several; ``day_from`` and
    ``day_to`` are inclusive. Each row holds the ``group_by`` fields (``user`` as the user's id)
    and ``total``, ordered by the ``group_by`` fields. With ``group_by=()`` there is exactly one
    row, the grand total (0 when nothing was counted).
    """
    group_by = tuple(group_by)
    if unknown := set(group_by) - GROUP_BY_FIELDS:
        raise ValueError(f"cannot group burden counts by {sorted(unknown)}")
    counts = BurdenCount.objects.filter(area_code__startswith=area_prefix)
    if isinstance(metric, str):
        counts = counts.filter(metric=metric)
    elif metric is not None:
        counts = counts.filter(metric__in=list(metric))
    if day_from is not None:
        counts = counts.filter(day__gte=day_from)
    if day_to is not None:
        counts = counts.filter(day__lte=day_to)
    if not group_by:
        return [{"total": counts.aggregate(total=Sum("count"))["total"] or 0}]
    return list(counts.values(*group_by).annotate(total=Sum("count")).order_by(*group_by))
