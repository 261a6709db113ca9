import datetime

import pytest
from django.utils import timezone

from yici.accounts.roles import Role
from yici.inbox.services import TaskSpec, task_submit
from yici.reports.tests.conftest import catalog, people, person  # noqa: F401 (fixtures)
from yici.testing.factories import UserFactory
from yici.testing.fixtures import NEIGHBOUR_VILLAGE, VILLAGE


def in_days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def spec(world, **overrides) -> TaskSpec:
    values = {
        "department": world.department, "title": "低保户走访", "basis": "《社会救助暂行办法》第十二条",
        "responsible": "民政局 王科长", "effort_minutes": 30, "due_date": in_days(5),
        "area_codes": [VILLAGE], "kind": "action", "instructions": "走访并记录。",
    }
    values.update(overrides)
    return TaskSpec(**values)


def submit(world, actor=None, **overrides):
    task, _created = task_submit(spec=spec(world, **overrides), actor=actor or world.department_staff)
    return task


def form_spec(world, **overrides):
    values = {"kind": "form", "entity": "person", "population_filter": "age>=80",
              "elements": ["person.phone", "person.living_alone"], "area_codes": [VILLAGE]}
    values.update(overrides)
    return values


@pytest.fixture
def colleague(world):
    """A second cadre of the cadre's village."""
    return UserFactory(username="betty", role=Role.VILLAGE_CADRE, area=world.village, display_name="Betty")


@pytest.fixture
def neighbour_cadre(world):
    from yici.accounts.models import Area

    return UserFactory(username="nina", role=Role.VILLAGE_CADRE, area=Area.objects.get(code=NEIGHBOUR_VILLAGE))
