"""The second factor: required for county admins, department staff and auditors; optional for others."""

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from yici.audit.models import AuditEvent


@pytest.fixture
def require_2fa(settings):
    settings.YICI_REQUIRE_2FA = True
    # django-otp throttles after a wrong code (1 s, 2 s, 4 s …); the flows below type a wrong one first.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def login(client, username):
    response = client.post(reverse("accounts:login"), {"username": username, "password": "password-for-tests"})
    assert response.status_code == 302
    return response


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


@pytest.mark.parametrize("username", ["alice", "dora", "audrey"])
def test_required_roles_must_set_up_the_second_factor_first(client, world, require_2fa, username):
    login(client, username)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:two_factor"))
    setup = client.get(reverse("accounts:two_factor"))
    assert b"otp-setup-form" in setup.content and b"data:image/svg+xml;base64," in setup.content
    device = TOTPDevice.objects.get(user__username=username, confirmed=False)
    wrong = client.post(reverse("accounts:two_factor"), {"token": "000000", "next": "/"})
    assert wrong.status_code == 200 and not TOTPDevice.objects.filter(confirmed=True).exists()
    done = client.post(reverse("accounts:two_factor"), {"token": code_for(device), "next": "/"})
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/").status_code == 200  # verified for the rest of the session


def test_enrolled_user_is_asked_for_a_code_at_every_sign_in_and_recovery_codes_work_once(client, world, require_2fa):
    login(client, "alice")
    device = TOTPDevice.objects.create(user=world.admin, name="a", confirmed=True)
    from yici.accounts.twofactor import recovery_codes_reset

    codes = recovery_codes_reset(user=world.admin)
    client.get("/")
    verify = client.get(reverse("accounts:two_factor"))
    assert b"otp-form" in verify.content
    assert client.post(reverse("accounts:two_factor"), {"token": "123", "next": "/"}).status_code == 200
    assert AuditEvent.objects.filter(action="login", field="otp_failed", actor=world.admin).exists()
    response = client.post(reverse("accounts:two_factor"), {"token": codes[0], "next": "/registry/"})
    assert response.status_code == 302 and response["Location"] == "/registry/"
    client.post(reverse("accounts:logout"))
    login(client, "alice")
    assert client.post(reverse("accounts:two_factor"), {"token": codes[0], "next": "/"}).status_code == 200  # used
    assert client.post(reverse("accounts:two_factor"), {"token": code_for(device), "next": "/"}).status_code == 302
    assert AuditEvent.objects.filter(action="login", field="otp", actor=world.admin).count() == 2


def test_next_cannot_leave_the_site(client, world, require_2fa):
    login(client, "alice")
    device = TOTPDevice.objects.create(user=world.admin, name="a", confirmed=True)
    response = client.post(reverse("accounts:two_factor"), {"token": code_for(device), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_cadres_are_not_forced_but_may_turn_it_on(client, world, require_2fa):
    login(client, "bob")
    assert client.get("/").status_code == 200
    client.get(reverse("accounts:two_factor") + "?setup=1")
    device = TOTPDevice.objects.get(user=world.cadre)
    client.post(reverse("accounts:two_factor"), {"token": code_for(device), "next": "/"})
    client.post(reverse("accounts:logout"))
    login(client, "bob")
    assert client.get("/").status_code == 302  # now asked at sign-in


def test_the_requirement_is_a_setting(client, world, settings):
    settings.YICI_REQUIRE_2FA = False
    login(client, "alice")
    assert client.get("/").status_code == 200


def test_api_answers_403_not_a_redirect(client, world, require_2fa):
    login(client, "alice")
    response = client.get("/api/openapi.json")
    assert response.status_code == 403


def test_wrong_codes_are_throttled(client, world, settings):
    settings.YICI_REQUIRE_2FA = True
    login(client, "alice")
    device = TOTPDevice.objects.create(user=world.admin, name="a", confirmed=True)
    client.post(reverse("accounts:two_factor"), {"token": "000000", "next": "/"})
    # Even the right code is refused while the device is throttled.
    assert client.post(reverse("accounts:two_factor"), {"token": code_for(device), "next": "/"}).status_code == 200
    device.refresh_from_db()
    assert device.throttling_failure_count >= 1


def test_a_verified_user_can_make_new_recovery_codes(client, world, require_2fa):
    from django_otp.plugins.otp_static.models import StaticToken

    login(client, "alice")
    device = TOTPDevice.objects.create(user=world.admin, name="a", confirmed=True)
    from yici.accounts.twofactor import recovery_codes_reset

    old = recovery_codes_reset(user=world.admin)
    # Not verified yet in this session: refused.
    assert client.post(reverse("accounts:two_factor"), {"action": "recovery-codes"}).status_code == 403
    client.post(reverse("accounts:two_factor"), {"token": code_for(device), "next": "/"})
    assert b"recovery-reset" in client.get(reverse("accounts:two_factor") + "?setup=1").content
    new = client.post(reverse("accounts:two_factor"), {"action": "recovery-codes"}).context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(new)


def test_rotate_key_command(db, capsys):
    from django.core.management import call_command

    from yici.accounts.models import SigningKey

    call_command("oidc_rotate_key")
    call_command("oidc_rotate_key")
    out = capsys.readouterr().out
    assert out.count("active key") == 2 and "retired key" in out
    assert SigningKey.objects.filter(retired_at__isnull=True).count() == 1
    assert SigningKey.objects.count() == 2
