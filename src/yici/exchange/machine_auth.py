"""Which line system is calling: machine authentication for the pull API and inbound changes.

A line system signs each request with the HMAC secret it shares with Yici (the same scheme as
Yici's deliveries, so one secret serves both directions):

    X-Yici-System: <line system code>
    X-Yici-Timestamp: <unix seconds>
    X-Yici-Signature: sha256=HMAC(secret, timestamp + "." + METHOD + " " + path?query as sent (percent-encoded) + "\\n" + body)

The timestamp must be within five minutes and a signature is accepted once (``MachineNonce``), so
a captured request cannot be replayed. ``line_system_from_request`` is the one entry point; the
one-account issue adds OAuth2 client-credentials bearer tokens here.
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from yici.exchange.connectors.http import sign, verify

TOLERANCE_SECONDS = 300


class MachineAuthError(Exception):
    """The request does not prove which line system sent it (the message says why, in one line)."""


def signing_message(method: str, full_path: str, body: bytes) -> bytes:
    return f"{method.upper()} {full_path}\n".encode() + body


def sign_request(secret: str, timestamp: str, method: str, full_path: str, body: bytes = b"") -> str:
    """The ``X-Yici-Signature`` value a line system sends (used by tests, the simulator and clients)."""
    return sign(secret, timestamp, signing_message(method, full_path, body))


def line_system_from_request(request):
    """The active line system that signed ``request``; raises ``MachineAuthError`` otherwise."""
    from yici.exchange.models import LineSystem

    if request.headers.get("Authorization", "").startswith("Bearer "):
        from yici.accounts.machine import line_system_from_bearer

        return line_system_from_bearer(request)
    code = request.headers.get("X-Yici-System", "")
    timestamp = request.headers.get("X-Yici-Timestamp", "")
    signature = request.headers.get("X-Yici-Signature", "")
    if not code or not timestamp or not signature:
        raise MachineAuthError("missing X-Yici-System, X-Yici-Timestamp or X-Yici-Signature")
    system = LineSystem.objects.filter(code=code).select_related("endpoint").first()
    endpoint = getattr(system, "endpoint", None) if system else None
    if endpoint is None or not endpoint.active or not endpoint.secret_encrypted:
        raise MachineAuthError("unknown or inactive line system")
    message = signing_message(request.method, request.get_full_path(), request.body)
    if not verify(endpoint.secret, timestamp, message, signature, tolerance=TOLERANCE_SECONDS):
        raise MachineAuthError("bad signature or stale timestamp")
    _use_once(signature)
    return system


def _use_once(signature: str) -> None:
    from yici.exchange.models import MachineNonce

    now = timezone.now()
    try:
        with transaction.atomic():
            MachineNonce.objects.create(signature=signature[:80], seen_at=now)
    except IntegrityError:
        raise MachineAuthError("this signed request was already used (replay)") from None
    # Signatures older than the tolerance can no longer verify; forget them now and then.
    if now.second == 0:
        MachineNonce.objects.filter(seen_at__lt=now - timedelta(seconds=2 * TOLERANCE_SECONDS)).delete()
