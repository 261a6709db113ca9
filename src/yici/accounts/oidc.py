"""The OpenID Connect provider: signing keys, claims, and the few views that differ from django-oauth-toolkit's.

Keys are RS256 keys kept (encrypted) in ``SigningKey`` rather than in settings, so ``yici
oidc-rotate-key`` takes effect at once in every process: the active key signs, and a retired key is
published in the JWKS until the last ID token it signed has expired.
"""

import hashlib
import json
import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import router, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from jwcrypto import jwk, jws, jwt
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import FatalClientError
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from yici.accounts import token_sql
from yici.accounts.models import LineSystemClient, SigningKey, User

log = logging.getLogger(__name__)

ID_TOKEN_SIGNING_ALG = "RS256"


# --- Keys ------------------------------------------------------------------------------------------
def _new_key() -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048)


@transaction.atomic
def signing_key_rotate() -> tuple[SigningKey, list[SigningKey]]:
    """Make a new active key; retire the current one, published until its longest-lived token expires."""
    from yici.common.crypto import encrypt

    now = timezone.now()
    lifetime = max(oauth2_settings.ID_TOKEN_EXPIRE_SECONDS, oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    retired = list(SigningKey.objects.select_for_update().filter(retired_at__isnull=True))
    for key in retired:
        key.retired_at = now
        key.publish_until = now + timedelta(seconds=lifetime)
        key.save(update_fields=["retired_at", "publish_until"])
    material = _new_key()
    key = SigningKey.objects.create(
        kid=material.thumbprint(), private_pem_encrypted=encrypt(material.export_to_pem(private_key=True, password=None).decode())
    )
    # Keys whose tokens have all expired are of no use to anybody: drop them.
    SigningKey.objects.filter(retired_at__isnull=False, publish_until__lt=now).delete()
    _active.clear()  # this process signs with the new key at once
    return key, retired


_jwk_cache: dict[str, jwk.JWK] = {}


def _as_jwk(key: SigningKey) -> jwk.JWK:
    cached = _jwk_cache.get(key.kid)
    if cached is None:
        cached = _jwk_cache[key.kid] = jwk.JWK.from_pem(key.private_pem.encode())
    return cached


# A process keeps signing with the key it read for up to ``YICI_SIGNING_KEY_CACHE_SECONDS`` (30) after
# a rotation. That is safe: the JWKS is always read from the database, and a retired key stays
# published far longer.
_active: dict = {}


def active_signing_key() -> tuple[str, jwk.JWK]:
    """The key that signs now; the first call of a fresh install makes one."""
    cached = _active.get("key")
    if cached and time.monotonic() - cached[2] < getattr(settings, "YICI_SIGNING_KEY_CACHE_SECONDS", 30):
        return cached[0], cached[1]
    key = SigningKey.objects.filter(retired_at__isnull=True).order_by("-created_at", "-id").first()
    if key is None:
        key, _retired = signing_key_rotate()
    _active["key"] = (key.kid, _as_jwk(key), time.monotonic())
    return key.kid, _as_jwk(key)


def published_keys() -> list[SigningKey]:
    now = timezone.now()
    if not SigningKey.objects.filter(retired_at__isnull=True).exists():
        signing_key_rotate()  # a fresh install: make the first key
    return [k for k in SigningKey.objects.all() if k.retired_at is None or (k.publish_until and k.publish_until > now)]


def verification_key(kid: str) -> jwk.JWK | None:
    key = next((k for k in published_keys() if k.kid == kid), None)
    return _as_jwk(key) if key else None


def jwks() -> dict:
    keys = []
    for key in published_keys():
        public = json.loads(_as_jwk(key).export_public())
        keys.append({**public, "alg": ID_TOKEN_SIGNING_ALG, "use": "sig", "kid": key.kid})
    return {"keys": keys}


def sign_jwt(claims: dict, *, typ: str = "JWT") -> str:
    kid, key = active_signing_key()
    token = jwt.JWT(header={"typ": typ, "alg": ID_TOKEN_SIGNING_ALG, "kid": kid}, claims=json.dumps(claims, default=str))
    token.make_signed_token(key)
    return token.serialize()


# --- Claims ----------------------------------------------------------------------------------------
def user_claims(user: User) -> dict:
    """Everything Yici says about a user; the validator releases each claim only with its scope."""
    return {
        "sub": subject_of(user),
        "name": user.display_name or user.username,
        "preferred_username": user.username,
        "locale": "zh-CN",
        "area_code": user.area.code if user.area_id else "",
        "area_name": user.area.name if user.area_id else "",
        "roles": [user.role],
        "department": user.department.code if user.department_id else "",
        "department_name": user.department.name if user.department_id else "",
        "phone_number": user.phone or "",
    }


def subject_of(user: User) -> str:
    """A stable, opaque ``sub``: the database key never changes and says nothing about the person."""
    return f"yici-{user.pk}"


def user_from_subject(sub: str) -> User | None:
    if not sub.startswith("yici-") or not sub[5:].isdigit():
        return None
    return User.objects.filter(pk=int(sub[5:])).first()


class YiciOAuth2Validator(OAuth2Validator):
    """django-oauth-toolkit's validator with Yici's claims and keys, and a lean refresh.

    A token refresh is the hot path (goal: ≥ 300/s on two cores, docs/benchmarks.md "One account").
    The toolkit's own refresh, as configured here, made 24 statements in three transactions (30 with
    the transaction control) and cost 17 ms of CPU; this one makes seven in one transaction — read
    the client; read the refresh token
    with its user, the user's area and its access token; claim the token; delete its access token;
    insert the new access token, the new refresh token and the audit row — with the same behaviour:
    rotation, reuse detection (a revoked token offered again revokes its whole family, still done
    by the toolkit's own code), hashed token storage, an audit row for every issuance. The writes
    bind their SQL once per process (``token_sql``). A refresh brings no new ID token
    (``refresh_id_token``).
    """

    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "area_code": "profile",
        "area_name": "profile",
        "roles": "profile",
        "department": "profile",
        "department_name": "profile",
    }

    def get_claim_dict(self, request):
        return user_claims(request.user)

    def get_discovery_claims(self, request):
        return ["sub", "name", "preferred_username", "locale", "area_code", "area_name", "roles", "department",
                "department_name", "phone_number"]

    def get_oidc_claims(self, token, token_handler, request):
        claims = super().get_oidc_claims(token, token_handler, request)
        if "phone_number" in claims and not claims["phone_number"]:
            del claims["phone_number"]
        return claims

    def finalize_id_token(self, id_token, token, token_handler, request):
        """Sign the ID token with the active key; its row is written with the access token it comes with.

        The toolkit saves the row here in a transaction of its own and later finds it again by
        verifying the token it just signed (a JWKS read and an RSA verification per issuance); Yici
        keeps the unsaved row on the request and ``_create_access_token`` saves it in the token
        transaction, so a failed save leaves no stray ID token behind either.
        """
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        serialized = sign_jwt(id_token)
        row = IDToken(user=request.user, scope=request.scope or " ".join(request.scopes), expires=expiration_time,
                      jti=id_token["jti"], application=request.client)
        request.access_token = row
        request.id_token = row
        return serialized

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        id_token = getattr(request, "id_token", None)
        if token.get("id_token") and not isinstance(id_token, IDToken):
            # Not signed by ``finalize_id_token`` above: let the toolkit find the row itself.
            return super()._create_access_token(expires, request, token, source_refresh_token=source_refresh_token)
        if isinstance(id_token, IDToken) and id_token.pk is None:
            token_sql.insert(id_token, using=router.db_for_write(IDToken))
        access_token = AccessToken(
            user=request.user, scope=token["scope"], expires=expires,
            id_token=id_token if isinstance(id_token, IDToken) else None, application=request.client,
            source_refresh_token=source_refresh_token, resource=getattr(request, "resource", None) or [],
        )
        self._set_token_value(access_token, token["access_token"])
        token_sql.insert(access_token, using=router.db_for_write(AccessToken))
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh_token = RefreshToken(
            user=request.user, application=request.client, access_token=access_token,
            token_family=previous_refresh_token.token_family if previous_refresh_token else uuid.uuid4(),
            resource=getattr(request, "resource", None) or [],
        )
        self._set_token_value(refresh_token, refresh_token_code)
        token_sql.insert(refresh_token, using=router.db_for_write(RefreshToken))
        return refresh_token

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """The toolkit's check, reading the token with everything a refresh needs in one query.

        The toolkit reads the token, then its user and its application lazily, and the audit reads
        the user's area: four queries where one does. A revoked token (reuse, or a retry within a
        grace period) goes to the toolkit's own code unchanged: it revokes the family. Unlike the
        toolkit, a disabled user's token is refused too.
        """
        checksum = hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()
        # Several rows may share a checksum (uniqueness is (token_checksum, revoked)): prefer the live
        # one, then the most recently revoked, as the toolkit does (ordering in Python costs nothing,
        # ``ORDER BY revoked DESC NULLS FIRST`` costs a fifth of the query's CPU).
        rows = token_sql.refresh_tokens_by_checksum(checksum, using=router.db_for_read(RefreshToken))
        if not rows:
            return False
        rt = min(rows, key=lambda row: (row.revoked is not None, -(row.revoked.timestamp() if row.revoked else 0)))
        if rt.revoked is not None:
            return super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if rt.access_token is None:
            return False  # an orphan (its access token was revoked): nothing to refresh against
        expire_delta = refresh_token_expire_timedelta()
        if expire_delta and rt.access_token.expires + expire_delta <= timezone.now():
            return False
        if not rt.user.is_active:
            return False  # a disabled user's sign-ins end everywhere, whatever tokens survived
        request.user = rt.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = rt
        return rt.application_id == client.pk

    def _save_bearer_token(self, token, request, *args, **kwargs):
        """Save the tokens and audit the issuance, in the one transaction ``save_bearer_token`` opens.

        Issuance and its audit row commit together: no token without its audit, nothing batched.
        """
        rt = getattr(request, "refresh_token_instance", None)
        if (token.get("refresh_token") and isinstance(rt, RefreshToken) and rt.revoked is None
                and self.rotate_refresh_token(request)):
            self._rotate(token, request, rt)
        else:
            super()._save_bearer_token(token, request, *args, **kwargs)
        token_issued_audit(request=request, scope=token.get("scope", ""))

    def _rotate(self, token, request, rt):
        """Refresh-token rotation in four writes.

        The toolkit locks the token (``SELECT … FOR UPDATE``), looks for an access token a
        concurrent rotation made, re-reads and re-locks the token to revoke it, reads and deletes
        its access token, and saves it: nine statements. Here one conditional ``UPDATE`` claims the
        token: of two concurrent refreshes with the same token exactly one updates a row, and the
        other is refused (``invalid_grant``) and rolled back; offered again, the token is a reused
        one and revokes its family.
        """
        if "scope" not in token:
            raise FatalClientError("Failed to renew access token: missing scope")
        self._check_and_set_request_resource(request)
        now = timezone.now()
        expires = now + timedelta(seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS))
        old_access_token_id = rt.access_token_id
        using = router.db_for_write(RefreshToken)
        if not token_sql.refresh_token_claim(rt, now=now, using=using):
            raise oauth_errors.InvalidGrantError(description="The refresh token was used by another request.",
                                                 request=request)
        rt.revoked, rt.updated, rt.access_token = now, now, None
        if old_access_token_id is not None:
            # What ``AccessToken.revoke()`` does. The claim cleared the refresh token's pointer to it, the
            # only reference an access token has, so it goes without Django's collector.
            token_sql.delete(AccessToken, old_access_token_id, using=router.db_for_write(AccessToken))
        access_token = self._create_access_token(expires, request, token, source_refresh_token=rt)
        self._create_refresh_token(request, token["refresh_token"], access_token, rt)
        request.refresh_token_instance = None

    def refresh_id_token(self, request):
        """A refresh answers with new access and refresh tokens but no new ID token (OIDC Core 12.2 allows it).

        Why: an ID token is an RS256 signature (≈ 0.4 ms of CPU here) plus its claims, a database
        row and the join that reads the claims: about a fifth of a refresh's CPU, and refreshing is
        what a line system does all day (goal: ≥ 300 refreshes/s on two cores). A relying party
        learns a user's current name, area and role from userinfo (Yici's simulated systems
        re-validate every session with it) and through provisioning. The sign-in's ID token stays
        the RP's ``id_token_hint`` for logout: expired hints are accepted and its row is kept, but
        once a key rotation has retired its key and the retired key has left the JWKS (an ID
        token's lifetime later), Yici cannot verify it and asks the user to confirm the logout on
        its own page. A new sign-in (authorization code) always brings a new ID token.
        """
        return False

    def _get_key_for_token(self, token):
        """The published key named by the token's ``kid`` (None for an unknown key or a malformed token)."""
        unverified = jws.JWS()
        unverified.deserialize(token)
        header = unverified.jose_header if isinstance(unverified.jose_header, dict) else {}
        if header.get("alg") != ID_TOKEN_SIGNING_ALG:
            return None
        return verification_key(str(header.get("kid", "")))

    def validate_user(self, username, password, client, request, *args, **kwargs):  # password grant: never
        return False


AccessToken = get_access_token_model()
IDToken = get_id_token_model()
RefreshToken = get_refresh_token_model()


# --- Views -----------------------------------------------------------------------------------------
class DiscoveryView(dot_views.ConnectDiscoveryInfoView):
    """django-oauth-toolkit's discovery document, saying RS256 (keys are not in settings) and S256 only."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data["id_token_signing_alg_values_supported"] = [ID_TOKEN_SIGNING_ALG]
        data["code_challenge_methods_supported"] = ["S256"]
        data["grant_types_supported"] = ["authorization_code", "refresh_token", "client_credentials"]
        data["claims_supported"] = YiciOAuth2Validator().get_discovery_claims(request)
        response.content = json.dumps(data)
        return response


class JwksView(dot_views.JwksInfoView):
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response.content = json.dumps(jwks())
        return response


class TokenView(dot_views.TokenView):
    """The token endpoint, without the toolkit's ``app_authorized`` round trip.

    The toolkit reads the access token it has just written back from the database to send
    ``app_authorized``; Yici audits every issuance inside the token transaction instead
    (``YiciOAuth2Validator._save_bearer_token``), so that read is skipped.
    """

    def authorization_flow_token_response(self, request, *args, **kwargs):
        _url, headers, body, status = self.create_token_response(request)
        # An error raised while saving (a rotation lost to a concurrent one) comes without oauthlib's
        # default headers: it is JSON all the same, and not to be cached.
        response = HttpResponse(content=body, status=status, content_type="application/json")
        response["Cache-Control"] = "no-store"
        for key, value in headers.items():
            response[key] = value
        return response


class AuthorizationView(dot_views.AuthorizationView):
    """Sign-in for a line system: only for users who have (or should have) an account there."""

    template_name = "accounts/oidc_authorize.html"

    def get(self, request, *args, **kwargs):
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self._logged(request, super().get(request, *args, **kwargs))

    def post(self, request, *args, **kwargs):
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self._logged(request, super().post(request, *args, **kwargs))

    def error_response(self, error, application, **kwargs):
        response = super().error_response(error, application, **kwargs)
        self._error = error
        return response

    def _logged(self, request, response):
        """Every refused authorization request is logged: unknown client, unregistered redirect, bad PKCE …"""
        location = response.get("Location", "") if response.status_code in (301, 302) else ""
        if response.status_code >= 400 or "error=" in location:
            log.warning("authorization request refused (client %r, redirect %r): %s",
                        request.GET.get("client_id", "")[:100], request.GET.get("redirect_uri", "")[:200],
                        getattr(self, "_error", None) or location[:300])
        return response

    def _refusal(self, request):
        client_id = request.GET.get("client_id") or request.POST.get("client_id") or ""
        application = get_application_model().objects.filter(client_id=client_id).first()
        client = LineSystemClient.objects.filter(application=application).select_related("system").first() \
            if application else None
        if client is None or not request.user.is_authenticated:
            return None  # unknown clients get django-oauth-toolkit's error page; anonymous users the login page
        from yici.accounts.provisioning import account_usable

        if account_usable(user=request.user, client=client):
            return None
        from yici.audit.services import audit_event

        audit_event(actor=request.user, action="login", field="oidc_refused", obj=request.user,
                    reason=f"no account in {client.system.code}", request=request)
        log.warning("sign-in of %s to %s refused: no account there", request.user.username, client.system.code)
        return render(request, "accounts/oidc_no_account.html", {"system": client.system}, status=403)


class LogoutView(dot_views.RPInitiatedLogoutView):
    """RP-initiated logout, on Yici's own page when it must ask (no valid ``id_token_hint``)."""

    template_name = "accounts/oidc_logout_confirm.html"


def logout_tokens_revoke(*, user: User) -> int:
    """Revoke every token the user's browser sign-ins produced, so relying parties end their sessions too.

    The simulated (and any conforming) relying party re-validates its session with userinfo; a revoked
    token answers 401 there, and the line system signs the user out.
    """
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    tokens = list(AccessToken.objects.filter(user=user).select_related("id_token"))
    refresh = list(RefreshToken.objects.filter(user=user, revoked__isnull=True))
    for token in tokens:
        if token.id_token_id:
            token.id_token.revoke()
        token.revoke()
    for item in refresh:
        item.revoke()
    return len(tokens)


class _RemoteAddress:
    """What ``audit_event`` reads from a request (its address), for the oauthlib request of the token endpoint."""

    def __init__(self, oauthlib_request):
        self.META = {"REMOTE_ADDR": oauthlib_request.headers.get("REMOTE_ADDR")}


# application pk → (line system code, when read): the audit of every token names the line system, and a
# client's system does not change (a system registers a new client, with a new pk), so each process
# reads it once a minute rather than once per token. Saving or deleting a client, a line system or
# its registration forgets them all in this process (``system_codes_forget``, connected in signals.py).
_system_codes: dict[int, tuple[str, float]] = {}
_SYSTEM_CODE_SECONDS = 60


def system_codes_forget(**kwargs) -> None:
    _system_codes.clear()


def _system_code(application) -> str:
    """The code of the line system ``application`` is the sign-in or the machine client of ("" if none)."""
    if application is None or application.pk is None:
        return ""
    cached = _system_codes.get(application.pk)
    if cached is not None and time.monotonic() - cached[1] < _SYSTEM_CODE_SECONDS:
        return cached[0]
    code = LineSystemClient.objects.filter(
        Q(application_id=application.pk) | Q(machine_application_id=application.pk)
    ).values_list("system__code", flat=True).first() or ""
    _system_codes[application.pk] = (code, time.monotonic())
    return code


def token_issued_audit(*, request, scope: str) -> None:
    """Every token issued is audited (``token_issued``); a browser sign-in counts as a login avoided.

    ``request`` is the token endpoint's oauthlib request; called inside the token transaction.
    """
    from yici.audit.models import AuditAction
    from yici.audit.services import audit_event
    from yici.burden.models import BurdenMetric
    from yici.burden.services import burden_record

    application = request.client
    user = request.user if isinstance(request.user, User) else None
    grant = request.grant_type or ""
    system = _system_code(application)
    audit_event(actor=user, action=AuditAction.TOKEN_ISSUED, field=grant, obj=user or application,
                after={"client": application.client_id if application else "", "grant": grant, "scope": scope,
                       "system": system},
                request=_RemoteAddress(request))
    if user is not None and grant == "authorization_code":
        burden_record(metric=BurdenMetric.LOGINS_AVOIDED, user=user, context=system)


def refused_message(error: str) -> str:
    return _("The sign-in request was refused: %(error)s") % {"error": error}
