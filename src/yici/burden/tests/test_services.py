import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from yici.burden.models import BurdenCount
from yici.burden.services import burden_record
from yici.testing.fixtures import COUNTY, VILLAGE

DAY = datetime.date(2026, 3, 2)


def _rows():
    return list(BurdenCount.objects.order_by("id").values_list("day", "user", "area_code", "metric", "context", "count"))


def test_it_accumulates_counts_in_one_row_per_key(world):
    burden_record(metric="fields_typed", user=world.cadre, count=12, context="低保年审", day=DAY)
    burden_record(metric="fields_typed", user=world.cadre, count=3, context="低保年审", day=DAY)
    burden_record(metric="fields_typed", user=world.cadre, context="低保年审", day=DAY)
    assert _rows() == [(DAY, world.cadre.pk, VILLAGE, "fields_typed", "低保年审", 16)]


@pytest.mark.parametrize(
    "change",
    [
        {"context": "危房排查"},
        {"day": DAY + datetime.timedelta(days=1)},
        {"user": "township_staff"},
        {"area_code": "330726101202"},
        {"metric": "fields_autofilled"},
    ],
)
def test_it_keeps_a_separate_row_for_each_key(world, change):
    key = {"metric": "fields_typed", "user": "cadre", "area_code": VILLAGE, "context": "低保年审", "day": DAY}
    other = key | change
    for k in (key, other):
        burden_record(count=2, **k | {"user": getattr(world, k["user"])})
    assert BurdenCount.objects.count() == 2
    assert list(BurdenCount.objects.values_list("count", flat=True)) == [2, 2]


def test_it_defaults_the_area_to_the_users_and_the_day_to_today(world):
    burden_record(metric="login", user=world.auditor)
    row = BurdenCount.objects.get()
    assert (row.area_code, row.user, row.count) == (COUNTY, world.auditor, 1)
    assert row.day == timezone.localdate()


def test_an_explicit_area_wins_over_the_users(world):
    burden_record(metric="requests_received", user=world.admin, area_code=VILLAGE, day=DAY)
    assert BurdenCount.objects.get().area_code == VILLAGE


def test_it_treats_an_anonymous_user_as_nobody(world):
    burden_record(metric="requests_refused", user=AnonymousUser(), day=DAY)
    burden_record(metric="requests_refused", user=None, day=DAY, count=4)
    assert _rows() == [(DAY, None, "", "requests_refused", "", 5)]


def test_it_counts_rows_without_a_user_per_area(world):
    burden_record(metric="duplicates_blocked", area_code=VILLAGE, day=DAY)
    burden_record(metric="duplicates_blocked", area_code=VILLAGE, day=DAY, count=2)
    burden_record(metric="duplicates_blocked", area_code=COUNTY, day=DAY)
    assert [(r[2], r[5]) for r in _rows()] == [(VILLAGE, 3), (COUNTY, 1)]


def test_it_refuses_a_negative_count(world):
    with pytest.raises(ValueError, match="negative"):
        burden_record(metric="fields_typed", user=world.cadre, count=-1)
    assert not BurdenCount.objects.exists()


def test_it_refuses_an_unknown_metric(world):
    with pytest.raises(ValueError, match="unknown burden metric"):
        burden_record(metric="coffee_drunk", user=world.cadre)
    assert not BurdenCount.objects.exists()


def test_a_zero_count_writes_nothing(world):
    burden_record(metric="fields_typed", user=world.cadre, count=0)
    assert not BurdenCount.objects.exists()


def test_it_cuts_a_long_context_to_the_column(world):
    burden_record(metric="entries_shared", user=world.cadre, context="x" * 150, day=DAY)
    burden_record(metric="entries_shared", user=world.cadre, context="x" * 120, day=DAY)
    assert [(len(r[4]), r[5]) for r in _rows()] == [(100, 2)]


def test_it_adds_to_a_row_another_recorder_inserted_meanwhile(world, monkeypatch):
    burden_record(metric="minutes_spent", user=world.cadre, count=5, day=DAY)
    real_update = QuerySet.update
    calls = []

    def update_that_misses_once(self, **kwargs):
        # The first increment finds no row, as if the other recorder had not committed yet; the
        # insert then collides with that row and the service must fall back to incrementing it.
        calls.append(kwargs)
        return 0 if len(calls) == 1 else real_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", update_that_misses_once)
    burden_record(metric="minutes_spent", user=world.cadre, count=7, day=DAY)
    assert len(calls) == 2
    assert _rows() == [(DAY, world.cadre.pk, VILLAGE, "minutes_spent", "", 12)]


@pytest.mark.parametrize("with_user", [True, False])
def test_the_database_refuses_a_second_row_for_a_key(world, with_user):
    key = {"day": DAY, "user": world.cadre if with_user else None, "area_code": VILLAGE, "metric": "login", "context": ""}
    BurdenCount.objects.create(count=1, **key)
    with pytest.raises(IntegrityError), transaction.atomic():
        BurdenCount.objects.create(count=1, **key)
    # Another user, or no user, is another key.
    BurdenCount.objects.create(count=1, **key | {"user": world.township_staff if not with_user else None})
    assert BurdenCount.objects.count() == 2
