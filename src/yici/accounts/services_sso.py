"""Writes for one account: line systems as OIDC clients and machine clients, waiting counts."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.validators import AllowedURIValidator

from yici.accounts.models import LineSystemClient, PortalWaiting, User
from yici.accounts.roles import Role
from yici.audit.services import audit_write

Application = get_application_model()


def _uris(value: str | list[str]) -> list[str]:
    items = value.split() if isinstance(value, str) else list(value)
    validator = AllowedURIValidator(oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES, "redirect", allow_path=True,
                                    allow_query=True)
    for uri in items:
        try:
            validator(uri)
        except ValidationError:
            raise ValidationError(_("%(uri)s is not an allowed redirect address (an absolute %(schemes)s URL)")
                                  % {"uri": uri, "schemes": "/".join(oauth2_settings.ALLOWED_REDIRECT_URI_SCHEMES)}) from None
    return items


def client_state(client: LineSystemClient) -> dict:
    app = client.application
    return {
        "client_id": app.client_id if app else "",
        "redirect_uris": app.redirect_uris.split() if app else [],
        "post_logout_redirect_uris": app.post_logout_redirect_uris.split() if app else [],
        "first_party": client.first_party,
        "provisioning": client.provisioning,
        "account_roles": client.account_roles,
        "portal_url": client.portal_url,
        "machine_client_id": client.machine_application.client_id if client.machine_application else "",
    }


@transaction.atomic
def client_register(
    *, system, redirect_uris, post_logout_redirect_uris=(), portal_url: str = "", first_party: bool = False,
    provisioning: bool = False, account_roles=(), actor: User | None, client_id: str = "", client_secret: str = "",
) -> tuple[LineSystemClient, str]:
    """Register (or change) a line system as an OIDC client. Returns the client and, when new, its secret.

    The secret is returned once and stored hashed; changing a registration keeps the secret.
    ``client_id``/``client_secret`` may be given (the demo, whose simulators know theirs).
    """
    redirects = _uris(redirect_uris)
    if not redirects:
        raise ValidationError(_("at least one redirect address is required"))
    logouts = _uris(post_logout_redirect_uris)
    roles = [r for r in account_roles if r]
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise ValidationError(_("unknown role %(role)r; choose one of %(roles)s") % {"role": unknown[0], "roles": ", ".join(Role.values)})
    client = LineSystemClient.objects.select_for_update().filter(system=system).first()
    before = client_state(client) if client else None
    if client is None:
        client = LineSystemClient(system=system)
    secret = ""
    app = client.application
    if app is None:
        secret = client_secret or generate_client_secret()
        app = Application(
            name=system.name[:255], client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE, algorithm=Application.RS256_ALGORITHM,
            client_secret=secret, hash_client_secret=True,
        )
        if client_id:
            app.client_id = client_id
    app.redirect_uris = " ".join(redirects)
    app.post_logout_redirect_uris = " ".join(logouts)
    app.skip_authorization = first_party
    app.save()
    was_provisioning = client.provisioning
    client.application = app
    client.portal_url, client.first_party = portal_url, first_party
    client.provisioning, client.account_roles = provisioning, roles
    client.save()
    audit_write(actor=actor, action="create" if before is None else "update", obj=client, before=before,
                after=client_state(client))
    if provisioning and not was_provisioning:
        from yici.accounts.provisioning import provision_all

        provision_all(client=client)
    return client, secret


@transaction.atomic
def client_secret_reset(*, client: LineSystemClient, actor: User | None) -> str:
    """A new secret for the OIDC client (shown once); the old one stops working at once."""
    secret = generate_client_secret()
    app = client.application
    app.client_secret = secret
    app.hash_client_secret = True
    app.save()
    audit_write(actor=actor, action="update", obj=client, before=None, after={"client_secret_reset": app.client_id})
    return secret


@transaction.atomic
def machine_client_register(*, client: LineSystemClient, actor: User | None, client_id: str = "",
                            client_secret: str = "") -> tuple[str, str]:
    """A client-credentials client for the system's calls to Yici's API; a new secret each time (shown once)."""
    secret = client_secret or generate_client_secret()
    app = client.machine_application
    if app is None:
        app = Application(
            name=f"{client.system.name} (API)"[:255], client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS, algorithm=Application.NO_ALGORITHM,
        )
        if client_id:
            app.client_id = client_id
    app.client_secret = secret
    app.hash_client_secret = True
    app.save()
    client.machine_application = app
    client.save(update_fields=["machine_application"])
    audit_write(actor=actor, action="update", obj=client, before=None, after={"machine_secret_reset": app.client_id})
    return app.client_id, secret


@transaction.atomic
def waiting_report(*, system, items: list[dict]) -> int:
    """A line system reports what waits for its users: ``[{"sub", "count", "label"?, "url"?}]``."""
    from yici.accounts.oidc import user_from_subject

    if not isinstance(items, list):
        raise ValidationError(_("items must be a list"))
    stored = 0
    for item in items:
        if not isinstance(item, dict):
            raise ValidationError(_("each item is an object with sub and count"))
        user = user_from_subject(str(item.get("sub", "")))
        count = item.get("count")
        if user is None or not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValidationError(_("each item needs a known sub and a count that is a whole number ≥ 0"))
        PortalWaiting.objects.update_or_create(
            user=user, system=system,
            defaults={"count": count, "label": str(item.get("label", ""))[:100], "url": str(item.get("url", ""))[:500]},
        )
        stored += 1
    return stored


def tokens_clear_expired() -> None:
    """Delete expired tokens, grants and ID tokens (django-oauth-toolkit's ``clear_expired``).

    Every refresh leaves a revoked refresh token behind; they are kept as long as a refresh token
    lives (reuse of a rotated token must still be recognised) and deleted after. ``yici worker``
    runs this hourly; ``yici cleartokens`` does the same by hand.
    """
    from oauth2_provider.models import clear_expired

    clear_expired()

