"""A rig for the share-once chaos test and benchmarks: a scratch database, simulated line systems,
worker processes, and a check that every change reached every subscriber.

Run as ``python -m yici.testing.share_once_rig chaos --database-url URL --var-dir DIR`` (the chaos
test does); it prints one JSON report and exits non-zero when a check fails. It configures Django
itself (for the scratch database), so it must run in a process of its own.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SIMULATED = [
    # code, subscribed elements → their field names, area prefix, batch size
    ("minzheng", {"person.name": "xm", "person.phone": "lxdh"}, "", 20),
    ("weijian", {"person.phone": "dh", "person.low_income": "db"}, "", 1),
    ("wenlv", {"person.name": "name"}, "330726101", 10),
]
VILLAGES = ["330726101201", "330726101202", "330726102201"]


def configure(database_url: str, var_dir: Path, extra_env: dict[str, str]) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url, "YICI_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "yici.settings_test",
        **extra_env,
    }
    os.environ.update(env)
    import django

    django.setup()
    return env


def create_postgres_database(url: str) -> None:
    """(Re)create the database named in ``url`` (connecting to the server's ``postgres`` database)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(url: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


class Simulators:
    """The simulated systems, serving in threads of this process."""

    def __init__(self, var_dir: Path, *, fail_rate: float, timeout_rate: float, latency_ms: int, hang: float,
                 seed: int = 1):
        from yici.exchange.simulator import make_server

        self.servers = {}
        for n, (code, _fields, _area, _batch) in enumerate(SIMULATED):
            server = make_server(name=code, port=0, secret=f"secret-{code}", store_path=var_dir / f"sim-{code}.sqlite3",
                                 fail_rate=fail_rate, latency_ms=latency_ms, timeout_rate=timeout_rate,
                                 hang_seconds=hang, rng=random.Random(seed + n))
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self.servers[code] = server

    def url(self, code: str) -> str:
        return f"http://127.0.0.1:{self.servers[code].server_address[1]}/changes"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
            server.store.close()


def setup_systems(sims: Simulators, *, timeout: float, max_attempts: int = 100, batch: int | None = None) -> None:
    from yici.catalog.services import BUILTIN_CATALOG, catalog_load
    from yici.exchange.models import FieldMapping, LineSystem, LineSystemEndpoint, Subscription

    catalog_load(data=BUILTIN_CATALOG.read_bytes())
    for code, fields, area, batch_size in SIMULATED:
        system = LineSystem.objects.create(code=code, name=code)
        LineSystemEndpoint.objects.create(system=system, url=sims.url(code), secret=f"secret-{code}",
                                          timeout_seconds=timeout, max_attempts=max_attempts,
                                          config={"batch_size": batch or batch_size})
        Subscription.objects.create(system=system, entity="person", elements=list(fields), area_prefix=area)
        for element, their in fields.items():
            FieldMapping.objects.create(system=system, element_code=element, field_name=their,
                                        transform="code" if element == "person.low_income" else "")


def seed_persons(count: int) -> list[int]:
    from yici.registry.models import Person

    people = [Person(name=f"居民{n:05d}", id_number=f"3307261960{n:08d}", gender="男", phone=f"138{n:08d}",
                     area_code=VILLAGES[n % len(VILLAGES)], version=1) for n in range(count)]
    return [p.pk for p in Person.objects.bulk_create(people)]


def make_changes(ids: list[int], count: int, *, seed: int = 7, rate: float | None = None) -> list[float]:
    """``count`` golden changes, each written with its outbox event in one transaction (as
    reconciliation writes them); returns their commit times. Paced at ``rate`` per second if given."""
    from django.db import transaction

    from yici.exchange.outbox import outbox_record_changes
    from yici.registry.models import Person

    rng = random.Random(seed)
    times = []
    started = time.monotonic()
    for n in range(count):
        with transaction.atomic():
            person = Person.objects.select_for_update().get(pk=rng.choice(ids))
            kind = n % 3
            if kind == 0:
                person.phone, code = f"139{n:08d}", "person.phone"
            elif kind == 1:
                person.name, code = f"改名{n:05d}", "person.name"
            else:
                flag = "否" if person.attributes.get("person.low_income") == "是" else "是"
                person.attributes = {**person.attributes, "person.low_income": flag}
                code = "person.low_income"
            person.version += 1
            person.save(update_fields=["phone", "name", "attributes", "version"])
            outbox_record_changes(entity="person", changes=[(person.pk, person.version, [code])])
        times.append(time.time())
        if rate:
            delay = started + (n + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return times


def start_worker(env: dict[str, str], *, limit: int = 50) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "yici", "deliver", "--quiet", "--limit", str(limit),
                             "--interval", "0.05"], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def pending() -> int:
    from yici.exchange.models import Delivery, DeliveryStatus, OutboxEvent

    return (Delivery.objects.filter(status=DeliveryStatus.PENDING).count()
            + OutboxEvent.objects.filter(dispatched_at=None).count())


def check(sims: Simulators) -> dict:
    """Every event reached every system that subscribes to what it changed; stores equal the registry."""
    from yici.exchange.models import Delivery, DeliveryStatus, LineSystem, OutboxEvent
    from yici.exchange.outbox import _Plan, build_payload, changed_codes
    from yici.registry.golden import element_values
    from yici.registry.models import Person

    plan = _Plan()
    report = {"missing": 0, "stale": 0, "wrong_data": 0, "extra": 0, "order_violations": 0, "duplicates": 0,
              "not_sent": Delivery.objects.exclude(status=DeliveryStatus.SENT).count()}
    persons = {p.pk: p for p in Person.objects.all()}
    events = list(OutboxEvent.objects.values_list("golden_id", "version", "changed"))
    for system in LineSystem.objects.all():
        sub = system.subscriptions.get()
        fields = plan.fields(sub)
        store = sims.servers[system.code].store
        records = store.records("person")
        report["order_violations"] += store.violations()
        expected_version: dict[int, int] = {}
        for golden_id, version, changed in events:
            person = persons[golden_id]
            if sub.area_prefix and not person.area_code.startswith(sub.area_prefix):
                continue
            if changed_codes(changed, element_values("person", person)) & fields.keys():
                expected_version[golden_id] = max(version, expected_version.get(golden_id, 0))
        for golden_id, version in expected_version.items():
            got = records.get(("person", golden_id))
            if got is None:
                report["missing"] += 1
                continue
            if got["version"] < version:
                report["stale"] += 1
            want = build_payload(sub, fields, persons[golden_id], element_values("person", persons[golden_id]), (),
                                 plan)["data"]
            if got["data"] != want:
                report["wrong_data"] += 1
        report["extra"] += len({k for k in records if k[1] not in expected_version})
        seen = set()
        for payload in store.payloads():
            key = (payload["id"], payload["version"])
            report["duplicates"] += key in seen
            seen.add(key)
    report["ok"] = not any(report[k] for k in ("missing", "stale", "wrong_data", "extra", "order_violations",
                                                "duplicates", "not_sent"))
    return report


def chaos(args) -> int:
    var_dir = Path(args.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    postgres = args.database_url.startswith("postgres")
    if postgres:
        create_postgres_database(args.database_url)
    env = configure(args.database_url, var_dir, {
        "YICI_DELIVERY_LEASE": "3", "YICI_DELIVERY_BACKOFF_BASE": "0.05", "YICI_DELIVERY_BACKOFF_CAP": "0.5",
        "YICI_BREAKER_THRESHOLD": "8", "YICI_BREAKER_COOLDOWN": "1",
    })
    from django.core.management import call_command

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    migrated = time.monotonic() - started
    sims = Simulators(var_dir, fail_rate=args.fail_rate, timeout_rate=args.timeout_rate, latency_ms=args.latency_ms,
                      hang=1.5)
    workers = []
    try:
        setup_systems(sims, timeout=0.5)
        ids = seed_persons(args.persons)
        workers = [start_worker(env) for _ in range(args.workers)]
        killed = {"done": False}

        def killer():
            from yici.exchange.models import Delivery, DeliveryStatus

            # Kill a worker in the middle of its work (SIGKILL: no clean-up), then start a new one.
            while not killed["done"]:
                if Delivery.objects.filter(status=DeliveryStatus.SENT).count() >= args.changes // 3:
                    workers[0].send_signal(signal.SIGKILL)
                    workers[0].wait()
                    workers[0] = start_worker(env)
                    killed["done"] = True
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=killer, daemon=True)
        watcher.start()
        make_changes(ids, args.changes)
        changed_at = time.monotonic()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and (pending() or not killed["done"]):
            time.sleep(0.2)
        drained = time.monotonic() - changed_at
        report = check(sims)
        report.update(changes=args.changes, persons=args.persons, workers=args.workers, worker_killed=killed["done"],
                      drain_seconds=round(drained, 1), migrate_seconds=round(migrated, 1), total_seconds=round(time.monotonic() - started, 1),
                      database="postgresql" if postgres else "sqlite",
                      received={code: s.store.count() for code, s in sims.servers.items()},
                      requests={code: s.requests for code, s in sims.servers.items()})
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
        sims.close()
        from django.db import connections

        connections.close_all()
        if postgres:
            drop_postgres_database(args.database_url)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["ok"] else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="share_once_rig")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("chaos", help="the chaos test")
    run.add_argument("--database-url", required=True)
    run.add_argument("--var-dir", required=True)
    run.add_argument("--changes", type=int, default=2000)
    run.add_argument("--persons", type=int, default=400)
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--fail-rate", type=float, default=0.2)
    run.add_argument("--timeout-rate", type=float, default=0.05)
    run.add_argument("--latency-ms", type=int, default=20)
    run.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the queue to drain")
    args = parser.parse_args(argv)
    return chaos(args)


if __name__ == "__main__":
    sys.exit(main())
