"""How the registry's tables are indexed."""

import pytest
from django.db import connection

from yici.registry.models import Household, Person


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite plans without statistics; PostgreSQL keeps them")
@pytest.mark.django_db
def test_live_records_are_found_by_their_own_columns_not_by_the_merge_index():
    # Nearly every row has no merged_into_id: an index of all of them would be chosen by SQLite
    # for "merged_into_id IS NULL" and make it read the whole table (a county's 173,000
    # households for each batch of 户号, its 620,000 persons to list one village).
    households = Household.objects.filter(merged_into_id__isnull=True, household_no__in=[f"{n:010d}" for n in range(500)])
    assert "household_no" in households.explain()
    village = Person.objects.filter(merged_into_id__isnull=True, area_code__startswith="330726101")
    assert "area_code" in village.explain()
    # What was merged into a record is still found by an index.
    assert "merged" in Person.objects.filter(merged_into_id=5).explain()
