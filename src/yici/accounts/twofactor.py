"""The second factor: TOTP (an authenticator app) with recovery codes, via django-otp.

County admins, department staff and auditors must use it when ``YICI_REQUIRE_2FA`` is on; anyone
else may turn it on, and then it is asked for at every sign-in too. ``TwoFactorMiddleware`` sends a
signed-in user who still owes the second factor to ``accounts:two_factor`` before any other page.
"""

import base64
import io
import secrets

from django.conf import settings
from django.db import transaction
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from yici.accounts.roles import Role

TWO_FACTOR_ROLES = frozenset({Role.COUNTY_ADMIN, Role.DEPARTMENT_STAFF, Role.AUDITOR})
RECOVERY_CODES = 10
SESSION_NEEDED_KEY = "_yici_2fa_needed"


def required_for(user) -> bool:
    return bool(getattr(settings, "YICI_REQUIRE_2FA", False)) and user.role in TWO_FACTOR_ROLES


def enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def needed(user) -> bool:
    """Whether this user must pass the second factor to use Yici (required, or turned on by them)."""
    return required_for(user) or enrolled(user)


def totp_start(*, user) -> TOTPDevice:
    """An unconfirmed TOTP device for the setup page (one at a time; a fresh key each setup)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def qr_data_uri(device: TOTPDevice) -> str:
    import qrcode
    import qrcode.image.svg

    out = io.BytesIO()
    qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage).save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def base32_key(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


@transaction.atomic
def totp_confirm(*, request, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm setup with a first code; returns the new recovery codes, or None if the code is wrong."""
    if not device.verify_token(token.strip().replace(" ", "")):
        return None
    TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = recovery_codes_reset(user=device.user)
    otp_login(request, device)
    from yici.audit.services import audit_event

    audit_event(actor=device.user, action="update", field="otp_device", obj=device.user, request=request)
    return codes


@transaction.atomic
def recovery_codes_reset(*, user) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(user=user, name="recovery", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [f"{secrets.randbelow(10**8):08d}" for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def verify(*, request, token: str) -> bool:
    """Check a TOTP code or a recovery code (used once); on success the session is verified."""
    from yici.audit.services import audit_event

    user = request.user
    token = token.strip().replace(" ", "")
    for device in [*TOTPDevice.objects.filter(user=user, confirmed=True),
                   *StaticDevice.objects.filter(user=user, confirmed=True)]:
        with transaction.atomic():
            if device.verify_token(token):
                otp_login(request, device)
                request.session[SESSION_NEEDED_KEY] = False
                audit_event(actor=user, action="login", field="otp", obj=user, request=request,
                            reason="recovery code" if isinstance(device, StaticDevice) else "")
                return True
    audit_event(actor=user, action="login", field="otp_failed", obj=user, request=request)
    return False
