"""The demo's three simulated line systems as OIDC clients with provisioning."""

from django.contrib.auth.hashers import check_password

from yici.accounts.demo import DEMO_SSO_SYSTEMS, demo_sso_credentials, load_demo_sso
from yici.accounts.models import LineSystemClient
from yici.exchange.models import Delivery


def test_load_demo_sso_registers_three_first_party_clients_idempotently(world):
    assert load_demo_sso(simulator_secret="sim-secret") == list(DEMO_SSO_SYSTEMS)
    load_demo_sso(simulator_secret="sim-secret")
    clients = {c.system.code: c for c in LineSystemClient.objects.select_related("system__endpoint", "application")}
    assert set(clients) == set(DEMO_SSO_SYSTEMS)
    for code, client in clients.items():
        client_id, secret = demo_sso_credentials(code)
        assert client.application.client_id == client_id and check_password(secret, client.application.client_secret)
        assert client.application.skip_authorization and client.provisioning
        assert client.application.redirect_uris == f"http://127.0.0.1:{DEMO_SSO_SYSTEMS[code][2]}/callback"
        assert client.system.endpoint.secret == "sim-secret"
    assert {c.system.endpoint.kind for c in clients.values()} == {"scim"}
    assert clients["zhujian-housing"].system.endpoint.config["scim_url"] == "http://127.0.0.1:8101/scim/v2"
    # Every eligible demo user is queued once per system (the second load queued nothing new).
    assert Delivery.objects.filter(entity="account", system=clients["zhujian-housing"].system,
                                   golden_id=world.cadre.pk).count() == 1
    assert not Delivery.objects.filter(entity="account", golden_id=world.burden_office.pk).exists()


def test_simulator_arguments_for_the_demo():
    from yici.accounts.demo import simulator_sso_arguments

    assert simulator_sso_arguments("wenlv-culture") == [
        "--oidc-issuer", "http://127.0.0.1:8000/o", "--client-id", "wenlv-culture",
        "--client-secret", "yici-demo-sso-2026-wenlv-culture", "--scim"]
    assert simulator_sso_arguments("yingji-ledger") == []


def test_after_the_share_once_demo_systems_the_endpoints_keep_their_secret_and_url(world):
    from yici.exchange.demo import load_demo_line_systems

    load_demo_line_systems()
    load_demo_sso()
    endpoint = LineSystemClient.objects.get(system__code="minzheng-civil").system.endpoint
    assert endpoint.kind == "scim" and endpoint.url == "http://127.0.0.1:8102/changes"
    assert endpoint.secret == "demo-minzheng-civil-2026"  # the simulator's --secret is also its SCIM token
