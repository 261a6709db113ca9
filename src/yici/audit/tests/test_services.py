import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from yici.audit.models import AuditEvent
from yici.audit.services import audit_event, audit_log_export, audit_reveal, audit_write
from yici.testing.factories import PersonFactory, UserFactory
from yici.testing.fixtures import COUNTY, VILLAGE


def test_it_refuses_an_unknown_action(world):
    with pytest.raises(ValueError, match="unknown audit action"):
        audit_event(actor=world.cadre, action="peek", obj=world.village)
    assert not AuditEvent.objects.exists()


def test_it_takes_the_area_code_from_the_objects_area_code(world):
    person = PersonFactory(area_code="330726101202")
    event = audit_event(actor=world.cadre, action="create", obj=person)
    assert (event.area_code, event.object_type, event.object_id, event.object_repr) == (
        "330726101202", "registry.person", str(person.pk), str(person),
    )


def test_it_takes_the_area_code_from_the_objects_area(world):
    event = audit_event(actor=world.admin, action="update", obj=world.cadre)
    assert event.area_code == VILLAGE
    assert event.object_type == "accounts.user"


def test_it_takes_the_area_code_from_an_area_itself(world):
    assert audit_event(actor=world.admin, action="update", obj=world.county).area_code == COUNTY


def test_it_leaves_the_area_empty_for_objects_without_one(world):
    world.cadre.area = None
    assert audit_event(actor=world.admin, action="update", obj=world.cadre).area_code == ""
    event = audit_event(actor=world.admin, action="update", obj=None)
    assert (event.object_type, event.object_id, event.area_code) == ("", "", "")


def test_it_records_the_system_when_there_is_no_signed_in_actor(world):
    assert audit_event(actor=None, action="import", obj=world.county).actor_name == "system"
    event = audit_event(actor=AnonymousUser(), action="import", obj=world.county)
    assert (event.actor, event.actor_name) == (None, "system")


def test_it_keeps_the_actors_name_after_their_account_is_deleted(world):
    leaver = UserFactory(username="leaver", area=world.village)
    event = audit_event(actor=leaver, action="update", obj=world.village)
    leaver.delete()
    event.refresh_from_db()
    assert (event.actor, event.actor_name) == (None, "leaver")


def test_it_records_the_address_and_truncates_a_long_reason(world):
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3")
    event = audit_event(actor=world.cadre, action="reveal", obj=world.village, reason="x" * 400, request=request)
    event.refresh_from_db()
    assert str(event.ip_address) == "10.1.2.3"
    assert len(event.reason) == 300


def test_audit_write_stores_before_and_after(world):
    audit_write(actor=world.admin, action="update", obj=world.village, before={"name": "旧"}, after={"name": "新"})
    event = AuditEvent.objects.get()
    assert (event.action, event.before, event.after) == ("update", {"name": "旧"}, {"name": "新"})


def test_audit_reveal_stores_the_field_and_the_reason(world, resident):
    audit_reveal(actor=world.cadre, obj=resident, field="phone", reason="低保复核")
    event = AuditEvent.objects.get()
    assert (event.action, event.field, event.reason, event.actor) == ("reveal", "phone", "低保复核", world.cadre)
    assert (event.area_code, event.before, event.after) == (VILLAGE, None, None)


def test_audit_log_export_records_the_filters_within_the_actors_area(world):
    event = audit_log_export(actor=world.auditor, filters={"action": "reveal", "field": "", "date_from": None}, rows=3)
    assert (event.action, event.area_code, event.actor) == ("export", COUNTY, world.auditor)
    assert event.after == {"export": "audit_events", "filters": {"action": "reveal"}, "rows": 3}
