import datetime
from dataclasses import dataclass

import pytest
from django.utils import timezone

from yici.accounts.models import Area, AreaLevel
from yici.accounts.roles import Role
from yici.audit.models import AuditEvent
from yici.audit.services import audit_event, audit_write
from yici.registry.services import person_reveal
from yici.testing.factories import UserFactory
from yici.testing.fixtures import NEIGHBOUR_VILLAGE

OTHER_COUNTY = "330727000000"


@dataclass
class Trail:
    reveal: AuditEvent  # the cadre read the resident's ID number (village)
    update: AuditEvent  # the county admin renamed the other village (other township)
    login: AuditEvent  # a system event without an area
    old: AuditEvent  # the township staff created a household, early on 2025-01-11 (neighbour village)

    def by_pk(self) -> dict[int, str]:
        return {e.pk: name for name, e in vars(self).items()}


@pytest.fixture
def trail(world, resident) -> Trail:
    """Four events in different places, by different people, of different kinds."""
    world.admin.display_name = "甲乙管理员"
    world.admin.save()
    person_reveal(person=resident, field="id_number", actor=world.cadre, reason="低保复核")
    reveal = AuditEvent.objects.get(action="reveal")
    update = audit_write(
        actor=world.admin, action="update", obj=world.other_village, before={"name": "前陈村"}, after={"name": "前陈新村"}
    )
    login = audit_event(actor=None, action="login", obj=None)
    old = AuditEvent.objects.create(
        actor=world.township_staff, actor_name="tom", action="create", object_type="registry.household",
        object_id="H00000042", object_repr="H00000042 王五", area_code=NEIGHBOUR_VILLAGE,
        after={"household_no": "H00000042", "head_name": "王五"},
    )
    # 00:30 in Shanghai is still the previous day in UTC: date filters must use local days.
    AuditEvent.objects.filter(pk=old.pk).update(at=timezone.make_aware(datetime.datetime(2025, 1, 11, 0, 30)))
    old.refresh_from_db()
    return Trail(reveal=reveal, update=update, login=login, old=old)


@pytest.fixture
def other_county_auditor(world):
    other_county = Area.objects.create(code=OTHER_COUNTY, name="兰溪县", level=AreaLevel.COUNTY)
    return UserFactory(username="otto", role=Role.AUDITOR, area=other_county)


@pytest.fixture
def township_auditor(world):
    return UserFactory(username="tess", role=Role.AUDITOR, area=world.township)
