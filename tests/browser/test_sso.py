"""One account in a real browser: a cadre on a phone opens two line systems from the portal and signs out."""

import pytest

from tests.browser.conftest import sign_in
from yici.accounts.tests.test_simulator_sso import relying_party

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_cadre_opens_two_systems_from_the_portal_without_a_password_and_signs_out_of_both(
        live_server, world, phone, artifacts, tmp_path):
    issuer = f"{live_server.url}/o"
    with relying_party(tmp_path, issuer, code="zhujian-housing") as housing, \
            relying_party(tmp_path, issuer, code="minzheng-civil") as civil:
        page = phone
        sign_in(page, live_server.url, "bob")
        page.goto(f"{live_server.url}/accounts/portal/")
        assert page.locator("[data-testid^=tile-]").count() == 2
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(artifacts / "portal-360.png"), full_page=True)

        for code, base in (("zhujian-housing", housing), ("minzheng-civil", civil)):
            page.goto(f"{live_server.url}/accounts/portal/")
            page.click(f"[data-testid=tile-{code}]")
            page.wait_for_url(f"{base}/home")
            assert world.cadre.display_name in page.inner_text("[data-testid=user-name]")
            assert page.locator("#id_password").count() == 0  # no password asked for
        page.screenshot(path=str(artifacts / "sso-line-system-360.png"), full_page=True)

        page.goto(f"{live_server.url}/")
        page.click("[data-testid=logout]")
        page.wait_for_url(f"{live_server.url}/accounts/login/")
        for base in (housing, civil):
            page.goto(f"{base}/home")
            assert page.locator("[data-testid=signed-out]").count() == 1
        # Opening a system again asks for the Yici password: the single sign-on session is gone.
        page.goto(f"{housing}/login")
        page.wait_for_url(f"{live_server.url}/accounts/login/**")
        assert page.locator("#id_password").count() == 1
