"""One account in the demo county: three simulated line systems sign in through Yici and receive accounts.

The demo's line systems and their delivery endpoints are made by ``yici.exchange.demo`` (share once);
this adds, for each simulated system, its OIDC client (first-party: no consent screen), provisioning
through SCIM (the endpoint's kind becomes ``scim``: registry changes still go to its delivery URL
as ``http-json``, accounts to ``/scim/v2``; the endpoint's secret is the SCIM bearer token) and the
portal tile. ``simulator_sso_arguments`` gives the options each simulator is started with.
"""

import os

from django.db import transaction
from oauth2_provider.models import get_application_model

from yici.accounts.models import Department
from yici.accounts.roles import Role

# code → (name, department code, port, provisioning connector)
DEMO_SSO_SYSTEMS = {
    "zhujian-housing": ("住建农房管理系统（模拟）", "zhujian", 8101, "scim"),
    "minzheng-civil": ("民政救助业务系统（模拟）", "minzheng", 8102, "scim"),
    "wenlv-culture": ("文旅场所管理系统（模拟）", "wenlv", 8103, "scim"),
}
ROLES = {
    "zhujian-housing": [Role.VILLAGE_CADRE, Role.TOWNSHIP_STAFF, Role.COUNTY_ADMIN],
    "minzheng-civil": [Role.VILLAGE_CADRE, Role.TOWNSHIP_STAFF, Role.DEPARTMENT_STAFF, Role.COUNTY_ADMIN],
    "wenlv-culture": [Role.VILLAGE_CADRE, Role.TOWNSHIP_STAFF, Role.COUNTY_ADMIN],
}


def simulator_sso_arguments(code: str, *, issuer: str = "http://127.0.0.1:8000/o") -> list[str]:
    """The ``yici simulate-line-system`` options that make a demo simulator sign in with Yici and serve SCIM."""
    if code not in DEMO_SSO_SYSTEMS:
        return []
    client_id, client_secret = demo_sso_credentials(code)
    arguments = ["--oidc-issuer", issuer, "--client-id", client_id, "--client-secret", client_secret]
    if DEMO_SSO_SYSTEMS[code][3] == "scim":
        arguments.append("--scim")
    return arguments


def demo_sso_credentials(code: str) -> tuple[str, str]:
    """The demo client ID and secret of a simulated system (public, like the demo password)."""
    prefix = os.environ.get("YICI_DEMO_SSO_SECRET", "yici-demo-sso-2026")
    return code, f"{prefix}-{code}"


@transaction.atomic
def load_demo_sso(*, host: str = "127.0.0.1", simulator_secret: str | None = None) -> list[str]:
    """Register the three simulated systems as OIDC clients with provisioning on; returns their codes."""
    from yici.accounts.services_sso import client_register
    from yici.exchange.models import LineSystem, LineSystemEndpoint

    Application = get_application_model()
    secret = simulator_secret if simulator_secret is not None else os.environ.get("YICI_SIMULATOR_SECRET", "yici-demo-simulator")
    codes = []
    for code, (name, department_code, port, kind) in DEMO_SSO_SYSTEMS.items():
        base = f"http://{host}:{port}"
        department = Department.objects.filter(code=department_code).first()
        system, _created = LineSystem.objects.get_or_create(code=code, defaults={"name": name, "department": department})
        endpoint = LineSystemEndpoint.objects.filter(system=system).first()
        if endpoint is None:
            endpoint = LineSystemEndpoint(system=system, url=f"{base}/changes", secret=secret)
        if kind == "scim":
            # Registry changes keep going to the delivery URL; accounts go to the SCIM base.
            endpoint.kind = "scim"
            endpoint.config = {**(endpoint.config or {}), "scim_url": f"{base}/scim/v2"}
        endpoint.save()
        client_id, client_secret = demo_sso_credentials(code)
        Application.objects.filter(client_id=client_id, line_system_client__isnull=True).delete()
        client, _new_secret = client_register(
            system=system, redirect_uris=f"{base}/callback", post_logout_redirect_uris=f"{base}/home",
            portal_url=f"{base}/login", first_party=True, provisioning=True, account_roles=ROLES[code], actor=None,
            client_id=client_id, client_secret=client_secret,
        )
        if not _new_secret:  # loaded before: make sure the simulator's secret still works
            client.application.client_secret = client_secret
            client.application.save()
        codes.append(code)
    return codes
