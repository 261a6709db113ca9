"""The burden recorder: later features call ``burden_record`` to count what they saved or cost."""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from yici.burden.models import BurdenCount, BurdenMetric


def burden_record(
    *,
    metric: str,
    user=None,
    area_code: str | None = None,
    count: int = 1,
    context: str = "",
    day: datetime.date | None = None,
) -> None:
    """Add ``count`` to today's counter for (user, area, metric, context).

    The area defaults to the user's; ``count`` may be large (cells filled) and must not be negative.
    """
    if metric not in BurdenMetric.values:
        raise ValueError(f"unknown burden metric {metric!r}")
    if count < 0:
        raise ValueError("a burden count cannot be negative")
    if count == 0:
        return
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    if area_code is None:
        area_code = user.area.code if user is not None and user.area_id else ""
    day = day or timezone.localdate()
    key = {"day": day, "user": user, "area_code": area_code, "metric": metric, "context": context[:100]}
    # Increment in the database so that concurrent recorders never lose a count.
    if BurdenCount.objects.filter(**key).update(count=F("count") + count):
        return
    try:
        with transaction.atomic():
            BurdenCount.objects.create(count=count, **key)
    except IntegrityError:
        BurdenCount.objects.filter(**key).update(count=F("count") + count)
