"""Share once, end to end: a cadre corrects a house on a phone; the housing system has it within a
second (a real simulated line system, a real delivery loop), and the house's page shows where it went."""

import threading
import time

import pytest

from tests.browser.conftest import sign_in
from yici.catalog.services import BUILTIN_CATALOG, catalog_load
from yici.exchange.delivery import delivery_loop
from yici.exchange.models import FieldMapping, LineSystem, LineSystemEndpoint, Subscription
from yici.exchange.tests.test_outbox import SECRET, running_simulator
from yici.testing.factories import HouseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_corrected_house_reaches_the_housing_system_within_a_second(live_server, world, phone, artifacts,
                                                                       tmp_path):
    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    house = HouseFactory(code="3307261012010007", structure="砖木", floors=2)
    with running_simulator(tmp_path, schema={"house": ["FWBH", "JGLX", "CS"]}) as sim:
        system = LineSystem.objects.create(code="zhujian-housing", name="住建农房系统")
        LineSystemEndpoint.objects.create(system=system, url=sim.url, secret=SECRET, timeout_seconds=5)
        Subscription.objects.create(system=system, entity="house")
        for element, field, transform in (("house.code", "FWBH", ""), ("house.structure", "JGLX", "code"),
                                          ("house.floors", "CS", "")):
            FieldMapping.objects.create(system=system, element_code=element, field_name=field, transform=transform)
        stop = threading.Event()
        worker = threading.Thread(target=delivery_loop, kwargs={"stop": stop, "idle_seconds": 0.1}, daemon=True)
        worker.start()
        try:
            base = live_server.url
            sign_in(phone, base, "bob")
            phone.goto(f"{base}/registry/houses/{house.pk}/")
            phone.click("[data-testid=edit]")
            phone.select_option("select[data-code='house.structure']", "砖混")
            phone.click("[data-testid=record-save]")
            saved = time.monotonic()
            phone.wait_for_url(f"{base}/registry/houses/{house.pk}/")
            arrived = None
            while time.monotonic() - saved < 5:
                record = sim.store.records("house").get(("house", house.pk))
                if record and record["data"].get("JGLX") == "2":
                    arrived = time.monotonic() - saved
                    break
                time.sleep(0.02)
            assert arrived is not None, "the change never reached the housing system"
            assert arrived < 1.0, f"took {arrived:.2f} s"
            phone.reload()
            trail = phone.locator("[data-testid=fact-trail]")
            assert "住建农房系统" in trail.inner_text()
            phone.screenshot(path=str(artifacts / "share-once-trail.png"), full_page=True)
        finally:
            stop.set()
            worker.join(timeout=5)
