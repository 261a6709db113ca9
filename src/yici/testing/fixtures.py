"""The shared test world (after Healthchecks' ``hc/test.py``).

A county with two townships; one ready user per role, and ``outsider``, a cadre of another
township's village, who must be refused on every page and endpoint that shows personal data.
"""

import signal
from dataclasses import dataclass

import pytest

from yici.accounts.models import Area, AreaLevel, Department, User
from yici.accounts.roles import Role
from yici.testing.factories import DepartmentFactory, PersonFactory, UserFactory

COUNTY = "330726000000"
TOWNSHIP = "330726101000"
VILLAGE = "330726101201"
NEIGHBOUR_VILLAGE = "330726101202"
OTHER_TOWNSHIP = "330726102000"
OTHER_VILLAGE = "330726102201"


@dataclass
class World:
    county: Area
    township: Area
    village: Area
    neighbour_village: Area
    other_township: Area
    other_village: Area
    department: Department
    admin: User
    department_staff: User
    township_staff: User
    cadre: User
    burden_office: User
    auditor: User
    outsider: User

    def users(self) -> dict[str, User]:
        return {
            "admin": self.admin,
            "department_staff": self.department_staff,
            "township_staff": self.township_staff,
            "cadre": self.cadre,
            "burden_office": self.burden_office,
            "auditor": self.auditor,
            "outsider": self.outsider,
        }


def build_world() -> World:
    county = Area.objects.create(code=COUNTY, name="浦江县", level=AreaLevel.COUNTY)
    township = Area.objects.create(code=TOWNSHIP, name="岩头镇", level=AreaLevel.TOWNSHIP, parent=county)
    village = Area.objects.create(code=VILLAGE, name="樟树村", level=AreaLevel.VILLAGE, parent=township)
    neighbour = Area.objects.create(code=NEIGHBOUR_VILLAGE, name="石门村", level=AreaLevel.VILLAGE, parent=township)
    other_township = Area.objects.create(code=OTHER_TOWNSHIP, name="郑宅镇", level=AreaLevel.TOWNSHIP, parent=county)
    other_village = Area.objects.create(code=OTHER_VILLAGE, name="前陈村", level=AreaLevel.VILLAGE, parent=other_township)
    dept = DepartmentFactory(code="minzheng", name="民政")
    return World(
        county=county, township=township, village=village, neighbour_village=neighbour,
        other_township=other_township, other_village=other_village, department=dept,
        admin=UserFactory(username="alice", role=Role.COUNTY_ADMIN, area=county),
        department_staff=UserFactory(username="dora", role=Role.DEPARTMENT_STAFF, area=county, department=dept),
        township_staff=UserFactory(username="tom", role=Role.TOWNSHIP_STAFF, area=township),
        cadre=UserFactory(username="bob", role=Role.VILLAGE_CADRE, area=village),
        burden_office=UserFactory(username="bella", role=Role.BURDEN_OFFICE, area=county),
        auditor=UserFactory(username="audrey", role=Role.AUDITOR, area=county),
        outsider=UserFactory(username="charlie", role=Role.VILLAGE_CADRE, area=other_village),
    )


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture
def resident(world):
    """A person in the cadre's village; ``outsider`` must never see them."""
    return PersonFactory(name="张三丰", area_code=VILLAGE, id_number="330726196005170013", phone="13812345678")


@pytest.fixture
def signal_handlers_restored():
    """For tests that run a command installing its own SIGTERM/SIGINT handlers in this process
    (the task worker): later tests must not run under them."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.fixture
def process_pools(monkeypatch) -> list:
    """The worker pools ``common.parallel`` starts during the test (``map_chunks``, ``Workers``):
    their arguments, in order."""
    from yici.common import parallel

    started = []

    class RecordedPool(parallel.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            started.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", RecordedPool)
    return started


@pytest.fixture
def fail_instead_of_hanging():
    """A test that would wait for ever fails after a minute instead. Should the TimeoutError be
    swallowed on the way (a task worker catches a task's exceptions), the process prints every
    thread's stack and exits a minute later: the run fails, saying where, rather than hangs."""
    import faulthandler

    def too_long(_signum, _frame):
        raise TimeoutError("still waiting after 60 s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
