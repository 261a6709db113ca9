"""The OIDC provider, driven by a real client library (authlib) against a live Yici."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from oauth2_provider.models import Grant

from yici.accounts.models import SigningKey
from yici.accounts.oidc import signing_key_rotate, subject_of
from yici.accounts.tests.sso_helpers import (
    AFTER_LOGOUT,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT,
    browser_login,
    register_rp,
)
from yici.audit.models import AuditEvent
from yici.burden.models import BurdenCount


@pytest.fixture
def provider(live_server, world):
    register_rp()
    base = live_server.url
    metadata = requests.get(f"{base}/o/.well-known/openid-configuration").json()
    return base, metadata


def _client(scope="openid profile"):
    return OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope=scope, redirect_uri=REDIRECT,
                         code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")


def _authorize(browser, metadata, client, verifier, **extra):
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                 nonce="n-0S6_WzA2Mj", **extra)
    answer = browser.get(url, allow_redirects=False)
    return answer, state


def _jwks(metadata):
    return KeySet.import_key_set(requests.get(metadata["jwks_uri"]).json())


def _verified(id_token, metadata, **expected):
    """The ID token's claims once its RS256 signature has been checked against the JWKS."""
    token = jwt.decode(id_token, _jwks(metadata), algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(**{k: {"essential": True, "value": v} for k, v in expected.items()})
    registry.validate(token.claims)
    return token.claims


def test_full_flow_with_authlib(provider, world):
    base, metadata = provider
    assert metadata["issuer"] == f"{base}/o"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "end_session_endpoint" in metadata
    assert "password" not in metadata.get("grant_types_supported", [])

    browser = browser_login(base, "bob")
    client = _client()
    verifier = "v" * 64
    answer, state = _authorize(browser, metadata, client, verifier)
    assert answer.status_code == 302, answer.text[:300]
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    params = parse_qs(urlsplit(location).query)
    assert params["iss"] == [metadata["issuer"]]  # RFC 9207
    token = client.fetch_token(metadata["token_endpoint"], authorization_response=location, code_verifier=verifier)

    claims = _verified(token["id_token"], metadata, iss=metadata["issuer"], aud=CLIENT_ID)
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["sub"] == subject_of(world.cadre)
    assert claims["area_code"] == world.cadre.area.code and claims["roles"] == ["village_cadre"]
    assert "phone_number" not in claims

    userinfo = client.get(metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == claims["sub"] and userinfo["area_name"] == "樟树村"

    refreshed = client.refresh_token(metadata["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]  # rotated
    # No new ID token on refresh (OIDC Core 12.2; see YiciOAuth2Validator.refresh_id_token): the RP keeps
    # the sign-in's, which still serves as the logout hint below.
    assert "id_token" not in refreshed
    assert client.get(metadata["userinfo_endpoint"]).status_code == 200
    # The rotated-away refresh token cannot be used again (RFC 9700 reuse protection).
    reuse = requests.post(metadata["token_endpoint"], auth=(CLIENT_ID, CLIENT_SECRET),
                          data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert reuse.status_code == 400

    logout = browser.get(metadata["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": AFTER_LOGOUT, "client_id": CLIENT_ID,
    }, allow_redirects=False)
    assert logout.status_code == 302 and logout.headers["Location"].startswith(AFTER_LOGOUT)
    assert client.get(metadata["userinfo_endpoint"]).status_code == 401
    assert browser.get(f"{base}/", allow_redirects=False).status_code == 302  # signed out of Yici too

    issued = AuditEvent.objects.filter(action="token_issued", actor=world.cadre).order_by("id")
    assert [event.field for event in issued] == ["authorization_code", "refresh_token"]  # not the refused reuse
    assert issued[0].after == {"client": CLIENT_ID, "grant": "authorization_code", "scope": "openid profile",
                               "system": "zhujian-housing"}
    assert issued[0].area_code == world.cadre.area.code
    assert BurdenCount.objects.get(metric="logins_avoided", user=world.cadre).count == 1


def test_phone_number_only_with_its_scope(provider, world):
    base, metadata = provider
    world.cadre.phone = "13800001111"
    world.cadre.save()
    browser = browser_login(base, "bob")
    client = _client("openid profile phone")
    answer, _state = _authorize(browser, metadata, client, "w" * 64)
    token = client.fetch_token(metadata["token_endpoint"], authorization_response=answer.headers["Location"],
                               code_verifier="w" * 64)
    assert client.get(metadata["userinfo_endpoint"]).json()["phone_number"] == "13800001111"
    assert _verified(token["id_token"], metadata)["phone_number"] == "13800001111"


def test_plain_pkce_is_refused(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    answer = browser.get(metadata["authorization_endpoint"], params={
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": "openid",
        "state": "s", "code_challenge": "x" * 50, "code_challenge_method": "plain",
    }, allow_redirects=False)
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["invalid_request"]


def test_missing_pkce_is_refused(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    answer = browser.get(metadata["authorization_endpoint"], params={
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": "openid", "state": "s",
    }, allow_redirects=False)
    assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == ["invalid_request"]


def test_wrong_verifier_is_refused(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    client = _client()
    answer, _state = _authorize(browser, metadata, client, "a" * 64)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    exchange = requests.post(metadata["token_endpoint"], auth=(CLIENT_ID, CLIENT_SECRET), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": "b" * 64,
    })
    assert exchange.status_code == 400 and exchange.json()["error"] == "invalid_grant"


def test_foreign_redirect_uri_is_refused_without_redirecting(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    answer = browser.get(metadata["authorization_endpoint"], params={
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb",
        "scope": "openid", "state": "s", "code_challenge": create_s256_code_challenge("c" * 64),
        "code_challenge_method": "S256",
    }, allow_redirects=False)
    assert answer.status_code == 400
    assert "evil.example" not in answer.headers.get("Location", "")
    assert "invalid_request" in answer.text or "Mismatching redirect URI" in answer.text


def test_unknown_client_is_refused_and_logged(provider, world, caplog):
    base, metadata = provider
    browser = browser_login(base, "bob")
    answer = browser.get(metadata["authorization_endpoint"], params={
        "response_type": "code", "client_id": "nobody", "redirect_uri": REDIRECT, "scope": "openid",
        "code_challenge": create_s256_code_challenge("c" * 64), "code_challenge_method": "S256",
    }, allow_redirects=False)
    assert answer.status_code == 400 and "client_id" in answer.text
    assert "authorization request refused (client 'nobody'" in caplog.text
    token = requests.post(metadata["token_endpoint"], auth=("nobody", "x"), data={"grant_type": "client_credentials"})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


def test_expired_code_is_refused(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    client = _client()
    answer, _state = _authorize(browser, metadata, client, "e" * 64)
    Grant.objects.update(expires=timezone.now() - timedelta(seconds=1))
    exchange = requests.post(metadata["token_endpoint"], auth=(CLIENT_ID, CLIENT_SECRET), data={
        "grant_type": "authorization_code", "code": parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0],
        "redirect_uri": REDIRECT, "code_verifier": "e" * 64,
    })
    assert exchange.status_code == 400 and exchange.json()["error"] == "invalid_grant"


def test_tampered_tokens_are_refused(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    client = _client()
    answer, _state = _authorize(browser, metadata, client, "t" * 64)
    token = client.fetch_token(metadata["token_endpoint"], authorization_response=answer.headers["Location"],
                               code_verifier="t" * 64)
    header, payload, signature = token["id_token"].split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "yici-1"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), signature])
    with pytest.raises(BadSignatureError):
        _verified(forged, metadata)
    # Yici refuses the forged ID token as a logout hint, and a tampered access token at userinfo.
    logout = browser.get(metadata["end_session_endpoint"], params={"id_token_hint": forged,
                                                                   "post_logout_redirect_uri": AFTER_LOGOUT},
                         allow_redirects=False)
    assert logout.status_code == 400
    bad = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}x"})
    assert bad.status_code == 401


def test_key_rotation_keeps_the_old_key_published_until_its_tokens_expire(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    client = _client()
    answer, _state = _authorize(browser, metadata, client, "k" * 64)
    old = client.fetch_token(metadata["token_endpoint"], authorization_response=answer.headers["Location"],
                             code_verifier="k" * 64)
    new_key, retired = signing_key_rotate()
    assert len(retired) == 1 and retired[0].publish_until > timezone.now()
    keys = requests.get(metadata["jwks_uri"]).json()["keys"]
    assert {k["kid"] for k in keys} == {new_key.kid, retired[0].kid}
    assert all(k["alg"] == "RS256" and "d" not in k for k in keys)  # public halves only
    _verified(old["id_token"], metadata, aud=CLIENT_ID)  # an old token still verifies

    client2 = _client()
    answer, _state = _authorize(browser, metadata, client2, "m" * 64)
    new = client2.fetch_token(metadata["token_endpoint"], authorization_response=answer.headers["Location"],
                              code_verifier="m" * 64)
    header = json.loads(__import__("base64").urlsafe_b64decode(new["id_token"].split(".")[0] + "=="))
    assert header["kid"] == new_key.kid
    # Once its tokens have expired the retired key leaves the JWKS.
    SigningKey.objects.filter(pk=retired[0].pk).update(publish_until=timezone.now() - timedelta(seconds=1))
    assert {k["kid"] for k in requests.get(metadata["jwks_uri"]).json()["keys"]} == {new_key.kid}


def test_user_without_an_account_there_is_refused(live_server, world):
    from yici.accounts.roles import Role

    register_rp(account_roles=[Role.VILLAGE_CADRE, Role.TOWNSHIP_STAFF])
    base = live_server.url
    metadata = requests.get(f"{base}/o/.well-known/openid-configuration").json()
    browser = browser_login(base, "bella")  # burden office: no account in the housing system
    answer, _state = _authorize(browser, metadata, _client(), "r" * 64)
    assert answer.status_code == 403
    assert AuditEvent.objects.filter(action="login", field="oidc_refused", actor=world.burden_office).exists()


def test_logout_without_a_hint_asks_on_yicis_own_page(provider, world):
    base, metadata = provider
    browser = browser_login(base, "bob")
    page = browser.get(metadata["end_session_endpoint"])
    assert page.status_code == 200 and 'data-testid="logout-confirm"' in page.text
    assert "/static/web/yici.css" in page.text  # Yici's base template, not the toolkit's


def test_a_system_that_is_not_first_party_asks_for_consent(live_server, world):
    import re

    register_rp(first_party=False)
    base = live_server.url
    metadata = requests.get(f"{base}/o/.well-known/openid-configuration").json()
    browser = browser_login(base, "bob")
    page, _state = _authorize(browser, metadata, _client(), "q" * 64)
    assert page.status_code == 200 and 'data-testid="consent-form"' in page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    fields["allow"] = "Authorize"
    answer = browser.post(page.url, data=fields, headers={"Referer": page.url}, allow_redirects=False)
    assert answer.status_code == 302 and "code=" in answer.headers["Location"]
