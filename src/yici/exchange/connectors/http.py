"""The one outbound HTTP point: timeouts, signatures, no redirects, an optional private-address policy.

Built on the standard library (no HTTP client is installed); tests serve against it or patch
``post``. ``YICI_OUTBOUND_BLOCK_PRIVATE`` (default off: line systems usually sit on the
government intranet) refuses hosts that resolve to private, loopback or link-local addresses.
"""

import hashlib
import hmac
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_RESPONSE_BYTES = 64 * 1024


class TransportError(Exception):
    """No HTTP answer: refused, timed out, unreachable, or blocked by policy (``blocked``)."""

    def __init__(self, message: str, *, blocked: bool = False, duration_ms: int = 0):
        super().__init__(message)
        self.blocked = blocked
        self.duration_ms = duration_ms


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    duration_ms: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``timestamp + "." + body``, as ``sha256=<hex>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300) -> bool:
    try:
        if abs(time.time() - int(timestamp)) > tolerance:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is answered as the 3xx it is


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _check_address(url: str) -> None:
    if not getattr(settings, "YICI_OUTBOUND_BLOCK_PRIVATE", False):
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise TransportError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            raise TransportError(f"{host} resolves to a private address ({address})", blocked=True)


def post(url: str, body: bytes, *, headers: dict[str, str], timeout: float) -> Response:
    """POST ``body`` (see ``request``)."""
    return request("POST", url, body, headers=headers, timeout=timeout)


def request(method: str, url: str, body: bytes | None = None, *, headers: dict[str, str], timeout: float) -> Response:
    """Send one request: any HTTP status comes back as a ``Response`` (no redirects followed), no
    answer raises ``TransportError``."""
    _check_address(url)
    outgoing = urllib.request.Request(url, data=body, method=method.upper(), headers=headers)
    started = time.perf_counter()
    try:
        with _opener.open(outgoing, timeout=timeout) as response:
            data = response.read(MAX_RESPONSE_BYTES)
            status = response.status
    except urllib.error.HTTPError as exc:
        data = exc.read(MAX_RESPONSE_BYTES) if exc.fp else b""
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TransportError(str(reason), duration_ms=_ms(started)) from exc
    return Response(status=status, body=data, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
