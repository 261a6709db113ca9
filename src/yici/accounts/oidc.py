"""The OpenID Connect provider: signing keys, claims, and the few views that differ from django-oauth-toolkit's.

Keys are RS256 keys kept (encrypted) in ``SigningKey`` rather than in settings, so ``yici
oidc-rotate-key`` takes effect at once in every process: the active key signs, and a retired key is
published in the JWKS until the last ID token it signed has expired.
"""

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from jwcrypto import jwk, jws, jwt
from oauth2_provider import views as dot_views
from oauth2_provider.models import get_application_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings

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
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        serialized = sign_jwt(id_token)
        with transaction.atomic():
            saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = saved
        request.id_token = saved
        return serialized

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


def token_issued_audit(sender, request, token, **kwargs):
    """``app_authorized``: every token issued is audited; a browser sign-in counts as a login avoided."""
    from yici.audit.services import audit_event
    from yici.burden.models import BurdenMetric
    from yici.burden.services import burden_record

    application = token.application
    grant = request.POST.get("grant_type", "")
    system = LineSystemClient.objects.filter(application=application).select_related("system").first()
    obj = token.user if token.user_id else application
    audit_event(actor=token.user if token.user_id else None, action="login", field="oidc_token", obj=obj,
                after={"client": application.client_id if application else "", "grant": grant,
                       "scope": token.scope, "system": system.system.code if system else ""},
                request=request)
    if token.user_id and grant == "authorization_code":
        burden_record(metric=BurdenMetric.LOGINS_AVOIDED, user=token.user,
                      context=system.system.code if system else "")


def refused_message(error: str) -> str:
    return _("The sign-in request was refused: %(error)s") % {"error": error}
