"""The portal, the client registration page, machine access with client credentials."""

import json

import pytest
import requests
from django.urls import reverse

from yici.accounts.models import LineSystemClient, PortalWaiting
from yici.accounts.oidc import subject_of
from yici.accounts.roles import Role
from yici.accounts.services_sso import client_register, machine_client_register
from yici.accounts.tests.sso_helpers import register_rp
from yici.audit.models import AuditEvent
from yici.exchange.machine_auth import MachineAuthError, line_system_from_request
from yici.exchange.models import LineSystem


def test_portal_shows_only_systems_the_user_has_an_account_in(client, world):
    register_rp(code="zhujian-housing", client_id="a", portal_url="http://127.0.0.1:8101/login")
    register_rp(code="minzheng-civil", client_id="b", portal_url="http://127.0.0.1:8102/login",
                account_roles=[Role.DEPARTMENT_STAFF])
    client.force_login(world.cadre)
    page = client.get(reverse("accounts:portal"))
    assert b'data-testid="tile-zhujian-housing"' in page.content
    assert b"tile-minzheng-civil" not in page.content
    assert b"http://127.0.0.1:8101/login" in page.content


def test_registration_page_shows_the_secret_once_and_stores_it_hashed(client, world):
    LineSystem.objects.create(code="wenlv-culture", name="文旅")
    url = reverse("accounts:line_system_client", args=["wenlv-culture"])
    client.force_login(world.admin)
    response = client.post(url, {"redirect_uris": "http://127.0.0.1:8103/callback", "portal_url": "http://127.0.0.1:8103/login",
                                 "first_party": "on", "action": "register"})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret and secret.encode() in response.content
    registered = LineSystemClient.objects.get(system__code="wenlv-culture")
    assert registered.application.skip_authorization is True
    assert registered.application.client_secret != secret  # hashed at rest
    assert registered.application.client_secret.startswith("yici_client_secret$")
    from django.contrib.auth.hashers import check_password

    assert check_password(secret, registered.application.client_secret)
    assert not check_password(secret + "x", registered.application.client_secret)
    again = client.get(url)
    assert secret.encode() not in again.content
    machine = client.post(url, {"action": "machine"})
    assert machine.context["secret"] and machine.context["secret_for"] == "machine"


def test_registration_refuses_foreign_schemes_and_non_admins(client, world):
    LineSystem.objects.create(code="wenlv-culture", name="文旅")
    url = reverse("accounts:line_system_client", args=["wenlv-culture"])
    client.force_login(world.admin)
    response = client.post(url, {"redirect_uris": "javascript:alert(1)", "action": "register"})
    assert response.status_code == 200 and not LineSystemClient.objects.exists()
    client.force_login(world.department_staff)
    assert client.get(url).status_code == 403
    client.force_login(world.admin)
    assert client.get(reverse("accounts:line_system_client", args=["nope"])).status_code == 404


@pytest.fixture
def machine(live_server, world):
    rp = register_rp()
    client_id, secret = machine_client_register(client=rp, actor=None)
    return live_server.url, rp, client_id, secret


def _token(base, client_id, secret, scope="exchange"):
    return requests.post(f"{base}/o/token/", auth=(client_id, secret),
                         data={"grant_type": "client_credentials", "scope": scope})


def test_client_credentials_token_identifies_the_line_system(machine, world):
    base, rp, client_id, secret = machine
    token = _token(base, client_id, secret)
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    items = [{"sub": subject_of(world.cadre), "count": 3, "label": "待核查房屋"}]
    answer = requests.post(f"{base}/accounts/api/waiting/", json={"items": items}, headers=bearer)
    assert answer.status_code == 200 and answer.json() == {"stored": 1}
    waiting = PortalWaiting.objects.get(user=world.cadre)
    assert waiting.system == rp.system and waiting.count == 3
    # The issuance is audited as the machine client's, naming its line system.
    event = AuditEvent.objects.get(action="token_issued")
    assert event.actor is None and event.field == "client_credentials"
    assert event.object_type == "oauth2_provider.application" and event.object_id == str(rp.machine_application.pk)
    assert event.after == {"client": client_id, "grant": "client_credentials", "scope": "exchange",
                           "system": rp.system.code}


def test_machine_access_refuses_bad_tokens(machine, world):
    base, rp, client_id, secret = machine
    assert _token(base, client_id, "wrong").status_code == 401
    no_scope = _token(base, client_id, secret, scope="openid")
    bearer = {"Authorization": f"Bearer {no_scope.json().get('access_token', 'x')}"}
    assert requests.post(f"{base}/accounts/api/waiting/", json={"items": []}, headers=bearer).status_code == 401
    tampered = {"Authorization": f"Bearer {_token(base, client_id, secret).json()['access_token']}x"}
    answer = requests.post(f"{base}/accounts/api/waiting/", json={"items": []}, headers=tampered)
    assert answer.status_code == 401 and "bearer token" in answer.json()["detail"]
    good = {"Authorization": f"Bearer {_token(base, client_id, secret).json()['access_token']}"}
    bad_body = requests.post(f"{base}/accounts/api/waiting/", json={"items": [{"sub": "yici-0", "count": -1}]}, headers=good)
    assert bad_body.status_code == 400


def test_line_system_from_request_accepts_only_machine_tokens(rf, world):
    rp = register_rp()
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    client_id, _secret = machine_client_register(client=rp, actor=None)
    user_token = AccessToken.objects.create(user=world.cadre, application=rp.application, token="u-token",
                                            expires=timezone.now() + timedelta(minutes=5), scope="exchange")
    request = rf.post("/x", HTTP_AUTHORIZATION="Bearer u-token")
    with pytest.raises(MachineAuthError, match="a user's token"):
        line_system_from_request(request)
    AccessToken.objects.create(application=rp.machine_application, token="m-token",
                               expires=timezone.now() + timedelta(minutes=5), scope="exchange")
    assert line_system_from_request(rf.post("/x", HTTP_AUTHORIZATION="Bearer m-token")) == rp.system
    AccessToken.objects.create(application=rp.machine_application, token="old-token",
                               expires=timezone.now() - timedelta(minutes=5), scope="exchange")
    with pytest.raises(MachineAuthError, match="expired"):
        line_system_from_request(rf.post("/x", HTTP_AUTHORIZATION="Bearer old-token"))
    assert user_token.pk


def test_waiting_counts_show_on_the_portal(client, world):
    rp = register_rp(portal_url="http://127.0.0.1:8101/login")
    PortalWaiting.objects.create(user=world.cadre, system=rp.system, count=4, label="待核查")
    client.force_login(world.cadre)
    page = client.get(reverse("accounts:portal")).content.decode()
    assert 'data-testid="waiting-zhujian-housing"' in page and "4" in page


def test_client_register_validates(world):
    from django.core.exceptions import ValidationError

    system = LineSystem.objects.create(code="x", name="x")
    with pytest.raises(ValidationError):
        client_register(system=system, redirect_uris="", actor=None)
    with pytest.raises(ValidationError):
        client_register(system=system, redirect_uris="http://a.example/cb", account_roles=["king"], actor=None)
    assert json.dumps([])
