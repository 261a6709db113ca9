"""Provisioning: user changes reach line systems through SCIM or http-json, with retries and reconciliation."""

import threading
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from yici.accounts import services
from yici.accounts.models import ExternalAccount, User
from yici.accounts.oidc import subject_of
from yici.accounts.provisioning import account_rows, pending_deliveries
from yici.accounts.roles import Role
from yici.accounts.services_sso import client_register
from yici.exchange.delivery import deliver_due
from yici.exchange.models import Delivery, DeliveryStatus, LineSystem, LineSystemEndpoint
from yici.exchange.simulator import make_server
from yici.exchange.simulator_sso import enable_scim

SECRET = "scim-secret-for-tests"


@contextmanager
def scim_system(tmp_path, code="wenlv-culture", *, quirk="", fail_rate=0.0, roles=()):
    server = make_server(name=code, port=0, secret=SECRET, store_path=tmp_path / f"{code}.sqlite3", fail_rate=fail_rate)
    scim = enable_scim(server, token=SECRET, quirk=quirk)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    system = LineSystem.objects.create(code=code, name=code)
    LineSystemEndpoint.objects.create(system=system, kind="scim", url=base + "/changes", secret=SECRET,
                                      config={"scim_url": base + "/scim/v2"}, max_attempts=3)
    client, _secret = client_register(system=system, redirect_uris=base + "/callback", account_roles=roles, actor=None)
    # Provisioning on without the first full sync (the world's users would all be queued).
    type(client).objects.filter(pk=client.pk).update(provisioning=True)
    try:
        yield system, scim
    finally:
        server.shutdown()
        server.server_close()
        server.store.close()
        thread.join(timeout=5)


def _new_user(world, username="xiaoli", role=Role.VILLAGE_CADRE, **extra):
    return services.user_create(username=username, password=None, role=role, area=world.village,
                                display_name="李小丽", phone="13900002222", actor=world.admin, **extra)


def test_creating_a_user_queues_an_account_in_the_same_transaction(db, world, tmp_path):
    with scim_system(tmp_path) as (system, scim):
        user = _new_user(world)
        delivery = Delivery.objects.get(entity="account", golden_id=user.pk, system=system)
        assert delivery.version == user.account_version == 1 and delivery.event_id is None
        assert delivery.payload["active"] is True and delivery.payload["sub"] == subject_of(user)
        assert pending_deliveries(user=user) == [delivery]
        assert deliver_due().sent == 1
        remote = scim.store.users()
        assert len(remote) == 1 and remote[0]["userName"] == "xiaoli" and remote[0]["active"] is True
        assert remote[0]["externalId"] == subject_of(user)
        groups = {g["displayName"]: g for g in scim.store.groups()}
        assert [m["value"] for m in groups["role:village_cadre"]["members"]] == [remote[0]["id"]]
        account = ExternalAccount.objects.get(user=user, system=system)
        assert account.external_id == remote[0]["id"] and account.confirmed_version == 1 and account.last_synced
        assert pending_deliveries(user=user) == []


def test_changes_are_patched_and_groups_follow_the_role(db, world, tmp_path):
    with scim_system(tmp_path) as (system, scim):
        user = _new_user(world)
        deliver_due()
        services.user_update(user=user, actor=world.admin, display_name="李小丽（新）", phone="13900003333",
                             role=Role.TOWNSHIP_STAFF, area=world.township)
        assert deliver_due().sent == 1
        (remote,) = scim.store.users()
        assert remote["displayName"] == "李小丽（新）"
        assert remote["phoneNumbers"][0]["value"] == "13900003333"
        assert remote["urn:yici:params:scim:schemas:extension:2.0:User"]["areaCode"] == world.township.code
        groups = {g["displayName"]: [m["value"] for m in g["members"]] for g in scim.store.groups()}
        assert groups["role:township_staff"] == [remote["id"]] and groups["role:village_cadre"] == []
        assert len(scim.store.users()) == 1  # patched, never created twice


def test_disabling_a_user_disables_the_account_everywhere_and_ends_sessions(db, world, tmp_path, client):
    with scim_system(tmp_path, "wenlv-culture") as (culture, scim_a), \
            scim_system(tmp_path, "minzheng-civil") as (civil, scim_b):
        user = _new_user(world)
        deliver_due()
        client.force_login(user)
        services.user_set_active(user=user, active=False, actor=world.admin)
        assert {r["system"].code: r["deprovisioning"] for r in account_rows(user=user)} == {
            "wenlv-culture": True, "minzheng-civil": True}
        assert client.get(reverse("accounts:portal")).status_code == 302  # signed out of Yici at once
        assert deliver_due().sent == 2
        assert scim_a.store.users()[0]["active"] is False and scim_b.store.users()[0]["active"] is False
        assert not ExternalAccount.objects.filter(user=user, active=True).exists()
        assert pending_deliveries(user=user) == []


def test_a_user_who_is_not_eligible_gets_no_account(db, world, tmp_path):
    with scim_system(tmp_path, roles=[Role.VILLAGE_CADRE]) as (system, scim):
        user = _new_user(world, username="bellb", role=Role.BURDEN_OFFICE)
        assert not Delivery.objects.filter(golden_id=user.pk, entity="account").exists()
        cadre = _new_user(world)
        deliver_due()
        services.user_update(user=cadre, actor=world.admin, role=Role.BURDEN_OFFICE)  # no longer eligible
        deliver_due()
        assert scim.store.users()[0]["active"] is False


def test_out_of_spec_scim_server_is_a_permanent_failure_with_a_pending_entry(db, world, tmp_path):
    with scim_system(tmp_path, quirk="no-id") as (system, scim):
        user = _new_user(world)
        result = deliver_due()
        assert result.failed == 1
        delivery = Delivery.objects.get(golden_id=user.pk, entity="account")
        assert delivery.status == DeliveryStatus.FAILED
        assert "out of spec" in delivery.last_error and "without an id" in delivery.last_error
        rows = account_rows(user=user)
        assert rows[0]["pending"] and rows[0]["state"] == DeliveryStatus.FAILED


def test_string_booleans_from_the_server_are_refused(db, world, tmp_path):
    with scim_system(tmp_path, quirk="string-booleans") as (system, scim):
        user = _new_user(world)
        deliver_due()
        delivery = Delivery.objects.get(golden_id=user.pk, entity="account")
        assert delivery.status == DeliveryStatus.FAILED and "not a JSON boolean" in delivery.last_error


def test_an_unreachable_system_is_retried_then_dead_then_requeued_by_reconcile(db, world, tmp_path, settings):
    settings.YICI_DELIVERY_BACKOFF_BASE = 0
    settings.YICI_BREAKER_THRESHOLD = 1000
    with scim_system(tmp_path, fail_rate=1.0) as (system, scim):
        user = _new_user(world)
        services.user_set_active(user=user, active=False, actor=world.admin)
        for _ in range(6):
            Delivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())
            deliver_due()
        assert set(Delivery.objects.filter(golden_id=user.pk).values_list("status", flat=True)) == {DeliveryStatus.DEAD}
        assert account_rows(user=user)[0]["pending"]  # shown as pending, never silently dropped
        scim.server.fail_rate = 0.0
        call_command("accounts_reconcile")
        # The account's creation had not been tried when the removal came: one delivery, and the system
        # is never given an account only to have it taken away.
        assert deliver_due().sent == 1
        assert pending_deliveries(user=user) == []
        assert scim.store.users() == []


def test_reconcile_reports_orphans_and_drift_and_disables_orphans_on_request(db, world, tmp_path, capsys):
    with scim_system(tmp_path) as (system, scim):
        user = _new_user(world)
        deliver_due()
        (remote,) = scim.store.users()
        remote["displayName"] = "改过的名字"
        scim.store.save_user(remote)
        scim.store.save_user({"id": "orphan-1", "userName": "ghost", "active": True, "schemas": []})
        call_command("accounts_reconcile")
        out = capsys.readouterr().out
        assert "1 orphans, 1 drifted" in out and "orphan: ghost" in out and "drift: xiaoli" in out
        assert scim.store.user("orphan-1")["active"] is True  # reporting changes nothing
        call_command("accounts_reconcile", "--disable-orphans", "--fix-drift")
        assert scim.store.user("orphan-1")["active"] is False
        deliver_due()
        assert scim.store.user(remote["id"])["displayName"] == "李小丽"
        capsys.readouterr()
        call_command("accounts_reconcile")
        assert "0 orphans, 0 drifted, 0 missing" in capsys.readouterr().out
        assert user.pk


def test_reconcile_of_an_unknown_system_is_a_one_line_error(db):
    with pytest.raises(CommandError, match="not a line system that provisions accounts"):
        call_command("accounts_reconcile", "--system", "nope")


def test_http_json_systems_receive_account_payloads(db, world, tmp_path):
    from yici.exchange.tests.test_outbox import SECRET as SIM_SECRET
    from yici.exchange.tests.test_outbox import running_simulator

    with running_simulator(tmp_path) as sim:
        system = LineSystem.objects.create(code="zhujian-housing", name="住建")
        LineSystemEndpoint.objects.create(system=system, url=sim.url, secret=SIM_SECRET)
        client_register(system=system, redirect_uris="http://127.0.0.1:9/callback", provisioning=True, actor=None)
        # Switching provisioning on queued every eligible existing user.
        assert Delivery.objects.filter(system=system, entity="account").count() == User.objects.filter(is_active=True).count()
        Delivery.objects.all().delete()
        _new_user(world)
        deliver_due()
        (payload,) = sim.store.payloads()
        assert payload["kind"] == "yici.account" and payload["username"] == "xiaoli" and payload["active"] is True


def test_user_accounts_page_shows_pending_removal_and_disable_button(db, world, tmp_path, client):
    with scim_system(tmp_path) as (system, scim):
        user = _new_user(world)
        client.force_login(world.admin)
        response = client.post(reverse("accounts:user_active", args=[user.username]), {"active": "0"})
        assert response.status_code == 302
        page = client.get(reverse("accounts:user_accounts", args=[user.username]), HTTP_ACCEPT_LANGUAGE="en")
        assert b'data-testid="pending"' in page.content and b"removal pending" in page.content
        client.force_login(world.cadre)
        assert client.get(reverse("accounts:user_accounts", args=[user.username])).status_code == 403


def test_user_disable_command(db, world, tmp_path, capsys):
    with scim_system(tmp_path) as (system, scim):
        user = _new_user(world)
        call_command("user_disable", "xiaoli")
        assert "xiaoli disabled; 1 line systems still to confirm" in capsys.readouterr().out
        user.refresh_from_db()
        assert not user.is_active
        with pytest.raises(CommandError, match="no user 'ghost'"):
            call_command("user_disable", "ghost")


def test_user_accounts_page_speaks_chinese_by_default(db, world, tmp_path, client):
    with scim_system(tmp_path):
        user = _new_user(world)
        services.user_set_active(user=user, active=False, actor=world.admin)
        client.force_login(world.admin)
        page = client.get(reverse("accounts:user_accounts", args=[user.username])).content.decode()
        assert "停用待确认" in page and "在所有系统停用此用户" not in page and "重新启用" in page


def test_an_untried_delivery_is_brought_up_to_date_instead_of_followed(db, world, tmp_path):
    with scim_system(tmp_path) as (system, scim):
        user = _new_user(world)
        services.user_update(user=user, actor=world.admin, display_name="新名字")
        (delivery,) = Delivery.objects.filter(golden_id=user.pk, entity="account")
        assert delivery.version == 2 and delivery.payload["active"] is True and delivery.payload["name"] == "新名字"
        assert deliver_due().sent == 1
        assert [u["displayName"] for u in scim.store.users()] == ["新名字"]
        services.user_set_active(user=user, active=False, actor=world.admin)
        assert Delivery.objects.filter(golden_id=user.pk, entity="account").count() == 2  # the sent one stays
        assert deliver_due().sent == 1
        assert scim.store.users()[0]["active"] is False
