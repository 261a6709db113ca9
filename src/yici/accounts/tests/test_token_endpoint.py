"""The token endpoint's refresh: rotation, reuse detection, hashed storage, the audit, and its cost in queries."""

import base64
import hashlib
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, IDToken, RefreshToken

from yici.accounts import token_sql
from yici.accounts.oidc import YiciOAuth2Validator
from yici.accounts.tests.sso_helpers import CLIENT_ID, CLIENT_SECRET, REDIRECT, register_rp
from yici.audit.models import AuditEvent

BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def _checksum(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _post(client, data, auth=BASIC):
    return client.post("/o/token/", urlencode(data), content_type="application/x-www-form-urlencoded",
                       HTTP_AUTHORIZATION=auth)


def _refresh(client, refresh_token, auth=BASIC):
    return _post(client, {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth)


def _sign_in(client, user) -> dict:
    """The tokens of ``user``'s sign-in to the registered RP: authorization code with PKCE, then the exchange."""
    client.force_login(user)
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    answer = client.get("/o/authorize/", {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT,
                                          "scope": "openid profile", "state": "s", "code_challenge": challenge,
                                          "code_challenge_method": "S256"})
    assert answer.status_code == 302, answer.content[:300]
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]
    client.logout()
    tokens = _post(client, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                            "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.content
    return tokens.json()


@pytest.fixture
def signed_in(client, world):
    register_rp()
    return _sign_in(client, world.cadre)


def test_a_refresh_rotates_both_tokens_stores_them_hashed_and_audits_the_issuance(client, world, signed_in):
    answer = _refresh(client, signed_in["refresh_token"])
    assert answer.status_code == 200, answer.content
    tokens = answer.json()
    assert tokens["access_token"] != signed_in["access_token"]
    assert tokens["refresh_token"] != signed_in["refresh_token"]
    assert tokens["scope"] == "openid profile" and "id_token" not in tokens

    # The old access token is gone; the old refresh token is kept, revoked, for reuse detection.
    assert not AccessToken.objects.filter(token_checksum=_checksum(signed_in["access_token"])).exists()
    old = RefreshToken.objects.get(token_checksum=_checksum(signed_in["refresh_token"]))
    assert old.revoked is not None and old.access_token_id is None
    new = RefreshToken.objects.get(token_checksum=_checksum(tokens["refresh_token"]))
    assert new.revoked is None and new.token_family == old.token_family and new.user == world.cadre
    access = AccessToken.objects.get(token_checksum=_checksum(tokens["access_token"]))
    assert new.access_token == access and access.source_refresh_token == old and access.scope == "openid profile"
    assert access.expires > timezone.now() + timedelta(seconds=500)
    # Hashed at rest (RFC 9700): only the checksums are stored.
    assert new.token == "" and access.token == ""

    event = AuditEvent.objects.filter(action="token_issued").latest("id")
    assert event.actor == world.cadre and event.field == "refresh_token" and event.ip_address == "127.0.0.1"
    assert (event.object_type, event.object_id, event.area_code) == ("accounts.user", str(world.cadre.pk),
                                                                     world.cadre.area.code)
    assert event.after == {"client": CLIENT_ID, "grant": "refresh_token", "scope": "openid profile",
                           "system": "zhujian-housing"}
    assert AuditEvent.objects.filter(action="token_issued").count() == 2  # the sign-in and the refresh

    # The new access token works; the rotated refresh token refreshes again.
    assert client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 200
    assert _refresh(client, tokens["refresh_token"]).status_code == 200


def test_a_refresh_makes_a_handful_of_queries(client, signed_in, django_assert_max_num_queries):
    # client, refresh token (with its user, area, access token), then in one transaction (a savepoint
    # in a test): the claim, the old access token's deletion, the new access and refresh tokens, the
    # audit row — 9 with the savepoint's two. The toolkit's own refresh made 30.
    with django_assert_max_num_queries(9):
        assert _refresh(client, signed_in["refresh_token"]).status_code == 200


def test_a_reused_refresh_token_revokes_its_whole_family(client, world, signed_in):
    rotated = _refresh(client, signed_in["refresh_token"]).json()
    issued = AuditEvent.objects.filter(action="token_issued").count()

    reuse = _refresh(client, signed_in["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # The thief or the victim: whoever holds the newer token loses it too.
    again = _refresh(client, rotated["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not RefreshToken.objects.filter(user=world.cadre, revoked__isnull=True).exists()
    assert client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {rotated['access_token']}").status_code == 401
    assert AuditEvent.objects.filter(action="token_issued").count() == issued  # nothing issued, nothing audited


def test_of_two_requests_rotating_one_token_only_one_wins(client, world, signed_in, monkeypatch):
    """A refresh whose token another request claimed between validation and rotation is refused and leaves nothing."""
    validate = YiciOAuth2Validator.validate_refresh_token

    def validate_then_lose_the_race(self, refresh_token, client_, request, *args, **kwargs):
        valid = validate(self, refresh_token, client_, request, *args, **kwargs)
        RefreshToken.objects.filter(pk=request.refresh_token_instance.pk).update(revoked=timezone.now())
        return valid

    monkeypatch.setattr(YiciOAuth2Validator, "validate_refresh_token", validate_then_lose_the_race)
    counts = (AccessToken.objects.count(), RefreshToken.objects.count(), IDToken.objects.count(),
              AuditEvent.objects.count())
    answer = _refresh(client, signed_in["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert (AccessToken.objects.count(), RefreshToken.objects.count(), IDToken.objects.count(),
            AuditEvent.objects.count()) == counts
    # The access token of the sign-in was not touched by the losing request.
    assert AccessToken.objects.filter(token_checksum=_checksum(signed_in["access_token"])).exists()


def test_a_disabled_users_refresh_token_is_refused(client, world, signed_in):
    type(world.cadre).objects.filter(pk=world.cadre.pk).update(is_active=False)  # bypassing the service's revocation
    answer = _refresh(client, signed_in["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_an_expired_refresh_token_is_refused(client, settings, signed_in):
    # The refresh token dies REFRESH_TOKEN_EXPIRE_SECONDS after its access token expired.
    lifetime = settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=lifetime + 1))
    assert _refresh(client, signed_in["refresh_token"]).status_code == 400
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=lifetime - 60))
    assert _refresh(client, signed_in["refresh_token"]).status_code == 200


def test_another_clients_refresh_token_is_refused(client, world, signed_in):
    register_rp(code="minzheng-civil", client_id="other-client", client_secret="other-secret-0123456789abcdef")
    other = "Basic " + base64.b64encode(b"other-client:other-secret-0123456789abcdef").decode()
    answer = _refresh(client, signed_in["refresh_token"], auth=other)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    wrong_secret = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}x".encode()).decode()
    assert _refresh(client, signed_in["refresh_token"], auth=wrong_secret).status_code == 401
    assert _refresh(client, "no-such-token").status_code == 400
    assert _refresh(client, signed_in["refresh_token"]).status_code == 200  # still good for its own client


def test_the_sign_in_still_issues_an_id_token_saved_with_its_access_token(client, world, signed_in):
    assert signed_in["id_token"]
    access = AccessToken.objects.get(token_checksum=_checksum(signed_in["access_token"]))
    assert access.id_token is not None and access.id_token.user == world.cadre
    assert IDToken.objects.count() == 1


def test_insert_writes_what_the_orm_writes(world, signed_in):
    """``token_sql.insert`` binds values as Django does: a row it writes reads back like one ``save()`` wrote."""
    model_row = RefreshToken.objects.filter(revoked__isnull=True).get()
    family = uuid.uuid4()
    expires = timezone.now() + timedelta(minutes=5)
    pair = []
    for write in (lambda obj: obj.save(force_insert=True), token_sql.insert):
        access = AccessToken(user=world.cadre, application=model_row.application, scope="openid profile",
                             expires=expires, resource=["https://api.example/x"])
        access._raw_token, access.token = f"raw-{len(pair)}", ""
        write(access)
        refresh = RefreshToken(user=world.cadre, application=model_row.application, access_token=access,
                               token_family=family, resource=[])
        refresh._raw_token, refresh.token = f"raw-r-{len(pair)}", ""
        write(refresh)
        assert access.pk and refresh.pk and not access._state.adding
        pair.append((AccessToken.objects.get(pk=access.pk), RefreshToken.objects.get(pk=refresh.pk)))

    def fields(obj, skip=("id", "token_checksum", "created", "updated", "access_token")):
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.name not in skip}

    (orm_access, orm_refresh), (sql_access, sql_refresh) = pair
    assert fields(sql_access) == fields(orm_access)
    assert fields(sql_refresh) == fields(orm_refresh)
    assert sql_access.resource == ["https://api.example/x"] and sql_refresh.token_family == family
    assert sql_access.token_checksum == _checksum("raw-1") and sql_refresh.token_checksum == _checksum("raw-r-1")
    assert sql_refresh.access_token == sql_access and sql_access.created is not None


def test_insert_saves_through_the_orm_when_someone_listens(world, signed_in):
    from django.db.models.signals import post_save

    heard = []

    def listener(sender, instance, created, **kwargs):
        heard.append((instance.pk, created))

    post_save.connect(listener, sender=AccessToken)
    try:
        access = AccessToken(user=world.cadre, application=RefreshToken.objects.first().application,
                             scope="openid", expires=timezone.now(), token="t")
        token_sql.insert(access)
    finally:
        post_save.disconnect(listener, sender=AccessToken)
    assert heard == [(access.pk, True)]


def _state(obj):
    return None if obj is None else {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _orm_read(checksum):
    return list(RefreshToken.objects.filter(token_checksum=checksum).select_related("access_token", "user__area"))


@pytest.mark.parametrize("case", ["live", "rotated away", "user without an area"])
def test_the_refresh_token_read_returns_what_the_orm_returns(client, world, signed_in, case,
                                                             django_assert_num_queries):
    checksum = _checksum(signed_in["refresh_token"])
    if case == "rotated away":
        assert _refresh(client, signed_in["refresh_token"]).status_code == 200  # revoked, no access token
    elif case == "user without an area":
        type(world.cadre).objects.filter(pk=world.cadre.pk).update(area=None)
    with django_assert_num_queries(1):
        (read,) = token_sql.refresh_tokens_by_checksum(checksum)
        related = (read.access_token, read.user, read.user.area)  # loaded with it: no further query
    (orm,) = _orm_read(checksum)
    assert _state(read) == _state(orm)
    assert [_state(obj) for obj in related] == [_state(orm.access_token), _state(orm.user), _state(orm.user.area)]
    assert not read._state.adding and read._state.db == "default"
    if case == "live":
        assert read.access_token.expires > timezone.now() and read.user.area == world.village
        assert isinstance(read.token_family, uuid.UUID) and read.resource == []
    if case == "rotated away":
        assert read.revoked is not None and read.access_token is None
    if case == "user without an area":
        assert read.user.area is None
    assert token_sql.refresh_tokens_by_checksum("0" * 64) == []


def test_housekeeping_deletes_expired_tokens_but_keeps_rotated_ones_while_reuse_can_be_recognised(
        client, world, signed_in, settings):
    from yici.accounts.services_sso import tokens_clear_expired

    rotated = _refresh(client, signed_in["refresh_token"]).json()
    tokens_clear_expired()
    # The rotated-away refresh token stays: offering it again must still revoke the family.
    assert RefreshToken.objects.filter(user=world.cadre).count() == 2
    reuse = _refresh(client, signed_in["refresh_token"])
    assert reuse.status_code == 400
    assert client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {rotated['access_token']}").status_code == 401

    # Once a refresh token could no longer be used anyway, it and its access token go.
    later = timezone.now() + timedelta(seconds=settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"] + 60)
    RefreshToken.objects.update(revoked=timezone.now() - timedelta(seconds=1))
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=later):
        tokens_clear_expired()
    assert not RefreshToken.objects.filter(user=world.cadre).exists()
    assert not AccessToken.objects.filter(user=world.cadre).exists()
