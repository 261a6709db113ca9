"""Helpers for the one-account tests: a registered line system and a browser-like session."""

import re

import requests

from yici.accounts.services_sso import client_register
from yici.exchange.models import LineSystem

REDIRECT = "http://rp.invalid/callback"
AFTER_LOGOUT = "http://rp.invalid/signed-out"
CLIENT_ID = "housing-client"
CLIENT_SECRET = "housing-secret-0123456789abcdef"


def register_rp(*, code="zhujian-housing", first_party=True, provisioning=False, client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET, redirect=REDIRECT, portal_url="", account_roles=()):
    system = LineSystem.objects.create(code=code, name=f"{code} system")
    client, secret = client_register(
        system=system, redirect_uris=redirect, post_logout_redirect_uris=AFTER_LOGOUT, portal_url=portal_url,
        first_party=first_party, provisioning=provisioning, account_roles=account_roles, actor=None,
        client_id=client_id, client_secret=client_secret,
    )
    return client


def browser_login(base_url: str, username: str, password: str = "password-for-tests") -> requests.Session:
    """A ``requests`` session signed in to Yici through the login form, like a browser."""
    session = requests.Session()
    page = session.get(f"{base_url}/accounts/login/")
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    token = match.group(1) if match else session.cookies.get("csrftoken")
    answer = session.post(f"{base_url}/accounts/login/", data={
        "username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/",
    }, headers={"Referer": f"{base_url}/accounts/login/"}, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:500]
    return session
