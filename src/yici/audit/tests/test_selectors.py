import datetime

import pytest

from yici.audit.models import AuditEvent
from yici.audit.selectors import audit_event_changes, audit_event_get, audit_event_list
from yici.audit.services import audit_event
from yici.audit.tests.conftest import OTHER_COUNTY
from yici.testing.fixtures import OTHER_TOWNSHIP, TOWNSHIP


def _names(trail, events) -> set[str]:
    return {trail.by_pk()[e.pk] for e in events}


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_it_gives_audit_roles_every_event_of_their_county(world, trail, who):
    assert _names(trail, audit_event_list(user=getattr(world, who))) == {"reveal", "update", "login", "old"}


@pytest.mark.parametrize("who", ["cadre", "township_staff", "department_staff", "burden_office", "outsider"])
def test_it_gives_other_roles_nothing(world, trail, who):
    user = getattr(world, who)
    assert not audit_event_list(user=user).exists()
    assert audit_event_get(user=user, pk=trail.reveal.pk) is None


def test_it_gives_an_auditor_without_an_area_nothing(world, trail):
    world.auditor.area = None
    assert not audit_event_list(user=world.auditor).exists()


def test_it_limits_a_township_auditor_to_the_township_without_system_events(world, trail, township_auditor):
    assert _names(trail, audit_event_list(user=township_auditor)) == {"reveal", "old"}
    assert audit_event_get(user=township_auditor, pk=trail.login.pk) is None


def test_an_auditor_of_another_county_sees_only_their_county(world, trail, other_county_auditor):
    theirs = audit_event(actor=other_county_auditor, action="update", obj=other_county_auditor.area)
    # System events belong to every county and above.
    assert set(audit_event_list(user=other_county_auditor)) == {theirs, trail.login}
    assert audit_event_get(user=other_county_auditor, pk=trail.reveal.pk) is None
    assert theirs not in audit_event_list(user=world.auditor)
    assert theirs.area_code == OTHER_COUNTY


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"actor": "bob"}, {"reveal"}),
        ({"actor": "乙管理"}, {"update"}),
        ({"action": "reveal"}, {"reveal"}),
        ({"object_type": "person"}, {"reveal"}),
        ({"object_type": "Registry.Household"}, {"old"}),
        ({"object_type": "household"}, {"old"}),
        ({"object_type": "area"}, {"update"}),
        ({"object_id": "H00000042"}, {"old"}),
        ({"area_code": TOWNSHIP}, {"reveal", "old"}),
        ({"area_code": OTHER_TOWNSHIP}, {"update"}),
        ({"field": "id_number"}, {"reveal"}),
        ({"date_from": datetime.date(2025, 1, 12)}, {"reveal", "update", "login"}),
        ({"date_from": datetime.date(2025, 1, 11), "date_to": datetime.date(2025, 1, 11)}, {"old"}),
        ({"date_to": datetime.date(2025, 1, 10)}, set()),
        ({"text": "低保"}, {"reveal"}),
        ({"text": "王五"}, {"old"}),
        ({"text": "system"}, {"login"}),
        ({"action": "create", "area_code": TOWNSHIP}, {"old"}),
        ({"action": "create", "area_code": OTHER_TOWNSHIP}, set()),
    ],
)
def test_each_filter_narrows_the_events(world, trail, filters, expected):
    assert _names(trail, audit_event_list(user=world.auditor, **filters)) == expected


def test_filters_never_widen_the_area(world, trail, township_auditor):
    assert not audit_event_list(user=township_auditor, area_code=OTHER_TOWNSHIP).exists()


def test_it_lists_the_newest_first_with_the_actor_and_area_name_loaded(world, trail, django_assert_num_queries):
    with django_assert_num_queries(1):
        events = list(audit_event_list(user=world.auditor))
        assert [e.actor_name for e in events] == ["system", "alice", "bob", "tom"]
        assert [e.actor and e.actor.username for e in events] == [None, "alice", "bob", "tom"]
        assert [e.area_name for e in events] == [None, "前陈村", "樟树村", "石门村"]


def test_changes_put_before_and_after_side_by_side(world, trail):
    changes = audit_event_changes(trail.update)
    assert [(c.key, c.before, c.after, c.changed) for c in changes] == [("name", '"前陈村"', '"前陈新村"', True)]


def test_changes_of_a_creation_show_every_key_as_new_in_key_order(world, trail):
    changes = audit_event_changes(trail.old)
    assert [(c.key, c.before, c.changed) for c in changes] == [("head_name", None, True), ("household_no", None, True)]


def test_changes_flag_only_the_keys_that_changed_and_keep_added_and_removed_keys(world):
    event = AuditEvent(before={"a": 1, "b": {"x": [1, 2]}, "gone": True}, after={"a": 1, "b": {"x": [1, 3]}, "new": None})
    changes = {c.key: c for c in audit_event_changes(event)}
    assert list(changes) == ["a", "b", "gone", "new"]
    assert {k: c.changed for k, c in changes.items()} == {"a": False, "b": True, "gone": True, "new": True}
    assert changes["b"].before == '{\n  "x": [\n    1,\n    2\n  ]\n}'
    assert (changes["gone"].after, changes["new"].before, changes["new"].after) == (None, None, "null")


def test_changes_mask_sensitive_values_but_still_flag_them(world):
    event = AuditEvent(
        before={"phone": "13812345678", "household": {"id_number": "330726196005170013"}},
        after={"phone": "13812340000", "household": {"id_number": "330726196005170013"}},
    )
    household, phone = audit_event_changes(event)
    assert (phone.before, phone.after, phone.changed) == ('"138****5678"', '"138****0000"', True)
    assert "330726196005170013" not in household.before + household.after
    assert not household.changed


def test_changes_of_plain_values_and_of_nothing(world):
    assert audit_event_changes(AuditEvent()) == []
    (change,) = audit_event_changes(AuditEvent(before=[1], after=[1, 2]))
    assert (change.key, change.changed) == ("", True)


def test_the_area_filter_also_takes_a_bare_prefix(world, trail):
    assert _names(trail, audit_event_list(user=world.auditor, area_code="3307261012")) == {"reveal", "old"}
    assert _names(trail, audit_event_list(user=world.auditor, area_code="330726101201")) == {"reveal"}
