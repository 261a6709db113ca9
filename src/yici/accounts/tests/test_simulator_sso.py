"""The simulated line system as a relying party ("登录 with Yici") and a SCIM server, end to end."""

import re
import threading
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from yici.accounts import services
from yici.accounts.tests.sso_helpers import browser_login
from yici.exchange.models import LineSystem
from yici.exchange.simulator import make_server
from yici.exchange.simulator_sso import enable_sso

RUNNING = {}  # base URL → the simulator serving it


@contextmanager
def relying_party(tmp_path, issuer, *, code="zhujian-housing", secret="rp-secret-0123456789abcdef"):
    server = make_server(name=code, port=0, secret="hmac-secret", store_path=tmp_path / f"{code}.sqlite3")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    from yici.accounts.services_sso import client_register

    system = LineSystem.objects.create(code=code, name=code)
    client_register(system=system, redirect_uris=f"{base}/callback", post_logout_redirect_uris=f"{base}/home",
                    portal_url=f"{base}/login", first_party=True, actor=None, client_id=f"{code}-client",
                    client_secret=secret)
    enable_sso(server, issuer=issuer, client_id=f"{code}-client", client_secret=secret)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    RUNNING[base] = server
    try:
        yield base
    finally:
        RUNNING.pop(base, None)
        server.shutdown()
        server.server_close()
        server.store.close()
        thread.join(timeout=5)


def _logout(browser, base):
    page = browser.get(f"{base}/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    browser.post(f"{base}/accounts/logout/", data={"csrfmiddlewaretoken": token}, headers={"Referer": f"{base}/"})


def test_two_systems_sign_in_once_and_sign_out_with_yici(live_server, world, tmp_path):
    issuer = f"{live_server.url}/o"
    with relying_party(tmp_path, issuer, code="zhujian-housing") as housing, \
            relying_party(tmp_path, issuer, code="minzheng-civil") as civil:
        browser = browser_login(live_server.url, "bob")
        for rp in (housing, civil):
            home = browser.get(f"{rp}/login")  # authorize → callback → home, no password typed
            assert 'data-testid="signed-in"' in home.text, home.text[:500]
            assert world.cadre.display_name in home.text
        portal = browser.get(f"{live_server.url}/accounts/portal/").text
        assert f"{housing}/login" in portal and f"{civil}/login" in portal
        _logout(browser, live_server.url)
        for rp in (housing, civil):
            assert 'data-testid="signed-out"' in browser.get(f"{rp}/home").text


def test_disabling_the_user_ends_their_sessions_in_the_systems(live_server, world, tmp_path):
    with relying_party(tmp_path, f"{live_server.url}/o") as housing:
        browser = browser_login(live_server.url, "bob")
        assert 'data-testid="signed-in"' in browser.get(f"{housing}/login").text
        services.user_set_active(user=world.cadre, active=False, actor=world.admin)
        assert 'data-testid="signed-out"' in browser.get(f"{housing}/home").text
        again = browser.get(f"{housing}/login")
        assert 'data-testid="signed-in"' not in again.text


def test_rp_logout_goes_through_yici(live_server, world, tmp_path):
    with relying_party(tmp_path, f"{live_server.url}/o") as housing:
        browser = browser_login(live_server.url, "bob")
        browser.get(f"{housing}/login")
        after = browser.get(f"{housing}/logout")
        assert after.url.startswith(f"{housing}/home") and 'data-testid="signed-out"' in after.text
        assert browser.get(f"{live_server.url}/", allow_redirects=False).status_code == 302


def test_rp_refuses_a_wrong_client_secret(live_server, world, tmp_path):
    with relying_party(tmp_path, f"{live_server.url}/o") as housing:
        from yici.accounts.models import LineSystemClient

        app = LineSystemClient.objects.get().application
        app.client_secret = "something-else"
        app.save()
        browser = browser_login(live_server.url, "bob")
        page = browser.get(f"{housing}/login")
        assert page.status_code == 400 and 'data-testid="signed-in"' not in page.text


def test_simulator_command_needs_client_credentials_with_an_issuer(db):
    with pytest.raises(CommandError, match="--client-id and --client-secret"):
        call_command("simulate_line_system", "--name", "x", "--port", "0", "--secret", "s",
                     "--oidc-issuer", "http://127.0.0.1:1/o")




def test_the_simulator_reports_what_waits_for_the_user_to_the_portal(live_server, world, tmp_path):
    from yici.accounts.models import PortalWaiting
    from yici.exchange.models import LineSystemEndpoint

    issuer = f"{live_server.url}/o"
    with relying_party(tmp_path, issuer) as housing:
        system = LineSystem.objects.get(code="zhujian-housing")
        LineSystemEndpoint.objects.create(system=system, url=f"{housing}/changes", secret="hmac-secret")
        browser = browser_login(live_server.url, "bob")
        browser.get(f"{housing}/login")
        server = RUNNING[housing]
        server.store.put("k1", "{}", 200, "{}")
        server.store.put("k2", "{}", 200, "{}")
        assert server.rp.send_waiting(f"yici-{world.cadre.pk}") == 200
        waiting = PortalWaiting.objects.get(user=world.cadre, system=system)
        assert waiting.count == 2 and waiting.label == "条记录待核查"
        portal = browser.get(f"{live_server.url}/accounts/portal/").text
        assert 'data-testid="waiting-zhujian-housing"' in portal
        server.secret = "wrong"
        assert server.rp.send_waiting(f"yici-{world.cadre.pk}") == 401
