"""Machine access: a line system calls Yici's API with an OAuth2 client-credentials token.

The token must have been issued to the machine client registered for an active line system
(``LineSystemClient.machine_application``), be unexpired and unrevoked, and carry the ``exchange``
scope. ``yici.exchange.machine_auth.line_system_from_request`` hands bearer requests here.
"""

import logging

from oauth2_provider.oauth2_validators import OAuth2Validator

from yici.accounts.models import LineSystemClient

log = logging.getLogger(__name__)

MACHINE_SCOPE = "exchange"


def line_system_from_bearer(request):
    from yici.exchange.machine_auth import MachineAuthError

    header = request.headers.get("Authorization", "")
    raw = header[len("Bearer "):].strip()
    if not raw:
        raise MachineAuthError("empty bearer token")
    token = OAuth2Validator()._load_access_token(raw)
    if token is None or not token.is_valid([MACHINE_SCOPE]):
        log.warning("machine request with an unknown, expired or under-scoped bearer token")
        raise MachineAuthError("bearer token unknown, expired, revoked or without the exchange scope")
    if token.user_id is not None:
        raise MachineAuthError("a user's token cannot act as a line system")
    client = LineSystemClient.objects.filter(machine_application_id=token.application_id).select_related(
        "system", "system__endpoint"
    ).first()
    if client is None:
        raise MachineAuthError("the token's client is not a line system")
    endpoint = getattr(client.system, "endpoint", None)
    if endpoint is not None and not endpoint.active:
        raise MachineAuthError("unknown or inactive line system")
    return client.system
