import datetime

import pytest

from yici.burden.selectors import burden_totals
from yici.burden.services import burden_record
from yici.testing.fixtures import NEIGHBOUR_VILLAGE, OTHER_VILLAGE, VILLAGE

D1 = datetime.date(2026, 3, 1)
D2 = datetime.date(2026, 3, 2)
D3 = datetime.date(2026, 3, 3)


@pytest.fixture
def counts(world):
    burden_record(metric="fields_typed", user=world.cadre, count=10, context="低保年审", day=D1)
    burden_record(metric="fields_typed", user=world.cadre, count=5, context="危房排查", day=D2)
    burden_record(metric="fields_autofilled", user=world.cadre, count=30, context="低保年审", day=D2)
    burden_record(metric="fields_typed", user=world.township_staff, area_code=NEIGHBOUR_VILLAGE, count=7, day=D3)
    burden_record(metric="fields_typed", user=world.outsider, count=100, day=D2)
    burden_record(metric="requests_refused", area_code=OTHER_VILLAGE, count=2, day=D2)
    burden_record(metric="login", user=None, day=D2)


def test_it_sums_per_metric_within_the_area_prefix(world, counts):
    assert burden_totals(area_prefix=world.township.prefix) == [
        {"metric": "fields_autofilled", "total": 30},
        {"metric": "fields_typed", "total": 22},
    ]
    assert burden_totals(area_prefix=world.other_township.prefix) == [
        {"metric": "fields_typed", "total": 100},
        {"metric": "requests_refused", "total": 2},
    ]


def test_an_empty_prefix_sums_everything_including_rows_without_an_area(world, counts):
    totals = {r["metric"]: r["total"] for r in burden_totals(area_prefix="")}
    assert totals == {"fields_typed": 122, "fields_autofilled": 30, "requests_refused": 2, "login": 1}


def test_it_filters_by_metric_and_days(world, counts):
    prefix = world.county.prefix
    assert burden_totals(area_prefix=prefix, metric="fields_typed", group_by=()) == [{"total": 122}]
    assert burden_totals(area_prefix=prefix, metric=["fields_typed", "requests_refused"], group_by=()) == [{"total": 124}]
    assert burden_totals(area_prefix=prefix, metric="fields_typed", day_from=D2, group_by=()) == [{"total": 112}]
    assert burden_totals(area_prefix=prefix, metric="fields_typed", day_to=D2, group_by=()) == [{"total": 115}]
    assert burden_totals(area_prefix=prefix, day_from=D2, day_to=D2, group_by=("day",)) == [{"day": D2, "total": 137}]


def test_it_groups_by_several_fields(world, counts):
    rows = burden_totals(area_prefix=VILLAGE, metric="fields_typed", group_by=("day", "user", "context"))
    assert rows == [
        {"day": D1, "user": world.cadre.pk, "context": "低保年审", "total": 10},
        {"day": D2, "user": world.cadre.pk, "context": "危房排查", "total": 5},
    ]
    by_area = burden_totals(area_prefix=world.township.prefix, metric="fields_typed", group_by=["area_code"])
    assert by_area == [{"area_code": VILLAGE, "total": 15}, {"area_code": NEIGHBOUR_VILLAGE, "total": 7}]


def test_the_grand_total_of_nothing_is_zero(world):
    assert burden_totals(area_prefix=world.county.prefix, group_by=()) == [{"total": 0}]
    assert burden_totals(area_prefix=world.county.prefix) == []


def test_it_refuses_to_group_by_an_unknown_field(world):
    with pytest.raises(ValueError, match="cannot group"):
        burden_totals(area_prefix="", group_by=("count",))
