"""Share once: circuit breaker, batches, the simulator's schema/state/order checks, secrets at rest."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from yici.common import crypto
from yici.exchange.delivery import deliver_due
from yici.exchange.models import (
    BreakerState,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    FieldMapping,
    LineSystemEndpoint,
)
from yici.exchange.tests.test_outbox import change, make_person, running_simulator
from yici.exchange.tests.test_outbox_delivery import make_due, subscribed


def test_secrets_are_encrypted_at_rest_and_never_stored_in_clear(db):
    system = subscribed("http://127.0.0.1:9/")
    endpoint = LineSystemEndpoint.objects.get(system=system)
    assert endpoint.secret == "s3cret"
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM exchange_linesystemendpoint")
        stored = cursor.fetchone()[0]
    assert stored and "s3cret" not in stored
    assert crypto.decrypt(stored) == "s3cret"


def test_a_rotated_key_still_reads_old_secrets(db, settings):
    old_token = crypto.encrypt("geheim")  # with the key derived from SECRET_KEY
    new_key = crypto.new_key()
    settings.YICI_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(old_token)
    from yici.common.crypto import _derived_key

    settings.YICI_ENCRYPTION_KEYS = [new_key, _derived_key(settings.SECRET_KEY).decode()]
    rotated = crypto.rotate(old_token)
    settings.YICI_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt(rotated) == "geheim"


def test_the_breaker_opens_after_failures_in_a_row_and_closes_on_success(db, tmp_path, settings):
    settings.YICI_BREAKER_THRESHOLD = 3
    settings.YICI_BREAKER_COOLDOWN = 60
    settings.YICI_DELIVERY_BACKOFF_BASE = 0.001
    with running_simulator(tmp_path, fail_rate=1.0) as sim:
        subscribed(sim.url, max_attempts=50)
        people = [make_person(id_number=f"33072619600517{n:04d}") for n in range(5)]
        for person in people:
            change(person, "person.name")
        result = deliver_due(limit=10)
        # Three failures open the breaker; the other two deliveries are put back untouched.
        assert (result.retried, result.paused) == (3, 2)
        endpoint = LineSystemEndpoint.objects.get()
        assert endpoint.breaker_state() == BreakerState.OPEN
        assert DeliveryAttempt.objects.count() == 3
        make_due()
        assert deliver_due().claimed == 0  # paused: nothing is claimed
        # After the pause, one delivery is tried (half-open); the system is back, so it closes.
        LineSystemEndpoint.objects.update(breaker_open_until=timezone.now() - timedelta(seconds=1))
        sim.fail_rate = 0.0
        result = deliver_due(limit=10)
        assert (result.sent, result.paused) == (1, 4)
        endpoint.refresh_from_db()
        assert endpoint.breaker_state() == BreakerState.CLOSED and endpoint.breaker_failures == 0
        assert deliver_due(limit=10).sent == 4
        assert sim.store.count() == 5


def test_a_half_open_failure_reopens_for_longer(db, tmp_path, settings):
    settings.YICI_BREAKER_THRESHOLD = 1
    settings.YICI_BREAKER_COOLDOWN = 10
    with running_simulator(tmp_path, fail_rate=1.0) as sim:
        subscribed(sim.url, max_attempts=50)
        change(make_person(), "person.name")
        deliver_due()
        first = LineSystemEndpoint.objects.get().breaker_open_until
        LineSystemEndpoint.objects.update(breaker_open_until=timezone.now() - timedelta(seconds=1))
        make_due()
        before = timezone.now()
        assert deliver_due().retried == 1
        second = LineSystemEndpoint.objects.get().breaker_open_until
        assert second - before >= timedelta(seconds=19) and first is not None


def test_batches_carry_many_deliveries_in_one_signed_request(db, tmp_path):
    with running_simulator(tmp_path) as sim:
        subscribed(sim.url, config={"batch_size": 50})
        people = [make_person(id_number=f"33072619600517{n:04d}", name=f"人{n}") for n in range(120)]
        for person in people:
            change(person, "person.name")
        result = deliver_due(limit=200)
        assert result.sent == 120, Delivery.objects.first().last_error
        assert sim.requests == 3  # 50 + 50 + 20
        records = sim.store.records("person")
        assert {records[("person", p.pk)]["data"]["xm"] for p in people} == {f"人{n}" for n in range(120)}
        assert set(DeliveryAttempt.objects.values_list("status_code", flat=True)) == {200}


def test_a_batch_item_outside_the_schema_is_refused_alone(db, tmp_path):
    with running_simulator(tmp_path, schema={"person": ["xm"]}) as sim:
        system = subscribed(sim.url, config={"batch_size": 10})
        FieldMapping.objects.filter(system=system, element_code="person.phone").delete()
        ok = make_person(phone="")
        change(ok, "person.name")
        deliver_due()
        FieldMapping.objects.create(system=system, element_code="person.phone", field_name="dh")
        other = make_person(id_number="330726196005170021")
        change(other, "person.name")
        change(ok, "person.name")
        result = deliver_due()
        assert (result.sent, result.failed) == (0, 2)
        assert "unknown fields: dh" in Delivery.objects.filter(status=DeliveryStatus.FAILED).first().last_error


def test_a_timed_out_delivery_is_retried_with_the_same_key_and_applied_once(db, tmp_path, settings):
    with running_simulator(tmp_path, timeout_rate=1.0, hang_seconds=1.5) as sim:
        subscribed(sim.url, timeout_seconds=0.3)
        person = make_person()
        change(person, "person.name")
        assert deliver_due().retried == 1
        sim.timeout_rate = 0.0
        make_due()
        assert deliver_due().sent == 1
        # The first try had landed: the retry was answered from the stored key, nothing applied twice.
        assert sim.store.count() == 1 and sim.store.records()[("person", person.pk)]["version"] == person.version


def test_the_simulator_counts_an_older_version_arriving_late(tmp_path):
    from yici.exchange.simulator import SimulatorStore

    store = SimulatorStore(tmp_path / "s.sqlite3")
    store.put("a", '{"entity": "person", "id": 1, "version": 3, "data": {"xm": "新"}}', 200, "{}")
    store.put("b", '{"entity": "person", "id": 1, "version": 2, "data": {"xm": "旧"}}', 200, "{}")
    assert store.records()[("person", 1)] == {"version": 3, "data": {"xm": "新"}}
    assert store.violations() == 1
    store.close()


def test_rotate_secrets_reencrypts_with_the_newest_key_and_refuses_unreadable_ones(db, settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from yici.common.crypto import _derived_key

    subscribed("http://127.0.0.1:9/")
    old = _derived_key(settings.SECRET_KEY).decode()
    new = crypto.new_key()
    settings.YICI_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_secrets")
    settings.YICI_ENCRYPTION_KEYS = [new]
    assert LineSystemEndpoint.objects.get().secret == "s3cret"
    settings.YICI_ENCRYPTION_KEYS = [crypto.new_key()]
    before = LineSystemEndpoint.objects.get().secret_encrypted
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_secrets")
    assert LineSystemEndpoint.objects.get().secret_encrypted == before


def test_replay_one_delivery_from_the_command_line(db, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with running_simulator(tmp_path, fail_rate=1.0) as sim:
        subscribed(sim.url, max_attempts=1)
        change(make_person(), "person.name")
        assert deliver_due().dead == 1
        delivery = Delivery.objects.get()
        with pytest.raises(CommandError, match="no delivery 999"):
            call_command("replay", "--delivery", "999")
        call_command("replay", "--delivery", str(delivery.pk))
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
        with pytest.raises(CommandError, match="not dead or refused"):
            call_command("replay", "--delivery", str(delivery.pk))
