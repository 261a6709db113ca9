"""Duplicate asks (issue #7, item 3): overlapping fields of the same population within a window are
linked, and the later request is answered from the earlier one's results."""

import datetime

import pytest
from django.utils import timezone

from yici.burden.models import BurdenCount, BurdenMetric
from yici.inbox import services
from yici.inbox.models import ItemStatus, Task, TaskStatus
from yici.inbox.tests.conftest import form_spec, submit


def wife_key(item) -> str:
    return next(r["key"] for r in item.prefill["rows"] if r["label"] == "李秀英")


def test_a_second_request_for_the_same_fields_is_answered_from_the_first(world, people):
    first = submit(world, title="高龄老人核查", **form_spec(world))
    second = submit(world, title="独居老人统计", **form_spec(world, elements=["person.living_alone"]))
    assert second.status == TaskStatus.ADMITTED
    assert second.duplicate_of == first and second.overlap == ["person.living_alone"]
    assert "linked" in second.decisions.values_list("outcome", flat=True)
    item = second.items.get()
    assert item.status == ItemStatus.LINKED and item.answered_from == first.items.get()
    # The linked copy is not separate work in the cadre's list.
    from yici.inbox.selectors import inbox_items

    assert [i.task_id for i in inbox_items(user=world.cadre)] == [first.pk]

    earlier = first.items.get()
    key = wife_key(earlier)
    services.item_complete(item=earlier, actor=world.cadre, reported_minutes=25,
                           answers={key: {"person.phone": "13600001111", "person.living_alone": "是"}})
    item.refresh_from_db()
    assert item.status == ItemStatus.ANSWERED
    assert item.answers[key] == {"person.living_alone": "是"}
    counts = {c.metric: c.count for c in BurdenCount.objects.filter(
        metric__in=[BurdenMetric.REQUESTS_ANSWERED, BurdenMetric.DUPLICATES_BLOCKED, BurdenMetric.MINUTES_SPENT])}
    assert counts == {BurdenMetric.REQUESTS_ANSWERED: 1, BurdenMetric.DUPLICATES_BLOCKED: 1,
                      BurdenMetric.MINUTES_SPENT: 25}


def test_a_request_after_the_first_is_done_is_answered_at_once(world, people):
    first = submit(world, **form_spec(world))
    earlier = first.items.get()
    services.item_complete(item=earlier, actor=world.cadre,
                           answers={wife_key(earlier): {"person.living_alone": "否"}})
    second = submit(world, **form_spec(world, elements=["person.living_alone", "person.phone"]))
    item = second.items.get()
    assert item.status == ItemStatus.ANSWERED and item.completed_at is not None
    assert item.answers[wife_key(earlier)] == {"person.living_alone": "否"}


def test_a_partial_overlap_is_linked_and_pre_filled_but_still_asked(world, people):
    first = submit(world, **form_spec(world))
    second = submit(world, **form_spec(world, elements=["person.living_alone", "person.current_address"]))
    item = second.items.get()
    assert second.duplicate_of == first and item.status == ItemStatus.OPEN
    earlier = first.items.get()
    key = wife_key(earlier)
    services.item_complete(item=earlier, actor=world.cadre, answers={key: {"person.living_alone": "是"}})
    item.refresh_from_db()
    values = next(r["values"] for r in item.prefill["rows"] if r["key"] == key)
    assert values["person.living_alone"] == "是"  # taken from the first request's results
    assert item.status == ItemStatus.OPEN  # the address is still asked


@pytest.mark.parametrize("overrides", [
    {"population_filter": "age>=60"},
    {"entity": "household", "elements": ["household.address"], "population_filter": "all"},
    {"elements": ["person.education"]},
])
def test_a_different_population_or_other_fields_are_not_linked(world, people, overrides):
    submit(world, **form_spec(world))
    second = submit(world, **form_spec(world, **overrides))
    assert second.duplicate_of is None


def test_clauses_in_another_order_are_the_same_population(world, people):
    first = submit(world, **form_spec(world, population_filter="age>=80 and person.village==樟树村"))
    second = submit(world, **form_spec(world, population_filter="person.village==樟树村 and age>=80"))
    assert second.duplicate_of == first


def test_a_request_outside_the_window_is_not_linked(world, people, settings):
    settings.INBOX_DUPLICATE_WINDOW_DAYS = 30
    first = submit(world, **form_spec(world))
    Task.objects.filter(pk=first.pk).update(created_at=timezone.now() - datetime.timedelta(days=31))
    assert submit(world, **form_spec(world)).duplicate_of is None
