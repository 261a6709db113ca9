"""The delivery worker: claims, retries with backoff, permanent failures, dead letters, replay, ordering."""

import random
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from yici.exchange.delivery import backoff_seconds, claim_due, deliver_due
from yici.exchange.models import Delivery, DeliveryAttempt, DeliveryStatus, FieldMapping, LineSystemEndpoint
from yici.exchange.outbox import dispatch_events
from yici.exchange.tests.test_outbox import change, make_person, make_system, running_simulator


def subscribed(url, **endpoint):
    system = make_system("minzheng", url=url, **endpoint)
    FieldMapping.objects.create(system=system, element_code="person.name", field_name="xm")
    FieldMapping.objects.create(system=system, element_code="person.phone", field_name="dh")
    return system


def make_due():
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.YICI_DELIVERY_BACKOFF_BASE = 10
    settings.YICI_DELIVERY_BACKOFF_CAP = 1000
    rng = random.Random(1)
    delays = [backoff_seconds(n, rng=rng) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        nominal = min(1000, 10 * 2 ** (n - 1))
        assert 0.75 * nominal <= delay <= 1.25 * nominal
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_a_change_reaches_the_simulator_once(db, tmp_path):
    with running_simulator(tmp_path) as sim:
        subscribed(sim.url)
        person = make_person()
        change(person, "person.name")
        result = deliver_due()
        assert (result.dispatched, result.sent) == (1, 1)
        delivery = Delivery.objects.get()
        assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1 and delivery.sent_at
        attempt = DeliveryAttempt.objects.get()
        assert attempt.ok and attempt.status_code == 200 and len(attempt.response_digest) == 64
        assert sim.store.payloads()[0]["data"] == {"xm": "张三丰", "dh": "13812345678"}
        assert deliver_due().claimed == 0  # nothing left


def test_transient_failures_are_retried_with_backoff(db, tmp_path, settings):
    settings.YICI_DELIVERY_BACKOFF_BASE = 60
    with running_simulator(tmp_path, fail_rate=1.0) as sim:
        subscribed(sim.url)
        change(make_person(), "person.name")
        before = timezone.now()
        result = deliver_due()
        assert result.retried == 1
        delivery = Delivery.objects.get()
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
        assert "500" in delivery.last_error and delivery.claim_token == ""
        assert before + timedelta(seconds=44) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=76)
        assert deliver_due().claimed == 0  # not due yet
        sim.fail_rate = 0.0
        make_due()
        assert deliver_due().sent == 1
        assert sim.store.count() == 1
        assert list(DeliveryAttempt.objects.values_list("status_code", flat=True)) == [500, 200]


def test_permanent_failures_are_not_retried(db, tmp_path):
    with running_simulator(tmp_path) as sim:
        subscribed(sim.url)
        endpoint = LineSystemEndpoint.objects.get()
        endpoint.secret = "not-the-simulators"
        endpoint.save()
        change(make_person(), "person.name")
        assert deliver_due().failed == 1
        delivery = Delivery.objects.get()
        assert delivery.status == DeliveryStatus.FAILED and "401" in delivery.last_error
        make_due()
        assert deliver_due().claimed == 0
        assert DeliveryAttempt.objects.get().permanent


def test_dead_after_max_attempts_then_replayed(db, tmp_path):
    with running_simulator(tmp_path, fail_rate=1.0) as sim:
        subscribed(sim.url, max_attempts=3)
        change(make_person(), "person.name")
        outcomes = []
        for _ in range(3):
            result = deliver_due()
            outcomes.append((result.retried, result.dead))
            make_due()
        assert outcomes == [(1, 0), (1, 0), (0, 1)]
        delivery = Delivery.objects.get()
        assert delivery.status == DeliveryStatus.DEAD and delivery.attempts == 3
        assert deliver_due().claimed == 0

        call_command("replay", "--system", "minzheng", stdout=open("/dev/null", "w"))
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
        sim.fail_rate = 0.0
        assert deliver_due().sent == 1 and sim.store.count() == 1


def test_replay_of_an_unknown_system_is_a_one_line_error(db):
    with pytest.raises(CommandError, match="unknown line system 'nope'"):
        call_command("replay", "--system", "nope")


def test_deliver_once_command(db, tmp_path, capsys):
    with running_simulator(tmp_path) as sim:
        subscribed(sim.url)
        change(make_person(), "person.name")
        call_command("deliver", "--once")
        assert "sent 1" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("deliver", "--once", "--limit", "0")


def test_a_newer_version_waits_for_an_older_one_of_the_same_record(db, tmp_path):
    with running_simulator(tmp_path) as sim:
        subscribed(sim.url)
        person, other = make_person(), make_person(name="李四", id_number="")
        change(person, "person.name")
        dispatch_events()
        older = Delivery.objects.get()
        # A worker holds the older delivery in flight; a newer change comes in meanwhile.
        Delivery.objects.filter(pk=older.pk).update(claim_token="other-worker",
                                                    claimed_until=timezone.now() + timedelta(minutes=5))
        person.phone = "13900000000"
        change(person, "person.phone")
        change(other, "person.name")
        dispatch_events()
        newer = Delivery.objects.get(golden_id=person.pk, version=3)
        assert Delivery.objects.filter(golden_id=person.pk).count() == 2  # the claimed one is not coalesced
        assert [d.golden_id for d in claim_due()] == [other.pk]  # the newer version is held back
        # The older one failed transiently and waits for its retry: the newer one still waits behind it.
        Delivery.objects.filter(pk=older.pk).update(claim_token="", claimed_until=None, attempts=1,
                                                    next_attempt_at=timezone.now() + timedelta(hours=1))
        assert claim_due() == []
        make_due()
        deliver_due()
        versions = [p["version"] for p in sim.store.payloads() if p["id"] == person.pk]
        assert versions == [2]  # one per round: the newer waits until the older is sent
        deliver_due()
        versions = [p["version"] for p in sim.store.payloads() if p["id"] == person.pk]
        assert versions == [2, 3]
        newer.refresh_from_db()
        assert newer.status == DeliveryStatus.SENT


def test_a_delivery_whose_lease_ran_out_during_the_round_is_left_to_the_worker_that_took_it(db, tmp_path,
                                                                                         monkeypatch):
    from types import SimpleNamespace

    from yici.exchange import delivery as worker

    with running_simulator(tmp_path) as sim:
        subscribed(sim.url)
        first, second, third = make_person(), make_person(name="李四", id_number=""), make_person(name="王五", id_number="")
        for person in (first, second, third):
            change(person, "person.name")
        dispatch_events()
        push = worker._push
        clock = SimpleNamespace(ahead=timedelta(0))
        monkeypatch.setattr(worker, "timezone", SimpleNamespace(now=lambda: timezone.now() + clock.ahead))
        other_worker = []

        def slow_push(chunk, *args, **kwargs):
            outcomes = push(chunk, *args, **kwargs)
            if not other_worker:
                # The first push took longer than the round's lease; meanwhile another worker
                # claimed the second delivery (not the third: it takes one at a time).
                clock.ahead = worker.lease() * 1.1
                second_delivery = Delivery.objects.filter(golden_id=second.pk)
                second_delivery.update(claim_token="other-worker", claimed_until=worker.timezone.now() + worker.lease())
                other_worker.append(second_delivery.get())
            return outcomes

        monkeypatch.setattr(worker, "_push", slow_push)
        result = deliver_due()
        assert sorted(p["id"] for p in sim.store.payloads()) == sorted([first.pk, third.pk])
        assert result.sent == 2
        left = Delivery.objects.get(golden_id=second.pk)
        assert (left.status, left.claim_token, left.attempts) == (DeliveryStatus.PENDING, "other-worker", 0)
        # The third's lease had run out too, but nobody had taken it: it was renewed and pushed.
        third_delivery = Delivery.objects.get(golden_id=third.pk)
        assert (third_delivery.status, third_delivery.claim_token) == (DeliveryStatus.SENT, "")


def test_a_lease_past_its_half_is_renewed_before_the_push(db, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from yici.exchange import delivery as worker

    with running_simulator(tmp_path) as sim:
        subscribed(sim.url)
        change(make_person(), "person.name")
        dispatch_events()
        claimed = claim_due()
        original = claimed[0].claimed_until
        ahead = worker.lease() * 0.6
        monkeypatch.setattr(worker, "timezone", SimpleNamespace(now=lambda: timezone.now() + ahead))
        kept = worker._still_claimed(claimed)
        assert kept == claimed
        renewed = Delivery.objects.get().claimed_until
        assert renewed > original + worker.lease() * 0.5
        assert kept[0].claimed_until == renewed


def test_two_workers_never_claim_the_same_delivery(db):
    system = subscribed("http://127.0.0.1:9/")
    assert system
    for i in range(5):
        change(make_person(name=f"人{i}", id_number=""), "person.name")
    dispatch_events()
    first = claim_due(limit=3)
    second = claim_due(limit=10)
    assert len(first) == 3 and len(second) == 2
    assert not {d.pk for d in first} & {d.pk for d in second}
