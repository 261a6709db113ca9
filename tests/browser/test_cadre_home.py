import pytest

from tests.browser.conftest import sign_in
from yici.testing.factories import PersonFactory
from yici.testing.fixtures import OTHER_VILLAGE, VILLAGE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_village_cadre_on_a_phone_sees_only_their_village_and_switches_language(live_server, world, phone, artifacts):
    PersonFactory(name="张三丰", area_code=VILLAGE, phone="13812345678")
    PersonFactory(name="李四光", area_code=OTHER_VILLAGE)
    page = phone
    sign_in(page, live_server.url, "bob")

    # Home: the cadre's own area, in Chinese by default.
    assert "樟树村" in page.inner_text("[data-testid=home-title]")
    assert page.inner_text("[data-testid=stat-persons]") == "1"
    assert "退出登录" in page.inner_text("body")
    # Nothing sticks out sideways on a 360 px screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(artifacts / "home-village-cadre-360.png"), full_page=True)

    # Residents: only the village's own, with masked numbers.
    page.click("text=居民")
    body = page.inner_text("[data-testid=person-list]")
    assert "张三丰" in body and "李四光" not in body
    assert "138****5678" in body

    # Switch to English and back.
    page.click("[data-testid=lang-en]")
    page.wait_for_selector("html[lang=en]")
    assert "Residents" in page.inner_text("h1")
    page.goto(f"{live_server.url}/")
    assert "Your area: 樟树村" in page.inner_text("[data-testid=home-title]")
    page.screenshot(path=str(artifacts / "home-village-cadre-360-en.png"), full_page=True)
    page.click("[data-testid=lang-zh-hans]")
    page.wait_for_selector("html[lang=zh-hans]")
    assert "退出登录" in page.inner_text("body")

    # Touch targets are large enough.
    height = page.evaluate("document.querySelector('[data-testid=logout]').getBoundingClientRect().height")
    assert height >= 44


def test_outsider_is_refused_a_resident_of_another_village(live_server, world, phone):
    resident = PersonFactory(name="张三丰", area_code=VILLAGE)
    sign_in(phone, live_server.url, "charlie")
    response = phone.goto(f"{live_server.url}/registry/persons/{resident.pk}/")
    assert response.status == 404
    assert "张三丰" not in phone.inner_text("body")
