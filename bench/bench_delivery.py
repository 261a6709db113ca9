"""Benchmark share once: deliveries per second with 1, 2 and 4 workers, and change→delivered latency.

    .venv/bin/python bench/bench_delivery.py --database-url postgres://postgres@127.0.0.1:5432/yici_bench
    .venv/bin/python bench/bench_delivery.py --database-url sqlite:////tmp/yici-bench/db.sqlite3

Uses a scratch database (a PostgreSQL database is created and dropped; a SQLite file is created),
three local simulated line systems (``yici.exchange.simulator``, served in this process's threads,
no failures) that take arrays (batch size ``--batch``), and real worker processes (``yici deliver``).

Throughput: ``--changes`` golden changes are written first (each with its outbox event, three
subscribers each), then N workers start; the figure is deliveries sent per second from the workers'
start until the queue is empty. Latency: a steady ``--rate`` changes per second for ``--seconds``
with 2 workers; for every change and subscriber, the time from the change's commit to the moment
the delivery carrying it was accepted; p50/p95/max printed. Goals: ≥ 2,000 deliveries/s and
p95 ≤ 1 s on PostgreSQL.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from yici.testing import share_once_rig as rig  # noqa: E402


class ProcessSimulators:
    """The same simulated systems, each in a process of its own (``yici simulate-line-system``), so the
    receiving side is not limited to this process's interpreter lock."""

    def __init__(self, var_dir: Path):
        import os
        import subprocess

        self.procs, self.urls = {}, {}
        for code, _fields, _area, _batch in rig.SIMULATED:
            proc = subprocess.Popen(
                [sys.executable, "-m", "yici", "simulate-line-system", "--name", code, "--port", "0",
                 "--secret", f"secret-{code}", "--store", str(var_dir / f"proc-{code}.sqlite3")],
                stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
            )
            line = proc.stdout.readline()
            self.procs[code], self.urls[code] = proc, line.split()[3] + "changes"
        self.servers = {}

    def url(self, code: str) -> str:
        return self.urls[code]

    def clear(self) -> None:
        pass

    def close(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
            proc.wait(timeout=10)


def reset_queue() -> None:
    from yici.exchange.models import Delivery, DeliveryAttempt, OutboxEvent
    from yici.registry.models import Person

    DeliveryAttempt.objects.all().delete()
    Delivery.objects.all().delete()
    OutboxEvent.objects.all().delete()
    Person.objects.update(version=1)


def wait_drained(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not rig.pending():
            return True
        time.sleep(0.05)
    return False


def throughput(env, ids, sims, *, workers: int, changes: int, limit: int) -> dict:
    from yici.exchange.models import Delivery, DeliveryStatus

    reset_queue()
    for server in sims.servers.values():
        with server.store.lock:
            server.store.db.execute("DELETE FROM received")
            server.store.db.execute("DELETE FROM records")
            server.store.db.commit()
    rig.make_changes(ids, changes, seed=workers)
    procs = [rig.start_worker(env, limit=limit) for _ in range(workers)]
    started = time.monotonic()
    drained = wait_drained(600)
    elapsed = time.monotonic() - started
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)
    sent = Delivery.objects.filter(status=DeliveryStatus.SENT).count()
    return {"workers": workers, "deliveries": sent, "seconds": round(elapsed, 2),
            "per_second": round(sent / elapsed), "drained": drained}


def latency(env, ids, *, rate: float, seconds: float, workers: int, limit: int) -> dict:
    from yici.exchange.models import Delivery, DeliveryStatus, OutboxEvent

    reset_queue()
    procs = [rig.start_worker(env, limit=limit) for _ in range(workers)]
    time.sleep(2)  # let the workers start
    rig.make_changes(ids, int(rate * seconds), seed=99, rate=rate)
    wait_drained(120)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=10)
    sent: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for system_id, golden_id, version, sent_at in Delivery.objects.filter(status=DeliveryStatus.SENT).values_list(
            "system_id", "golden_id", "version", "sent_at"):
        sent.setdefault((system_id, golden_id), []).append((version, sent_at.timestamp()))
    for rows in sent.values():
        rows.sort()
    from yici.exchange.models import LineSystem

    waits = []
    events = OutboxEvent.objects.values_list("golden_id", "version", "created_at", "changed")
    fields = {code: set(subscribed) for code, subscribed, _area, _batch in rig.SIMULATED}
    systems = {pk: fields[code] for pk, code in LineSystem.objects.values_list("pk", "code")}
    for golden_id, version, created, changed in events:
        # Only the systems that subscribe to what this change changed are waiting for it.
        for system_id in (pk for pk, subscribed in systems.items() if subscribed & set(changed)):
            rows = sent.get((system_id, golden_id))
            if not rows:
                continue
            # The first accepted delivery that carried this version or a later one.
            arrived = min((at for v, at in rows if v >= version), default=None)
            if arrived is not None:
                waits.append(arrived - created.timestamp())
    waits.sort()
    p = lambda q: waits[min(len(waits) - 1, int(q * len(waits)))]  # noqa: E731
    return {"rate": rate, "seconds": seconds, "workers": workers, "samples": len(waits),
            "p50": round(p(0.50), 3), "p95": round(p(0.95), 3), "max": round(waits[-1], 3),
            "mean": round(statistics.fmean(waits), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--changes", type=int, default=10000)
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--batch", type=int, default=100, help="deliveries per request (the systems take arrays)")
    parser.add_argument("--limit", type=int, default=500, help="deliveries a worker claims per round")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--simulators", choices=["threads", "processes"], default="processes",
                        help="serve the simulated systems in this process's threads or in processes of their own")
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="yici-bench-delivery-"))
    postgres = args.database_url.startswith("postgres")
    if postgres:
        rig.create_postgres_database(args.database_url)
    else:
        Path(args.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    env = rig.configure(args.database_url, var_dir, {"YICI_DELIVERY_LEASE": "30"})
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.simulators == "processes":
        sims = ProcessSimulators(var_dir)
    else:
        sims = rig.Simulators(var_dir, fail_rate=0.0, timeout_rate=0.0, latency_ms=0, hang=0)
    try:
        rig.setup_systems(sims, timeout=10, batch=args.batch)
        from yici.exchange.models import Subscription

        Subscription.objects.update(area_prefix="")  # every system subscribes to every change
        ids = rig.seed_persons(args.persons)
        print(f"database: {'postgresql' if postgres else 'sqlite'}; 3 simulated systems ({args.simulators}); "
              f"batch {args.batch}; claim limit {args.limit}")
        for workers in [int(w) for w in args.workers.split(",")]:
            result = throughput(env, ids, sims, workers=workers, changes=args.changes, limit=args.limit)
            print(f"throughput: {result['workers']} worker(s): {result['deliveries']} deliveries in "
                  f"{result['seconds']} s = {result['per_second']}/s" + ("" if result["drained"] else " (NOT drained)"))
        result = latency(env, ids, rate=args.rate, seconds=args.seconds, workers=2, limit=args.limit)
        print(f"latency at {result['rate']:.0f} changes/s for {result['seconds']:.0f} s, {result['workers']} workers: "
              f"p50 {result['p50']} s, p95 {result['p95']} s, max {result['max']} s "
              f"({result['samples']} change×system samples)")
    finally:
        sims.close()
        from django.db import connections

        connections.close_all()
        if postgres:
            rig.drop_postgres_database(args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
